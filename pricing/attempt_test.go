package pricing_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/pricing"
)

func TestPriceAttempt(t *testing.T) {
	tab := pricing.Default()
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	a := abi.ProviderAttempt{
		Session: "s", Provider: "anthropic", Model: "claude-sonnet-4-5", StartedAt: at,
		InputTokens: 1000, OutputTokens: 200, CacheReadTokens: 30,
	}
	n, p := tab.PriceAttempt(a)
	e, err := tab.Estimate("anthropic", "claude-sonnet-4-5", pricing.Usage{Input: 1000, Output: 200, CacheRead: 30}, at)
	if err != nil {
		t.Fatal(err)
	}
	if n != abi.NanoUSD(e.NanoUSD) || n <= 0 {
		t.Fatalf("PriceAttempt = %d, Estimate = %d", n, e.NanoUSD)
	}
	if p.Unpriced() || p.Input == nil || p.Output == nil || p.CacheRead == nil || p.CacheWrite != nil || p.CacheWrite1h != nil {
		t.Fatalf("snapshot %+v: want input, output and cache read prices only", p)
	}
	if *p.Input != abi.NanoUSD(e.Prices.Input) || p.Source != e.Source.String() {
		t.Fatalf("snapshot %+v does not hold the prices applied (%+v)", p, e)
	}

	a.Model = "no-such-model-" + strings.Repeat("x", 400)
	n, p = tab.PriceAttempt(a)
	if n != 0 || !p.Unpriced() || len(p.Source) > abi.MaxAttemptString {
		t.Fatalf("unknown model: %d, %+v; want 0 and an unpriced snapshot of at most %d bytes", n, p, abi.MaxAttemptString)
	}
}

// BenchmarkPriceAttempt is what a price table adds to RecordAttempt: the
// estimate of one Sonnet 4.5 attempt (its lookup remembered) and its
// snapshot, without the write.
func BenchmarkPriceAttempt(b *testing.B) {
	tab := pricing.Default()
	a := abi.ProviderAttempt{
		Session: "s", Provider: "anthropic", Model: "claude-sonnet-4-5",
		StartedAt: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), TerminatedReason: abi.AttemptComplete,
		InputTokens: 1000, OutputTokens: 200, CacheReadTokens: 30, CacheWriteTokens: 4,
	}
	b.ReportAllocs()
	for b.Loop() {
		if n, p := tab.PriceAttempt(a); n == 0 || p == nil || p.Unpriced() {
			b.Fatalf("priced at %d: %+v", n, p)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
}
