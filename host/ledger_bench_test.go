package host_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// The 1M-entry ledger of the query benchmarks is built once and kept in
// $TMPDIR/gofastr-bench/ (os.TempDir), encrypted with storeTestKey, and
// reused by later runs; the name carries the generator's version and the
// ".done" file marks a complete build. Delete the directory to rebuild.
const (
	benchLedgerEntries = 1_000_000
	benchLedgerName    = "ledger-1M-v4.db" // v4: ledger schema 2
)

// benchLedgerEnd is the time of the last entry of the benchmark ledger;
// the entries cover the 90 days before it.
var benchLedgerEnd = time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)

var benchLedgerOnce struct {
	sync.Mutex
	path string
}

// benchLedgerPath returns the path of the 1M-entry benchmark ledger,
// building it if needed: 1,000,000 entries over 90 days (one every
// 7.8 s), four providers, 20,000 sessions of 50 entries each, four
// sessions running at any time, each over about 26 minutes.
func benchLedgerPath(b *testing.B) string {
	b.Helper()
	benchLedgerOnce.Lock()
	defer benchLedgerOnce.Unlock()
	if benchLedgerOnce.path != "" {
		return benchLedgerOnce.path
	}
	dir := filepath.Join(os.TempDir(), "gofastr-bench")
	path := filepath.Join(dir, benchLedgerName)
	if _, err := os.Stat(path + ".done"); err == nil {
		benchLedgerOnce.path = path
		return path
	}
	for _, suf := range []string{"", "-wal", "-shm", "-journal", ".done"} {
		os.Remove(path + suf)
	}
	start := time.Now()
	l, err := host.OpenCostLedgerWithConfig(path, host.NewConfig().WithKey(storeTestKey))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	providers := []string{"anthropic", "openai", "openrouter", "zai"}
	models := []string{"claude-sonnet-4-5", "gpt-5", "deepseek/deepseek-chat", "glm-4.6"}
	step := 90 * 24 * time.Hour / benchLedgerEntries
	first := benchLedgerEnd.Add(-step * (benchLedgerEntries - 1))
	es := make([]host.LedgerEntry, 0, 10_000)
	for i := range benchLedgerEntries {
		p := rng.IntN(len(providers))
		es = append(es, host.LedgerEntry{
			Time:        first.Add(time.Duration(i) * step),
			Session:     fmt.Sprintf("sess-%08x-%04d", (i/200)*4+i%4, i%4),
			Provider:    providers[p],
			Model:       models[p],
			RequestID:   fmt.Sprintf("req_%016x", rng.Uint64()),
			InputTokens: rng.IntN(200_000), OutputTokens: rng.IntN(8_000),
			Cost: abi.NanoUSD(rng.Int64N(2_000_000_000)),
		})
		if len(es) == cap(es) {
			if err := host.LedgerLoad(l, es, len(es)); err != nil {
				b.Fatal(err)
			}
			es = es[:0]
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path+".done", nil, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s (%d entries) in %v", path, benchLedgerEntries, time.Since(start))
	benchLedgerOnce.path = path
	return path
}

// benchCostBy runs query over the 1M-entry ledger for every entry
// (since zero) and for the last 30 days (since inside an hour).
func benchCostBy(b *testing.B, query func(l *host.CostLedger, since time.Time) (map[string]abi.NanoUSD, error)) {
	path := benchLedgerPath(b)
	l := openLedger(b, path, host.NewConfig().WithKey(storeTestKey))
	for _, c := range []struct {
		name  string
		since time.Time
	}{
		{"all", time.Time{}},
		{"last30d", benchLedgerEnd.Add(-30*24*time.Hour + 17*time.Minute + 13*time.Second)},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := query(l, c.since); err != nil { // warm the cache
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				m, err := query(l, c.since)
				if err != nil || len(m) == 0 {
					b.Fatalf("%d totals, %v", len(m), err)
				}
			}
		})
	}
}

// BenchmarkCostByProvider1M measures CostByProviderNanos over a ledger
// of 1,000,000 entries (see benchLedgerPath).
func BenchmarkCostByProvider1M(b *testing.B) {
	benchCostBy(b, func(l *host.CostLedger, since time.Time) (map[string]abi.NanoUSD, error) {
		return l.CostByProviderNanos(context.Background(), since)
	})
}

// BenchmarkCostBySession1M measures CostBySessionNanos over a ledger of
// 1,000,000 entries in 20,000 sessions (see benchLedgerPath).
func BenchmarkCostBySession1M(b *testing.B) {
	benchCostBy(b, func(l *host.CostLedger, since time.Time) (map[string]abi.NanoUSD, error) {
		return l.CostBySessionNanos(context.Background(), since)
	})
}

// BenchmarkLedgerRecord measures RecordEntry into an encrypted ledger (a
// fresh one in b.TempDir per run) from 1 and 16 concurrent callers; each
// returned entry is durable (fsynced, group-committed).
func BenchmarkLedgerRecord(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprint("callers=", callers), func(b *testing.B) {
			l := openLedger(b, filepath.Join(b.TempDir(), "costs.db"), host.NewConfig().WithKey(storeTestKey))
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for g := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						_, err := l.RecordEntry(context.Background(), host.LedgerEntry{
							Session: fmt.Sprint("sess-", g, "-", i/50), Provider: "anthropic", Model: "claude-sonnet-4-5",
							InputTokens: 1200, OutputTokens: 300, Cost: abi.NanoUSD(8_100_000 + i),
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkLedgerSyncAttempts measures SyncAttempts of a store of 10,000
// attempts into a fresh encrypted ledger per iteration (pages of 512,
// each one durable write transaction), and a sync that finds nothing new.
func BenchmarkLedgerSyncAttempts(b *testing.B) {
	const n = 10_000
	s, storePath := openPlainStore(b)
	recordAttempts(b, s, "bench", n)
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			l := openLedger(b, filepath.Join(b.TempDir(), "costs.db"), host.NewConfig().WithKey(storeTestKey))
			b.StartTimer()
			if got := mustSync(b, l, storePath, s); got != n {
				b.Fatalf("synced %d, want %d", got, n)
			}
			b.StopTimer()
			l.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
	})
	b.Run("none-new", func(b *testing.B) {
		l := openLedger(b, filepath.Join(b.TempDir(), "costs.db"), host.NewConfig().WithKey(storeTestKey))
		mustSync(b, l, storePath, s)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if got := mustSync(b, l, storePath, s); got != 0 {
				b.Fatalf("synced %d, want 0", got)
			}
		}
	})
}
