package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/sandbox"
)

// hookWriter calls hook (once, on the first write, on the writing
// goroutine) and keeps what is written.
type hookWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
	hook func()
}

func (w *hookWriter) Write(p []byte) (int, error) {
	w.once.Do(w.hook)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *hookWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// closeRuntimes are the runtime configurations the close tests run
// under: the default one and the cooperative one, whose guests are
// stopped only at host calls.
var closeRuntimes = []struct {
	name string
	cfg  sandbox.RuntimeConfig
}{
	{"default", sandbox.NewRuntimeConfig()},
	{"cooperative", sandbox.NewRuntimeConfig().WithCooperativeDeadlines()},
}

// compileProbe compiles the probe guest on a runtime of its own.
func compileProbe(t *testing.T, cfg sandbox.RuntimeConfig) (*sandbox.Runtime, *sandbox.Guest) {
	t.Helper()
	wasm := buildGuest(t, "probe")
	rt := newRuntime(t, cfg)
	g, err := rt.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return rt, g
}

// runResult is what a run returned.
type runResult struct {
	res  sandbox.Result
	err  error
	took time.Duration
}

// startRun runs g with cfg on a goroutine of its own.
func startRun(g *sandbox.Guest, cfg sandbox.RunConfig) <-chan runResult {
	ch := make(chan runResult, 1)
	go func() {
		t0 := time.Now()
		res, err := g.Run(context.Background(), cfg)
		ch <- runResult{res, err, time.Since(t0)}
	}()
	return ch
}

// await returns the run's result, failing the test when it takes longer
// than d.
func await(t *testing.T, ch <-chan runResult, d time.Duration) runResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		t.Fatalf("run still in flight after %v; goroutines:\n%s", d, buf[:runtime.Stack(buf, true)])
	}
	return runResult{}
}

// checkNoLeak fails the test when the goroutines do not come back to at
// most base within a few seconds.
func checkNoLeak(t *testing.T, base int) {
	t.Helper()
	var n int
	for range 100 {
		if n = runtime.NumGoroutine(); n <= base {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Errorf("%d goroutines left, %d before the runs:\n%s", n, base, buf[:runtime.Stack(buf, true)])
}

// TestRuntimeCloseMidRun: Runtime.Close while a guest prints stops the
// run, which returns ErrClosed, never nil with part of the output.
func TestRuntimeCloseMidRun(t *testing.T) {
	for _, tc := range closeRuntimes {
		t.Run(tc.name, func(t *testing.T) {
			rt, g := compileProbe(t, tc.cfg)
			closed := make(chan error, 1)
			out := &hookWriter{hook: func() {
				go func() {
					time.Sleep(20 * time.Millisecond)
					closed <- rt.Close(context.Background())
				}()
			}}
			in := probeInput(t, map[string]any{"mode": "print-loop", "count": 1 << 30})
			r := await(t, startRun(g, sandbox.NewRunConfig().WithInput(in).WithOutput(out).WithDeadline(time.Minute)), 30*time.Second)
			if err := <-closed; err != nil {
				t.Errorf("Runtime.Close: %v", err)
			}
			if !errors.Is(r.err, sandbox.ErrClosed) {
				t.Fatalf("Run after Runtime.Close mid-run: %v (output %d bytes), want ErrClosed", r.err, r.res.OutputBytes)
			}
			if bytes.Contains([]byte(out.String()), []byte("DONE")) || r.res.OutputBytes == 0 {
				t.Errorf("stopped run wrote %d bytes, DONE=%v", r.res.OutputBytes, bytes.Contains([]byte(out.String()), []byte("DONE")))
			}
			if _, err := g.Run(context.Background(), sandbox.NewRunConfig()); !errors.Is(err, sandbox.ErrClosed) {
				t.Errorf("Run after Runtime.Close: %v, want ErrClosed", err)
			}
		})
	}
}

// TestRunBeforeCloseSucceeds: a run that returned before Close keeps its
// nil error, and Close afterwards is quick.
func TestRunBeforeCloseSucceeds(t *testing.T) {
	rt, g := compileProbe(t, sandbox.NewRuntimeConfig())
	var out bytes.Buffer
	in := probeInput(t, map[string]any{"mode": "print-loop", "count": 3})
	if _, err := g.Run(context.Background(), sandbox.NewRunConfig().WithInput(in).WithOutput(&out)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := "line 0\nline 1\nline 2\nDONE\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if err := g.Close(context.Background()); err != nil {
		t.Errorf("Guest.Close: %v", err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Errorf("Runtime.Close: %v", err)
	}
}

// TestCloseFromOutputWriter: Guest.Close and Runtime.Close called from
// the run's own output writer return at once, and the run returns
// ErrClosed, even when the guest finishes right after.
func TestCloseFromOutputWriter(t *testing.T) {
	for _, tc := range closeRuntimes {
		for _, what := range []string{"guest", "runtime"} {
			for _, count := range []int{2, 1 << 30} {
				t.Run(fmt.Sprintf("%s/%s/count=%d", tc.name, what, count), func(t *testing.T) {
					rt, g := compileProbe(t, tc.cfg)
					base := runtime.NumGoroutine()
					var closeErr error
					var closeTook time.Duration
					out := &hookWriter{}
					out.hook = func() {
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						defer cancel()
						t0 := time.Now()
						if what == "guest" {
							closeErr = g.Close(ctx)
						} else {
							closeErr = rt.Close(ctx)
						}
						closeTook = time.Since(t0)
					}
					in := probeInput(t, map[string]any{"mode": "print-loop", "count": count})
					r := await(t, startRun(g, sandbox.NewRunConfig().WithInput(in).WithOutput(out).WithDeadline(time.Minute)), 30*time.Second)
					if closeErr != nil || closeTook > 500*time.Millisecond {
						t.Errorf("%s Close from the output writer: %v after %v", what, closeErr, closeTook)
					}
					if !errors.Is(r.err, sandbox.ErrClosed) {
						t.Fatalf("Run with %s Close from its output writer (count %d): %v, want ErrClosed", what, count, r.err)
					}
					if n, closed := g.InFlight(); n != 0 || (what == "guest" && !closed) {
						t.Errorf("after the run: %d runs in flight, closed %v", n, closed)
					}
					if _, err := g.Run(context.Background(), sandbox.NewRunConfig()); !errors.Is(err, sandbox.ErrClosed) {
						t.Errorf("Run after Close: %v, want ErrClosed", err)
					}
					checkNoLeak(t, base)
				})
			}
		}
	}
}

// closingSource is a Source whose EventsSince calls hook once; it holds
// no events.
type closingSource struct {
	once sync.Once
	hook func()
}

func (s *closingSource) EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error) {
	s.once.Do(s.hook)
	return nil, nil
}

func (s *closingSource) ListPastSessions(ctx context.Context, limit int) ([]abi.PastSession, error) {
	return nil, nil
}

func (s *closingSource) OrphanIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error) {
	return nil, nil
}

func (s *closingSource) AttemptsForTurn(ctx context.Context, sess string, turn int) ([]abi.ProviderAttempt, error) {
	return nil, nil
}

// TestCloseFromSource: Guest.Close called from a Source method of the
// run returns at once, and the run returns ErrClosed.
func TestCloseFromSource(t *testing.T) {
	for _, tc := range closeRuntimes {
		t.Run(tc.name, func(t *testing.T) {
			_, g := compileProbe(t, tc.cfg)
			var closeErr error
			var closeTook time.Duration
			src := &closingSource{}
			src.hook = func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				t0 := time.Now()
				closeErr = g.Close(ctx)
				closeTook = time.Since(t0)
			}
			var out bytes.Buffer
			in := probeInput(t, map[string]any{"mode": "count", "session": "s1"})
			cfg := sandbox.NewRunConfig().WithSource(src).WithSessions("s1").WithInput(in).WithOutput(&out).WithDeadline(time.Minute)
			r := await(t, startRun(g, cfg), 30*time.Second)
			if closeErr != nil || closeTook > 500*time.Millisecond {
				t.Errorf("Guest.Close from EventsSince: %v after %v", closeErr, closeTook)
			}
			if !errors.Is(r.err, sandbox.ErrClosed) {
				t.Fatalf("Run with Guest.Close from its source: %v (output %q), want ErrClosed", r.err, out.String())
			}
		})
	}
}

// TestGuestCloseStopsRuns: Guest.Close with runs in flight returns
// without waiting for them; they stop long before their deadline with
// ErrClosed, and no goroutine is left behind.
func TestGuestCloseStopsRuns(t *testing.T) {
	_, g := compileProbe(t, sandbox.NewRuntimeConfig())
	base := runtime.NumGoroutine()
	const n = 4
	var started sync.WaitGroup
	started.Add(n)
	var runs []<-chan runResult
	for range n {
		out := &hookWriter{hook: started.Done}
		in := probeInput(t, map[string]any{"mode": "spin"})
		runs = append(runs, startRun(g, sandbox.NewRunConfig().WithInput(in).WithOutput(out).WithDeadline(time.Minute)))
	}
	started.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	t0 := time.Now()
	if err := g.Close(ctx); err != nil {
		t.Errorf("Guest.Close: %v", err)
	}
	if took := time.Since(t0); took > 500*time.Millisecond {
		t.Errorf("Guest.Close took %v with spinning runs in flight", took)
	}
	for _, ch := range runs {
		r := await(t, ch, 20*time.Second)
		if !errors.Is(r.err, sandbox.ErrClosed) {
			t.Errorf("spinning run stopped by Guest.Close: %v, want ErrClosed", r.err)
		}
	}
	if n, closed := g.InFlight(); n != 0 || !closed {
		t.Errorf("after Close: %d runs in flight, closed %v", n, closed)
	}
	checkNoLeak(t, base)
}
