package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/sandbox"
)

// maxGuestFile bounds the size of a guest module read from disk.
const maxGuestFile = 256 << 20

// guestFlags are the sandbox settings run and replay share.
type guestFlags struct {
	timeout string
	memory  int
	input   string
}

func (g *guestFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.timeout, "timeout", "1m", "stop the guest after `D` (90s, 5m, …)")
	fs.IntVar(&g.memory, "memory", int(sandbox.DefaultMaxMemory>>20), "the guest's memory limit in `MB` (MiB)")
	fs.StringVar(&g.input, "input", "", "pass the contents of `FILE` to the guest as its input (guest.Input)")
}

// runConfig checks the flags and returns the run's configuration: the
// store as source, deadline, memory limit and input; the caller grants
// sessions, writes and replay.
func (g *guestFlags) runConfig(cmd string, s *host.Store) (sandbox.RunConfig, error) {
	cfg := sandbox.NewRunConfig().WithSource(s)
	d, err := parseDuration("--timeout", g.timeout)
	if err != nil {
		return cfg, err
	}
	if d <= 0 {
		return cfg, usagef("%s: --timeout %s: must be positive", cmd, g.timeout)
	}
	if g.memory <= 0 || uint64(g.memory) > sandbox.DefaultMaxMemory>>20 {
		return cfg, usagef("%s: --memory %d: must be between 1 and %d (MiB)", cmd, g.memory, sandbox.DefaultMaxMemory>>20)
	}
	cfg = cfg.WithDeadline(d).WithMemoryLimit(uint64(g.memory) << 20)
	if g.input != "" {
		in, err := readLimited(g.input, maxGuestFile)
		if err != nil {
			return cfg, fmt.Errorf("--input: %w", err)
		}
		cfg = cfg.WithInput(in)
	}
	return cfg, nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// compileGuest reads and compiles the guest module at path in a new
// runtime; the caller closes the runtime, which releases the guest.
func compileGuest(ctx context.Context, path string) (*sandbox.Runtime, *sandbox.Guest, error) {
	wasm, err := readLimited(path, maxGuestFile)
	if err != nil {
		return nil, nil, err
	}
	rt, err := sandbox.NewRuntime(ctx, sandbox.NewRuntimeConfig())
	if err != nil {
		return nil, nil, err
	}
	g, err := rt.Compile(ctx, wasm)
	if err != nil {
		rt.Close(ctx)
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return rt, g, nil
}

// checkSessions returns an error naming the first of ids the store has no
// event of.
func checkSessions(ctx context.Context, s *host.Store, ids []abi.SessionID) error {
	for _, id := range ids {
		evs, err := s.EventsSince(ctx, id, 0, 1)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("%w %q (\"runner sessions\" lists them)", errSessionNotFound, id)
		}
	}
	return nil
}

// guestResult is what run and replay print with --json.
type guestResult struct {
	Guest       string         `json:"guest"`
	ExitCode    uint32         `json:"exit_code"`
	Emitted     int            `json:"emitted,omitempty"`
	Appended    int            `json:"appended,omitempty"`
	OutputBytes int64          `json:"output_bytes"`
	LogBytes    int64          `json:"log_bytes"`
	MemoryBytes uint64         `json:"memory_bytes"`
	Elapsed     string         `json:"elapsed"`
	Divergence  *divergenceOut `json:"divergence,omitempty"`
	Error       string         `json:"error,omitempty"`
}

// divergenceOut is a sandbox.Divergence for printing.
type divergenceOut struct {
	Turn     int    `json:"turn"`
	Index    int    `json:"index"`
	Reason   string `json:"reason"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
}

func newDivergenceOut(d *sandbox.Divergence) *divergenceOut {
	if d == nil {
		return nil
	}
	return &divergenceOut{Turn: d.Turn, Index: d.Index, Reason: d.Reason, Expected: eventLine(d.Expected), Got: eventLine(d.Got)}
}

// eventLine formats an event of a divergence: kind, turn and payload (the
// fields replay compares).
func eventLine(e *abi.EventEnvelope) string {
	if e == nil {
		return "nothing"
	}
	p := string(e.Payload)
	if e.Payload == nil {
		p = "(no payload)"
	}
	return fmt.Sprintf("%s, turn %d: %s", e.Kind, e.Turn, preview(p, 200))
}

func init() {
	var (
		gf       guestFlags
		sessions []string
		write    bool
	)
	register(&command{
		name:    "run",
		args:    "GUEST.wasm",
		summary: "run a guest Wasm module against the store in the sandbox",
		help: `
Runs a guest (a WebAssembly module built with GOOS=wasip1 GOARCH=wasm
against package guest) in the sandbox, reading the store. The guest sees
only the sessions granted with --session (all of them without it), no
files, network, environment, real clock or keys. Its standard output is
copied to runner's standard output; its log (guest.Logf, standard error) to
runner's standard error, unless -q. With --write, the events it appends
are written to the store; without it, appends are refused.

When the guest ends, runner prints a one-line summary on standard error
(exit code, events appended, memory), or the run's result as JSON on
standard output with --json (the guest's own output then goes to standard
error, so that standard output holds only the JSON).

Exit status: 0 when the guest exits with status 0; 1 when it exits with
another status, is stopped by --timeout or --memory, or is not a guest
module (the message says which); 2 for bad flags.

Example:
  GOOS=wasip1 GOARCH=wasm go build -o replay.wasm ./guest/examples/replay
  runner run replay.wasm --session sess-refactor-retry
  runner run costaudit.wasm --input pricing/data/genai-prices.json --timeout 30s`,
		flags: func(fs *pflag.FlagSet) {
			gf.register(fs)
			fs.StringArrayVarP(&sessions, "session", "s", nil, "grant the guest session `S` (repeat for more; default: every session)")
			fs.BoolVar(&write, "write", false, "let the guest append events to the granted sessions of the store")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usagef("run: want one GUEST.wasm argument, got %d", len(args))
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			cfg, err := gf.runConfig("run", s)
			if err != nil {
				return err
			}
			ids := make([]abi.SessionID, len(sessions))
			for i, id := range sessions {
				ids[i] = abi.SessionID(id)
			}
			if err := checkSessions(ctx, s, ids); err != nil {
				return err
			}
			if len(ids) == 0 {
				cfg = cfg.WithAllSessions()
			} else {
				cfg = cfg.WithSessions(ids...)
			}
			if write {
				cfg = cfg.WithWrite(s)
			}
			return a.runGuest(ctx, args[0], cfg, false)
		},
	})
}

// runGuest compiles and runs the guest at path with cfg, printing its
// output and a summary; a replay's divergence is printed and returned as
// an exit status 1.
func (a *app) runGuest(ctx context.Context, path string, cfg sandbox.RunConfig, replay bool) error {
	rt, g, err := compileGuest(ctx, path)
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	out := a.stdout
	if a.json {
		out = a.stderr
	}
	var logw io.Writer = io.Discard
	if !a.quiet {
		logw = a.stderr
	}
	start := time.Now()
	res, runErr := g.Run(ctx, cfg.WithOutput(out).WithLog(logw))
	r := guestResult{
		Guest: path, ExitCode: res.ExitCode, Emitted: res.Emitted, Appended: res.Appended,
		OutputBytes: res.OutputBytes, LogBytes: res.LogBytes, MemoryBytes: res.MemoryBytes,
		Elapsed: time.Since(start).Round(time.Millisecond).String(), Divergence: newDivergenceOut(res.Divergence),
	}
	var div *sandbox.Divergence
	if errors.As(runErr, &div) {
		runErr = nil // reported below
		if r.Divergence == nil {
			r.Divergence = newDivergenceOut(div)
		}
	}
	if errors.Is(runErr, sandbox.ErrGuestFailed) && res.ExitCode != 0 {
		runErr = nil // reported below as the guest's exit status
	}
	if runErr != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if runErr != nil {
		r.Error = runErr.Error()
	}
	if a.json {
		if err := a.printJSON(r); err != nil {
			return err
		}
	} else {
		a.printGuestResult(r, replay)
	}
	switch {
	case runErr != nil:
		if a.json {
			return &exitErr{code: exitError}
		}
		return fmt.Errorf("%s: %w", path, runErr)
	case r.Divergence != nil:
		return &exitErr{code: exitError}
	case res.ExitCode != 0:
		if a.json {
			return &exitErr{code: exitError}
		}
		return fmt.Errorf("%s: the guest exited with status %d", path, res.ExitCode)
	}
	return nil
}

// printGuestResult prints a run's summary on stderr, and a divergence on
// stdout.
func (a *app) printGuestResult(r guestResult, replay bool) {
	if d := r.Divergence; d != nil {
		fmt.Fprintf(a.stdout, "divergence at turn %d, event %d (after %d matching): %s\n  expected: %s\n  got:      %s\n",
			d.Turn, d.Index, r.Emitted, d.Reason, d.Expected, d.Got)
		return
	}
	if r.Error != "" {
		return // the error says what happened
	}
	if replay && r.ExitCode == 0 {
		fmt.Fprintf(a.stdout, "no divergence: %d events emitted, all matching the recording\n", r.Emitted)
	}
	a.infof("guest exited with status %d in %s: %d events appended, %d bytes output, memory %d MiB",
		r.ExitCode, r.Elapsed, r.Appended, r.OutputBytes, r.MemoryBytes>>20)
}
