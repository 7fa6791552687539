package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/sandbox"
)

// checkHealthy runs the probe's version mode: the runtime still works.
func checkHealthy(t *testing.T, g *sandbox.Guest) {
	t.Helper()
	_, out, _, err := run(t, g, sandbox.NewRunConfig().WithInput(probeInput(t, map[string]any{"mode": "version"})))
	if err != nil || out != "host ABI 1.0\n" {
		t.Fatalf("the next run: %v, output %q", err, out)
	}
}

func TestDeadline(t *testing.T) {
	g := probeGuest(t)
	in := probeInput(t, map[string]any{"mode": "spin"})
	const d = 200 * time.Millisecond
	start := time.Now()
	_, out, _, err := run(t, g, sandbox.NewRunConfig().WithInput(in).WithDeadline(d))
	took := time.Since(start)
	if !errors.Is(err, sandbox.ErrDeadline) {
		t.Fatalf("spinning guest: %v, want ErrDeadline", err)
	}
	if out != "spinning\n" {
		t.Errorf("output %q", out)
	}
	if took > d+2*time.Second {
		t.Errorf("the spinning guest stopped after %v, deadline %v", took, d)
	}
	t.Logf("stopped after %v (deadline %v): %v", took, d, err)

	// Canceling the context stops it too.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = g.Run(ctx, sandbox.NewRunConfig().WithInput(in))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled run: %v, want context.Canceled", err)
	}
	checkHealthy(t, g)
}

func TestMemoryLimit(t *testing.T) {
	g := probeGuest(t)
	// Under the limit: fine.
	in := probeInput(t, map[string]any{"mode": "alloc", "mib": 8})
	res, out, _, err := run(t, g, sandbox.NewRunConfig().WithInput(in).WithMemoryLimit(32<<20))
	if err != nil || out != "allocated 8 MiB\n" {
		t.Fatalf("8 MiB under a 32 MiB limit: %v, output %q", err, out)
	}
	if res.MemoryBytes == 0 || res.MemoryBytes > 32<<20 {
		t.Errorf("Result.MemoryBytes = %d", res.MemoryBytes)
	}
	// Past the limit: ErrMemoryLimit, and the host is fine.
	in = probeInput(t, map[string]any{"mode": "alloc", "mib": 64})
	_, out, log, err := run(t, g, sandbox.NewRunConfig().WithInput(in).WithMemoryLimit(32<<20))
	if !errors.Is(err, sandbox.ErrMemoryLimit) {
		t.Fatalf("64 MiB under a 32 MiB limit: %v, want ErrMemoryLimit; output %q", err, out)
	}
	if out != "" {
		t.Errorf("output %q", out)
	}
	if !strings.Contains(log, "out of memory") {
		t.Errorf("log %q lacks the Go runtime's out of memory message", log)
	}
	t.Logf("%v", err)
	checkHealthy(t, g)
	// A limit below the module's initial memory: not started.
	_, _, _, err = run(t, g, sandbox.NewRunConfig().WithInput(in).WithMemoryLimit(1<<20))
	if !errors.Is(err, sandbox.ErrMemoryLimit) {
		t.Errorf("1 MiB limit: %v, want ErrMemoryLimit", err)
	}
	// The same guest under a larger limit allocates what it could not.
	_, out, _, err = run(t, g, sandbox.NewRunConfig().WithInput(in).WithMemoryLimit(128<<20))
	if err != nil || out != "allocated 64 MiB\n" {
		t.Fatalf("64 MiB under a 128 MiB limit: %v, output %q", err, out)
	}
}

func TestGuestFailed(t *testing.T) {
	g := probeGuest(t)
	res, _, log, err := run(t, g, sandbox.NewRunConfig().WithInput(probeInput(t, map[string]any{"mode": "panic"})))
	if !errors.Is(err, sandbox.ErrGuestFailed) || res.ExitCode != 2 {
		t.Errorf("panicking guest: %v, exit %d; want ErrGuestFailed, 2", err, res.ExitCode)
	}
	if !strings.Contains(log, "probe panics on purpose") {
		t.Errorf("log %q lacks the panic", log)
	}
	res, _, _, err = run(t, g, sandbox.NewRunConfig().WithInput(probeInput(t, map[string]any{"mode": "exit"})))
	if !errors.Is(err, sandbox.ErrGuestFailed) || res.ExitCode != 3 {
		t.Errorf("os.Exit(3): %v, exit %d; want ErrGuestFailed, 3", err, res.ExitCode)
	}
	checkHealthy(t, g)
}

func TestOutputAndLogCaps(t *testing.T) {
	g := probeGuest(t)
	in := probeInput(t, map[string]any{"mode": "print", "bytes": 5000})
	res, out, _, err := run(t, g, sandbox.NewRunConfig().WithInput(in).WithMaxOutput(1000))
	if !errors.Is(err, sandbox.ErrOutputLimit) {
		t.Errorf("5000 bytes under a 1000-byte cap: %v, want ErrOutputLimit", err)
	}
	if len(out) != 1000 || res.OutputBytes != 1000 {
		t.Errorf("output %d bytes, Result.OutputBytes %d; want 1000", len(out), res.OutputBytes)
	}
	_, out, _, err = run(t, g, sandbox.NewRunConfig().WithInput(in).WithMaxOutput(5000))
	if err != nil || len(out) != 5000 {
		t.Errorf("5000 bytes under a 5000-byte cap: %v, %d bytes", err, len(out))
	}

	in = probeInput(t, map[string]any{"mode": "log", "count": 100})
	res, _, log, err := run(t, g, sandbox.NewRunConfig().WithInput(in).WithMaxLog(100))
	if err != nil {
		t.Fatal(err)
	}
	// "log line N" is 10 or 11 bytes: whole messages up to the cap.
	if want := "log line 0log line 1log line 2log line 3log line 4log line 5log line 6log line 7log line 8log line 9"; log != want {
		t.Errorf("log %q, want %q", log, want)
	}
	if res.LogBytes != 100 {
		t.Errorf("Result.LogBytes = %d", res.LogBytes)
	}
	in = probeInput(t, map[string]any{"mode": "log", "count": 1})
	_, _, log, err = run(t, g, sandbox.NewRunConfig().WithInput(in))
	if err != nil || log != "log line 0to stderr\n" {
		t.Errorf("log and stderr: %v, %q", err, log)
	}
}

func TestSleepIsVirtual(t *testing.T) {
	g := probeGuest(t)
	start := time.Now()
	_, out, _, err := run(t, g, sandbox.NewRunConfig().WithInput(probeInput(t, map[string]any{"mode": "sleep"})))
	if err != nil {
		t.Fatal(err)
	}
	if want := "slept 1h0m0s, wall advanced 1h0m0s\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("an hour of guest sleep took %v", took)
	}
}

// TestCooperativeDeadline: with cooperative deadlines a guest that reads
// the clock (or calls any host function) stops at its deadline too.
func TestCooperativeDeadline(t *testing.T) {
	rt := newRuntime(t, sandbox.NewRuntimeConfig().WithCooperativeDeadlines())
	ctx := context.Background()
	g, err := rt.Compile(ctx, buildGuest(t, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	const d = 200 * time.Millisecond
	start := time.Now()
	_, out, _, err := run(t, g, sandbox.NewRunConfig().WithInput(probeInput(t, map[string]any{"mode": "spin-clock"})).WithDeadline(d))
	took := time.Since(start)
	if !errors.Is(err, sandbox.ErrDeadline) || out != "spinning\n" {
		t.Fatalf("guest reading the clock: %v, output %q; want ErrDeadline", err, out)
	}
	if took > d+2*time.Second {
		t.Errorf("stopped after %v, deadline %v", took, d)
	}
	c, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := g.Run(c, sandbox.NewRunConfig().WithInput(probeInput(t, map[string]any{"mode": "spin-clock"}))); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	checkHealthy(t, g)
	// A new interruptible runtime compiling the same bytes after the
	// cooperative one stops a guest that never calls the host: the two
	// kinds of compiled code do not share a cache entry.
	g2, err := newRuntime(t, sandbox.NewRuntimeConfig()).Compile(ctx, buildGuest(t, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = run(t, g2, sandbox.NewRunConfig().WithInput(probeInput(t, map[string]any{"mode": "spin"})).WithDeadline(d))
	if !errors.Is(err, sandbox.ErrDeadline) {
		t.Errorf("interruptible runtime after a cooperative one: %v", err)
	}
}
