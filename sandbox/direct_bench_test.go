package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/sandbox"
)

// agentStorePath returns an encrypted store holding agentSession's 100k
// events (session guestBenchSess), built once through WriteBatches and
// cached under os.TempDir() (delete it to rebuild).
func agentStorePath(b *testing.B) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), "gofastr-bench-guest-agent-100k-v1.db")
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
	evs := agentSession(guestBenchEvents)
	for i := 0; i < len(evs); i += 1000 {
		if _, err := s.WriteBatches(context.Background(), abi.Batch{Events: evs[i:min(i+1000, len(evs))]}); err != nil {
			s.Close()
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, suf := range []string{"", "-wal", "-shm", "-journal", ".dek"} {
		if err := os.Rename(tmp+suf, path+suf); err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
	}
	return path
}

// buildExample builds the example guest guest/examples/<name> for wasip1.
func buildExample(b *testing.B, name string) []byte {
	b.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			b.Skipf("skipping: no go tool to build the example guest %s: %v", name, err)
		}
	}
	out := filepath.Join(b.TempDir(), name+".wasm")
	cmd := exec.Command(goTool, "build", "-o", out, "../guest/examples/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build example %s: %v\n%s", name, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	return wasm
}

// BenchmarkGuestReplayDirect runs the example replay guest
// (guest/examples/replay: it walks a recorded session through the ABI,
// decodes every tool call and result with encoding/json and checks the
// recording's invariants) over a 100k-event agent session in an encrypted
// store, reads the same events directly in Go (Store.EventsSince in pages
// of 1024), and reads them through the ABI with nothing else done (the
// probe guest's count loop), in turn in each iteration; it reports the
// three rates and the guests' ratios to the direct read, for both kinds of
// runtime.
func BenchmarkGuestReplayDirect(b *testing.B) {
	wasm := buildExample(b, "replay")
	probe := buildGuest(b, "probe")
	s := openStore(b, agentStorePath(b))
	ctx := context.Background()
	cfg := sandbox.NewRunConfig().WithSource(s).WithSessions(guestBenchSess).WithDeadline(10 * time.Minute)
	countCfg := cfg.WithInput(probeInput(b, map[string]any{"mode": "count", "session": guestBenchSess}))
	wantCount := fmt.Sprintf("events %d\n", guestBenchEvents)
	for _, mode := range []struct {
		name string
		cfg  sandbox.RuntimeConfig
	}{
		{"interruptible", sandbox.NewRuntimeConfig()},
		{"cooperative", sandbox.NewRuntimeConfig().WithCooperativeDeadlines()},
	} {
		b.Run(mode.name, func(b *testing.B) {
			rt := newRuntime(b, mode.cfg)
			g, err := rt.Compile(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			pg, err := rt.Compile(ctx, probe)
			if err != nil {
				b.Fatal(err)
			}
			var guest, direct, read time.Duration
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
					b.Fatalf("replay: %v\n%s", err, out.String())
				}
				guest += time.Since(start)
				if !strings.Contains(out.String(), "events 100000,") || !strings.HasSuffix(out.String(), "1 sessions, 0 failed checks\n") {
					b.Fatalf("replay printed:\n%s", out.String())
				}
				start = time.Now()
				out.Reset()
				if _, err := pg.Run(ctx, countCfg.WithOutput(&out)); err != nil {
					b.Fatal(err)
				}
				read += time.Since(start)
				if out.String() != wantCount {
					b.Fatalf("probe printed %q", out.String())
				}
			}
			total := float64(guestBenchEvents * b.N)
			b.ReportMetric(total/guest.Seconds(), "replay-ev/s")
			b.ReportMetric(total/direct.Seconds(), "direct-ev/s")
			b.ReportMetric(total/read.Seconds(), "abi-ev/s")
			b.ReportMetric(direct.Seconds()/guest.Seconds(), "replay/direct")
			b.ReportMetric(direct.Seconds()/read.Seconds(), "abi/direct")
		})
	}
}
