package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// A command is one subcommand, defined in its own file (cmd_<name>.go) and
// registered from that file's init function.
type command struct {
	// name is the command as typed: "sessions", or "keys rotate" for a
	// subcommand of a group.
	name string
	// args is the synopsis of the arguments after the flags, such as
	// "SESSION" or "[FILE...]".
	args string
	// summary is one line for the command list.
	summary string
	// help is the long description, ending with an example.
	help string
	// flags registers the command's own flags; nil if it has none.
	flags func(fs *pflag.FlagSet)
	// run runs the command with the arguments left after the flags.
	run func(ctx context.Context, a *app, args []string) error
}

// commands holds every registered command, by name.
var commands = map[string]*command{}

// groups holds the summary of each command group ("keys", "retention").
var groups = map[string]string{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("runner: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func registerGroup(name, summary string) { groups[name] = summary }

// main parses args and runs the command they name, printing its error, and
// returns the exit status.
func (a *app) main(ctx context.Context, args []string) int {
	err := a.dispatch(ctx, args)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	var ee *exitErr
	if !errors.As(err, &ee) || ee.err != nil {
		if code == exitInterrupted {
			fmt.Fprintln(a.stderr, "runner: interrupted; the store is consistent")
		} else {
			fmt.Fprintf(a.stderr, "runner: %v\n", err)
		}
	}
	if code == exitUsage {
		fmt.Fprintln(a.stderr, `Run "runner help" for usage.`)
	}
	return code
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	// Global flags before the command name.
	gfs := pflag.NewFlagSet("runner", pflag.ContinueOnError)
	gfs.SetInterspersed(false)
	gfs.SetOutput(io.Discard)
	a.globalFlags(gfs)
	var help bool
	gfs.BoolVarP(&help, "help", "h", false, "show help")
	if err := gfs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	rest := gfs.Args()
	if help || len(rest) == 0 {
		a.printCommands(a.stdout)
		if len(rest) == 0 && !help {
			return usagef("no command given")
		}
		return nil
	}
	if rest[0] == "help" {
		return a.help(rest[1:])
	}
	c, cargs, err := lookup(rest)
	if err != nil {
		return err
	}
	fs := pflag.NewFlagSet("runner "+c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	fs.AddFlagSet(gfs)
	if err := fs.Parse(cargs); err != nil {
		return usagef("%s: %v", c.name, err)
	}
	if help {
		a.printHelp(a.stdout, c, fs)
		return nil
	}
	if err := a.finishGlobals(); err != nil {
		return err
	}
	return c.run(ctx, a, fs.Args())
}

// lookup finds the command args name: one word, or a group and a word.
func lookup(args []string) (*command, []string, error) {
	if c, ok := commands[args[0]]; ok {
		return c, args[1:], nil
	}
	if _, ok := groups[args[0]]; ok {
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			return nil, nil, usagef("%s: missing subcommand (one of: %s)", args[0], strings.Join(subcommands(args[0]), ", "))
		}
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c, args[2:], nil
		}
		return nil, nil, usagef("%s: unknown subcommand %q (one of: %s)", args[0], args[1], strings.Join(subcommands(args[0]), ", "))
	}
	return nil, nil, usagef("unknown command %q", args[0])
}

func subcommands(group string) []string {
	var out []string
	for name := range commands {
		if g, sub, ok := strings.Cut(name, " "); ok && g == group {
			out = append(out, sub)
		}
	}
	slices.Sort(out)
	return out
}

// help prints the help of the command args name, or the command list.
func (a *app) help(args []string) error {
	if len(args) == 0 {
		a.printCommands(a.stdout)
		return nil
	}
	if _, ok := groups[args[0]]; ok && len(args) == 1 {
		a.printGroup(a.stdout, args[0])
		return nil
	}
	c, rest, err := lookup(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("help: unexpected %q", rest[0])
	}
	fs := pflag.NewFlagSet("runner "+c.name, pflag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	a.printHelp(a.stdout, c, fs)
	return nil
}

func (a *app) printCommands(w io.Writer) {
	fmt.Fprint(w, `runner: inspect and manage a gofastr session store.

Usage:
  runner [global flags] <command> [flags] [arguments]

Commands:
`)
	var names []string
	for name := range commands {
		if !strings.Contains(name, " ") {
			names = append(names, name)
		}
	}
	for name := range groups {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		summary := groups[name]
		if c, ok := commands[name]; ok {
			summary = c.summary
		}
		fmt.Fprintf(w, "  %-12s %s\n", name, summary)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n%s", globalUsage())
	fmt.Fprint(w, `
Exit status: 0 ok, 1 error, 2 usage, 3 authentication failure or tampering
(wrong key, data that fails authentication, or a plaintext database in place
of an encrypted store's), 130 interrupted.

Run "runner help <command>" for a command's flags and an example.
`)
}

func (a *app) printGroup(w io.Writer, group string) {
	fmt.Fprintf(w, "runner %s: %s\n\nSubcommands:\n", group, groups[group])
	for _, sub := range subcommands(group) {
		fmt.Fprintf(w, "  %-10s %s\n", sub, commands[group+" "+sub].summary)
	}
	fmt.Fprintf(w, "\nRun \"runner help %s <subcommand>\" for its flags and an example.\n", group)
}

func (a *app) printHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: runner %s [flags]", c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, "\n\n%s\n", strings.TrimSpace(c.help))
	if u := flagUsages(fs); u != "" {
		fmt.Fprintf(w, "\nFlags:\n%s", u)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n%s", globalUsage())
}

// globalUsage returns the usage lines of the global flags.
func globalUsage() string {
	fs := pflag.NewFlagSet("runner", pflag.ContinueOnError)
	(&app{}).globalFlags(fs)
	return flagUsages(fs)
}

// flagUsages formats the flags of fs that are not global flags, one per
// line: "  -n, --limit N   usage (default 10)".
func flagUsages(fs *pflag.FlagSet) string {
	type line struct{ left, usage string }
	var lines []line
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || (fs.Name() != "runner" && isGlobal(f.Name)) {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" && f.Value.Type() != "bool" && f.Value.Type() != "count" {
			left += " " + varname
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		width = max(width, len(left))
		lines = append(lines, line{left, usage})
	})
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%-*s   %s\n", width, l.left, l.usage)
	}
	return b.String()
}

// isGlobal reports whether name is a global flag (or --help).
func isGlobal(name string) bool {
	if name == "help" {
		return true
	}
	fs := pflag.NewFlagSet("runner", pflag.ContinueOnError)
	(&app{}).globalFlags(fs)
	return fs.Lookup(name) != nil
}
