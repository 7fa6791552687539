package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

var updateDoc = flag.Bool("update", false, "rewrite docs/CLI.md from the commands' help texts")

const cliDoc = "../../docs/CLI.md"

// TestCLIDoc checks that docs/CLI.md is the help of every command, as
// "runner help" prints it; go test ./cmd/runner -run TestCLIDoc -update
// rewrites it.
func TestCLIDoc(t *testing.T) {
	// Defaults that name the home directory read the same on every machine.
	t.Setenv("HOME", "/home/user")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	got := renderCLIDoc()
	if *updateDoc {
		if err := os.WriteFile(cliDoc, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(cliDoc)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/runner -run TestCLIDoc -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/CLI.md differs from the commands' help texts: run go test ./cmd/runner -run TestCLIDoc -update")
	}
}

func renderCLIDoc() []byte {
	var b bytes.Buffer
	a := newApp(nil, &b, &b, func(string) string { return "" })
	b.WriteString("# runner: the command-line tool\n\n")
	b.WriteString("This page is generated from the commands' help texts " +
		"(`go test ./cmd/runner -run TestCLIDoc -update`); `runner help <command>` prints the same.\n\n")
	b.WriteString("```\n")
	var cmds bytes.Buffer
	a.stdout = &cmds
	a.printCommands(&cmds)
	b.WriteString(stableDefaults(cmds.String()))
	b.WriteString("```\n")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := commands[name]
		fs := pflag.NewFlagSet("runner "+c.name, pflag.ContinueOnError)
		if c.flags != nil {
			c.flags(fs)
		}
		var h bytes.Buffer
		a.printHelp(&h, c, fs)
		// The global flags are listed once, above.
		text, _, _ := strings.Cut(h.String(), "\nGlobal flags:\n")
		fmt.Fprintf(&b, "\n## runner %s\n\n%s\n\n```\n%s```\n", c.name, c.summary, stableDefaults(text))
	}
	return b.Bytes()
}

// stableDefaults writes the home directory in defaults as ~.
func stableDefaults(s string) string { return strings.ReplaceAll(s, "/home/user", "~") }
