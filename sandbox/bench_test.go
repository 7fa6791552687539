package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// BenchmarkGuestEvents reads the 100k events of one session through the
// ABI (the probe guest's guest.Events loop, one run per iteration,
// instantiation included) and directly in Go (Store.EventsSince in pages
// of 1024), alternately in each iteration, and reports both rates and
// their ratio.
func BenchmarkGuestEvents(b *testing.B) {
	g := probeGuest(b)
	s := openStore(b, benchStorePath(b))
	ctx := context.Background()
	in := probeInput(b, map[string]any{"mode": "count", "session": guestBenchSess})
	cfg := sandbox.NewRunConfig().WithSource(s).WithSessions(guestBenchSess).WithInput(in).WithDeadline(10 * time.Minute)
	want := fmt.Sprintf("events %d\n", guestBenchEvents)
	var guest, direct time.Duration
	b.ResetTimer()
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
}

// BenchmarkGuestReplayEmit replays the 100k-event session to the probe's
// agent loop, which takes every event through the replay calls and emits
// it back for comparison (one host call per event, plus the batches).
func BenchmarkGuestReplayEmit(b *testing.B) {
	g := probeGuest(b)
	s := openStore(b, benchStorePath(b))
	ctx := context.Background()
	in := probeInput(b, map[string]any{"mode": "agent"})
	cfg := sandbox.NewRunConfig().WithSource(s).WithSessions(guestBenchSess).WithReplay(guestBenchSess).WithInput(in).WithDeadline(10 * time.Minute)
	b.ResetTimer()
	for range b.N {
		res, err := g.Run(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if res.Emitted != guestBenchEvents {
			b.Fatalf("emitted %d", res.Emitted)
		}
	}
	b.ReportMetric(float64(guestBenchEvents*b.N)/b.Elapsed().Seconds(), "ev/s")
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
