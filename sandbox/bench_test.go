package sandbox_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/sandbox"
)

// The guest benchmarks (make bench-guest). Their figures are in
// docs/BENCHMARKS.md, section "Guests".

const (
	guestBenchSess   abi.SessionID = "bench-100k"
	guestBenchEvents               = 100_000
)

// benchStorePath returns the 100k-event bench store, built once and
// cached under os.TempDir() (delete it to rebuild).
func benchStorePath(b *testing.B) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), "gofastr-bench-guest-100k-v1.db")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	b.Logf("building %s (once)", path)
	tmp := path + ".tmp"
	for _, suf := range []string{"", "-wal", "-shm", "-journal", ".dek", ".lock", ".dek.lock"} {
		os.Remove(tmp + suf)
	}
	s, err := host.OpenEncrypted(tmp, host.EncryptionAtRest, testKey)
	if err != nil {
		b.Fatal(err)
	}
	jobs := make(chan abi.EventEnvelope, 4096)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range jobs {
				if _, err := s.Append(context.Background(), e); err != nil {
					failed.Store(&err)
				}
			}
		}()
	}
	words := strings.Fields("the parser test file function error return value build run go module package import fix")
	kinds := []string{abi.KindUserMessage, abi.KindAssistantMessage, abi.KindToolCall, abi.KindToolResult}
	for i := range guestBenchEvents {
		n := 5 + i%40 // 40 to 300 bytes of text
		w := make([]string, n)
		for j := range w {
			w[j] = words[(i*7+j*3)%len(words)]
		}
		jobs <- abi.EventEnvelope{Session: guestBenchSess, Turn: i / 4, Kind: kinds[i%4], TS: t0.Add(time.Duration(i) * time.Millisecond),
			Payload: json.RawMessage(`{"text":"` + strings.Join(w, " ") + `"}`)}
	}
	close(jobs)
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	for _, suf := range []string{"", "-wal", "-shm", "-journal", ".dek"} {
		if err := os.Rename(tmp+suf, path+suf); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
	}
	return path
}

// benchGuests returns the probe guest compiled on an interruptible
// runtime (the default) and on one with cooperative deadlines.
func benchGuests(b *testing.B) map[string]*sandbox.Guest {
	ctx := context.Background()
	wasm := buildGuest(b, "probe")
	gs := map[string]*sandbox.Guest{}
	for name, cfg := range map[string]sandbox.RuntimeConfig{
		"interruptible": sandbox.NewRuntimeConfig(),
		"cooperative":   sandbox.NewRuntimeConfig().WithCooperativeDeadlines(),
	} {
		g, err := newRuntime(b, cfg).Compile(ctx, wasm)
		if err != nil {
			b.Fatal(err)
		}
		gs[name] = g
	}
	return gs
}

// BenchmarkGuestEvents reads the 100k events of one session through the
// ABI (the probe guest's guest.Events loop, one run per iteration,
// instantiation included) and directly in Go (Store.EventsSince in pages
// of 1024), alternately in each iteration, and reports both rates and
// their ratio; for both kinds of runtime.
func BenchmarkGuestEvents(b *testing.B) {
	gs := benchGuests(b)
	s := openStore(b, benchStorePath(b))
	ctx := context.Background()
	in := probeInput(b, map[string]any{"mode": "count", "session": guestBenchSess})
	cfg := sandbox.NewRunConfig().WithSource(s).WithSessions(guestBenchSess).WithInput(in).WithDeadline(10 * time.Minute)
	want := fmt.Sprintf("events %d\n", guestBenchEvents)
	for _, mode := range []string{"interruptible", "cooperative"} {
		b.Run(mode, func(b *testing.B) {
			g := gs[mode]
			var guest, direct time.Duration
			for range b.N {
				start := time.Now()
				n := 0
				var after uint64
				for {
					evs, err := s.EventsSince(ctx, guestBenchSess, after, 1024)
					if err != nil {
						b.Fatal(err)
					}
					n += len(evs)
					if len(evs) < 1024 {
						break
					}
					after = evs[len(evs)-1].ID
				}
				direct += time.Since(start)
				if n != guestBenchEvents {
					b.Fatalf("direct read %d events", n)
				}
				start = time.Now()
				var out strings.Builder
				if _, err := g.Run(ctx, cfg.WithOutput(&out)); err != nil {
					b.Fatal(err)
				}
				guest += time.Since(start)
				if out.String() != want {
					b.Fatalf("guest printed %q", out.String())
				}
			}
			total := float64(guestBenchEvents * b.N)
			b.ReportMetric(total/guest.Seconds(), "guest-ev/s")
			b.ReportMetric(total/direct.Seconds(), "direct-ev/s")
			b.ReportMetric(direct.Seconds()/guest.Seconds(), "guest/direct")
		})
	}
}

// agentSession returns an agent session of n events in recorded order,
// in memory: every fifth turn starts with a user message, and every turn
// has an assistant message, a tool call and its result.
func agentSession(n int) []abi.EventEnvelope {
	evs := make([]abi.EventEnvelope, 0, n)
	add := func(turn int, kind, payload string) {
		if len(evs) < n {
			evs = append(evs, abi.EventEnvelope{ID: uint64(len(evs) + 1), Session: guestBenchSess, Turn: turn, Kind: kind,
				TS: t0.Add(time.Duration(len(evs)) * time.Millisecond), Payload: json.RawMessage(payload)})
		}
	}
	for turn := 0; len(evs) < n; turn++ {
		if turn%5 == 0 {
			add(turn, abi.KindUserMessage, fmt.Sprintf(`{"text":"fix the failing test in package p%d, then run the whole suite again"}`, turn))
		}
		add(turn, abi.KindAssistantMessage, `{"text":"Reading the test file first, then the function it checks."}`)
		add(turn, abi.KindToolCall, fmt.Sprintf(`{"call_id":"call_%d","tool":"read","args":{"path":"p/p_test.go","limit":40}}`, turn))
		add(turn, abi.KindToolResult, fmt.Sprintf(`{"call_id":"call_%d","status":"ok","result":"func TestP(t *testing.T) {\n\tif got := P(); got != 2 {\n\t\tt.Fatal(got)\n\t}\n}\n"}`, turn))
	}
	return evs
}

// BenchmarkGuestReplayEmit replays a 100k-event agent session (in
// memory) to the probe's agent loop, which takes every user message,
// model step and tool result through the replay calls and emits every
// event back for comparison: one host call per emitted event, plus one
// per user message, model step and tool call.
func BenchmarkGuestReplayEmit(b *testing.B) {
	gs := benchGuests(b)
	src := sliceSource{agentSession(guestBenchEvents)}
	ctx := context.Background()
	in := probeInput(b, map[string]any{"mode": "agent"})
	cfg := sandbox.NewRunConfig().WithSource(src).WithSessions(guestBenchSess).WithReplay(guestBenchSess).WithInput(in).WithDeadline(10 * time.Minute)
	for _, mode := range []string{"interruptible", "cooperative"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				res, err := gs[mode].Run(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				if res.Emitted != guestBenchEvents {
					b.Fatalf("emitted %d", res.Emitted)
				}
			}
			b.ReportMetric(float64(guestBenchEvents*b.N)/b.Elapsed().Seconds(), "ev/s")
		})
	}
}

// BenchmarkInstantiate runs the empty guest: a fresh instance, its Go
// runtime's start-up and main, and the instance's close, after one
// compile.
func BenchmarkInstantiate(b *testing.B) {
	rt := newRuntime(b, sandbox.NewRuntimeConfig())
	ctx := context.Background()
	g, err := rt.Compile(ctx, buildGuest(b, "empty"))
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close(ctx)
	b.ResetTimer()
	for range b.N {
		if _, err := g.Run(ctx, sandbox.NewRunConfig()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/run")
}

// BenchmarkCompile compiles the probe guest in a new runtime per
// iteration, without a compilation cache and with the shared one
// (populated by a first compile, as in a process started after another
// compiled the guest).
func BenchmarkCompile(b *testing.B) {
	wasm := buildGuest(b, "probe")
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		cfg  sandbox.RuntimeConfig
	}{
		{"nocache", sandbox.NewRuntimeConfig().WithoutCache()},
		{"cache", sandbox.NewRuntimeConfig()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			compile := func() {
				rt, err := sandbox.NewRuntime(ctx, bc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				g, err := rt.Compile(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				g.Close(ctx)
				rt.Close(ctx)
			}
			compile() // fills the cache
			b.ResetTimer()
			for range b.N {
				compile()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/compile")
		})
	}
}

// sliceSource serves events from memory, to measure the ABI without the
// store.
type sliceSource struct{ events []abi.EventEnvelope }

func (s sliceSource) EventsSince(_ context.Context, _ abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error) {
	i, _ := slices.BinarySearchFunc(s.events, since+1, func(e abi.EventEnvelope, id uint64) int { return cmp.Compare(e.ID, id) })
	j := len(s.events)
	if limit > 0 {
		j = min(j, i+limit)
	}
	return s.events[i:j], nil
}
func (sliceSource) ListPastSessions(context.Context, int) ([]abi.PastSession, error) { return nil, nil }
func (sliceSource) OrphanIntents(context.Context, abi.SessionID) ([]abi.ToolIntent, error) {
	return nil, nil
}
func (sliceSource) AttemptsForTurn(context.Context, string, int) ([]abi.ProviderAttempt, error) {
	return nil, nil
}

// BenchmarkGuestEventsMemory is BenchmarkGuestEvents with the events
// already in memory: the cost of the ABI alone (encoding, the host calls,
// decoding in the guest).
func BenchmarkGuestEventsMemory(b *testing.B) {
	gs := benchGuests(b)
	s := openStore(b, benchStorePath(b))
	evs, err := s.EventsSince(context.Background(), guestBenchSess, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	src := sliceSource{evs}
	in := probeInput(b, map[string]any{"mode": "count", "session": guestBenchSess})
	cfg := sandbox.NewRunConfig().WithSource(src).WithSessions(guestBenchSess).WithInput(in).WithDeadline(10 * time.Minute)
	for _, mode := range []string{"interruptible", "cooperative"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				if _, err := gs[mode].Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(guestBenchEvents*b.N)/b.Elapsed().Seconds(), "guest-ev/s")
		})
	}
}
