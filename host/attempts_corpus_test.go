package host_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/pricing"
	"github.com/gofastr/store/transcript"
)

// claudeAttempts returns one attempt per API response of the Claude Code
// transcripts in the corpus, grouped by package transcript: the usage of
// the response's last line (the earlier lines of a streamed response
// report partial output counts), its 5-minute and 1-hour cache writes
// apart. Their estimates are cleared so that the store prices them.
func claudeAttempts(t *testing.T) []abi.ProviderAttempt {
	t.Helper()
	dir := filepath.Join(host.TranscriptsDir, "claude")
	host.ReadJSONL(t, dir) // skips, saying why, without the corpus
	var out []abi.ProviderAttempt
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") {
			return err
		}
		batches, _, err := transcript.ParseClaudeCode(context.Background(), p, transcript.WithSettle(0))
		if err != nil {
			return err
		}
		for _, b := range batches {
			for _, a := range b.Attempts {
				a.EstimatedUSD, a.Price = 0, nil
				out = append(out, a)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Skip("the corpus has no Claude Code responses with usage")
	}
	return out
}

// TestAttemptsClaudeCode records every API response of the real Claude
// Code transcripts as an attempt in a store priced by the embedded table:
// each is stored at pricing's estimate of its split usage to the
// nano-dollar, the 1-hour cache writes at twice the input price, so the
// total is above what the same usage costs with every cache write taken
// as a 5-minute one; the responses the table cannot price, if any, are
// counted in a reconciliation.
func TestAttemptsClaudeCode(t *testing.T) {
	attempts := claudeAttempts(t)
	tab := pricing.Default()
	s := openPricedStore(t, tempStorePath(t), tab)
	ctx := context.Background()
	var want, lumped abi.NanoUSD
	var unpriced, with1h int
	first, last := attempts[0].StartedAt, attempts[0].StartedAt
	for i, a := range attempts {
		a.Turn = i
		e, err := tab.Estimate(a.Provider, a.Model, usageOf(a), a.StartedAt)
		if err != nil {
			unpriced++
		} else {
			want += abi.NanoUSD(e.NanoUSD)
			u := usageOf(a)
			u.CacheWrite5m, u.CacheWrite1h = u.CacheWrite5m+u.CacheWrite1h, 0
			e5, err := tab.Estimate(a.Provider, a.Model, u, a.StartedAt)
			if err != nil {
				t.Fatal(err)
			}
			lumped += abi.NanoUSD(e5.NanoUSD)
		}
		if a.CacheWrite1hTokens > 0 {
			with1h++
		}
		mustRecord(t, s, a)
		got := readAttempt(t, s, a.Session, i)
		if err == nil && (abi.NanoUSD(e.NanoUSD).USD() != got.EstimatedUSD || got.CacheWrite1hTokens != a.CacheWrite1hTokens ||
			(a.CacheWrite1hTokens > 0) != (got.Price.CacheWrite1h != nil) ||
			(got.Price.CacheWrite1h != nil && int64(*got.Price.CacheWrite1h) != e.Prices.CacheWrite1h)) {
			t.Fatalf("response %d stored as %s; want estimate %+v", i, describe(got), e)
		}
		if err != nil && !got.Price.Unpriced() {
			t.Fatalf("response %d (%v) stored as %s, want unpriced", i, err, describe(got))
		}
		if a.StartedAt.Before(first) {
			first = a.StartedAt
		}
		if a.StartedAt.After(last) {
			last = a.StartedAt
		}
	}
	if with1h == 0 {
		t.Fatal("no response in the corpus reports 1-hour cache writes: the test proves nothing about them")
	}
	start, end := first, last.Add(time.Nanosecond)
	if n, err := s.LocalCostNanosInPeriod(ctx, "anthropic", start, end); err != nil || n != want {
		t.Fatalf("LocalCostNanosInPeriod = %d, %v; want exactly %d", n, err, want)
	}
	if want <= lumped {
		t.Fatalf("cost with 1-hour writes apart %d, not above %d with every write as 5-minute", want, lumped)
	}
	r, err := host.Reconcile(ctx, s, &fakeFetcher{name: "anthropic", usd: want.USD()}, start, end, end)
	if err != nil || r.LocalNanos != want || r.LocalUnpriced != unpriced {
		t.Fatalf("Reconcile = %+v, %v; want local %d with %d unpriced", r, err, want, unpriced)
	}
	t.Logf("%d responses (%d with 1-hour cache writes, %d unpriced): $%.6f, $%.6f if every cache write were 5-minute",
		len(attempts), with1h, unpriced, want.USD(), lumped.USD())
}
