package host_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/pricing"
)

// TestUnpricedAttemptsInPeriod: the attempts nobody priced (an unpriced
// snapshot from the store's table or the caller, or neither cost nor
// snapshot from a store without a table) are counted per provider over
// [start, end); priced ones, caller-costed ones and ones free by their
// snapshot are not. ReconcileNow reports the count as LocalUnpriced next
// to the cost that leaves them out, and it saves and reads back.
func TestUnpricedAttemptsInPeriod(t *testing.T) {
	path := tempStorePath(t)
	now := attemptT0.Add(time.Hour)
	priced, err := host.OpenWithConfig(path, host.NewConfig().WithPricing(loadTestPrices(t)).WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer priced.Close()
	plain := openStoreAt(t, path) // no price table, in a second handle
	ctx := context.Background()

	turn := 0
	record := func(s *host.Store, provider, model string, off time.Duration, usd float64, p *abi.AttemptPrice) {
		t.Helper()
		turn++
		a := unpricedAttempt("u", turn, model, 1000, 10, 0, 0)
		a.Provider, a.EstimatedUSD, a.Price = provider, usd, p
		a.StartedAt, a.EndedAt = attemptT0.Add(off), attemptT0.Add(off)
		mustRecord(t, s, a)
	}
	const sonnet = "claude-sonnet-4-5"
	// In the hour [attemptT0, attemptT0+1h):
	record(priced, "anthropic", sonnet, 0, 0, nil)                                                                   // priced by the table
	record(priced, "anthropic", "claude-opus-9", time.Minute, 0, nil)                                                // unpriced: unknown model
	record(priced, "anthropic", sonnet, 2*time.Minute, 0.5, nil)                                                     // the caller's cost
	record(priced, "anthropic", sonnet, 3*time.Minute, 0, &abi.AttemptPrice{Source: "harness"})                      // free by the caller's snapshot
	record(priced, "anthropic", sonnet, 4*time.Minute, 0, &abi.AttemptPrice{Source: abi.UnpricedPrefix + "harness"}) // the caller's unpriced snapshot
	record(plain, "anthropic", sonnet, 5*time.Minute, 0, nil)                                                        // nobody priced it
	record(plain, "anthropic", sonnet, 6*time.Minute, 0.25, nil)                                                     // the caller's cost
	record(priced, "openai", "gpt-x", 7*time.Minute, 0, nil)                                                         // unpriced: unknown provider
	record(plain, "anthropic", sonnet, -time.Nanosecond, 0, nil)                                                     // before the hour
	record(plain, "anthropic", sonnet, time.Hour, 0, nil)                                                            // at its end
	// "unpriced:" without the space is an ordinary source.
	record(priced, "anthropic", sonnet, 8*time.Minute, 0, &abi.AttemptPrice{Source: "unpriced:harness"})

	start, end := attemptT0, attemptT0.Add(time.Hour)
	for _, s := range []*host.Store{priced, plain} {
		for p, want := range map[string]int{"anthropic": 3, "openai": 1, "zai": 0} {
			if n, err := s.UnpricedAttemptsInPeriod(ctx, p, start, end); err != nil || n != want {
				t.Errorf("UnpricedAttemptsInPeriod(%s) = %d, %v; want %d", p, n, err, want)
			}
		}
		if n, err := s.UnpricedAttemptsInPeriod(ctx, "anthropic", start, start); err != nil || n != 0 {
			t.Errorf("empty period: %d, %v", n, err)
		}
		if n, err := s.UnpricedAttemptsInPeriod(ctx, "anthropic", start.Add(-time.Hour), end.Add(time.Nanosecond)); err != nil || n != 5 {
			t.Errorf("wider period: %d, %v; want 5", n, err)
		}
	}
	for name, c := range map[string]struct {
		provider   string
		start, end time.Time
	}{
		"empty provider":  {"", start, end},
		"zero start":      {"anthropic", time.Time{}, end},
		"zero end":        {"anthropic", start, time.Time{}},
		"reversed period": {"anthropic", end, start},
		"beyond range":    {"anthropic", start, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := priced.UnpricedAttemptsInPeriod(ctx, c.provider, c.start, c.end); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("%s: UnpricedAttemptsInPeriod = %v, want ErrInvalidArgument", name, err)
		}
	}

	// ReconcileNow over the hour: the cost of the priced ones, and the
	// count of the others.
	e, err := loadTestPrices(t).Estimate("anthropic", sonnet, pricing.Usage{Input: 1000, Output: 10}, attemptT0)
	if err != nil {
		t.Fatal(err)
	}
	wantLocal := abi.NanoUSD(e.NanoUSD + 500_000_000 + 250_000_000)
	r, err := priced.ReconcileNow(ctx, &fakeFetcher{name: "anthropic", usd: 1}, time.Hour)
	if err != nil || r.LocalNanos != wantLocal || r.LocalUnpriced != 3 {
		t.Fatalf("ReconcileNow = %+v, %v; want local %d with 3 unpriced", r, err, wantLocal)
	}
	id, err := priced.SaveReconciliation(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	r.ID = id
	if got, err := plain.LatestReconciliation(ctx, "anthropic"); err != nil || !sameReconciliation(got, r) {
		t.Fatalf("LatestReconciliation = %+v, %v; want %+v", got, err, r)
	}
	if got, err := plain.Reconciliations(ctx, "", start, end); err != nil || len(got) != 1 || !sameReconciliation(got[0], r) {
		t.Fatalf("Reconciliations = %+v, %v; want [%+v]", got, err, r)
	}
	if r, err := priced.ReconcileNow(ctx, &fakeFetcher{name: "zai", usd: 1}, time.Hour); err != nil || r.LocalUnpriced != 0 {
		t.Fatalf("ReconcileNow(zai) = %+v, %v; want no unpriced attempts", r, err)
	}

	// Deleted attempts no longer count.
	if _, err := priced.DropMetadata(ctx, time.Nanosecond, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := priced.UnpricedAttemptsInPeriod(ctx, "anthropic", start, end); err != nil || n != 0 {
		t.Fatalf("after DropMetadata: %d, %v; want 0", n, err)
	}
	priced.Close()
	if _, err := priced.UnpricedAttemptsInPeriod(ctx, "anthropic", start, end); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// countingLocal is a LocalCoster and an UnpricedCounter with fixed
// answers that records its calls.
type countingLocal struct {
	fakeLocal
	unpriced int
	err      error
	counts   []string
}

func (l *countingLocal) UnpricedAttemptsInPeriod(ctx context.Context, provider string, start, end time.Time) (int, error) {
	l.counts = append(l.counts, fmt.Sprintf("%s %d %d", provider, start.UnixNano(), end.UnixNano()))
	return l.unpriced, l.err
}

// TestReconcileUnpricedCounter: Reconcile asks a LocalCoster that is an
// UnpricedCounter for the count over the same provider and period and
// reports it; one that is not reports 0; the counter's error or a
// negative count stops the reconciliation before the fetch.
func TestReconcileUnpricedCounter(t *testing.T) {
	ctx := context.Background()
	start, end, ran := reconT0.Add(-time.Hour), reconT0, reconT0
	f := &fakeFetcher{name: "openrouter", usd: 2}
	l := &countingLocal{fakeLocal: fakeLocal{n: 1_000_000_000}, unpriced: 4}
	r, err := host.Reconcile(ctx, l, f, start, end, ran)
	if err != nil || r.LocalUnpriced != 4 || r.LocalNanos != 1_000_000_000 || r.VarianceNanos != 1_000_000_000 {
		t.Fatalf("Reconcile = %+v, %v; want 4 unpriced", r, err)
	}
	if want := fmt.Sprintf("openrouter %d %d", start.UnixNano(), end.UnixNano()); len(l.counts) != 1 || l.counts[0] != want {
		t.Fatalf("counter calls %q, want [%q]", l.counts, want)
	}
	if r, err := host.Reconcile(ctx, &l.fakeLocal, f, start, end, ran); err != nil || r.LocalUnpriced != 0 {
		t.Fatalf("Reconcile without a counter = %+v, %v; want 0 unpriced", r, err)
	}

	f.calls = nil
	l.err = errors.New("ledger unavailable")
	if _, err := host.Reconcile(ctx, l, f, start, end, ran); !errors.Is(err, l.err) || len(f.calls) != 0 {
		t.Fatalf("Reconcile with a failing counter = %v, %d fetches; want its error and none", err, len(f.calls))
	}
	l.err, l.unpriced = nil, -1
	if _, err := host.Reconcile(ctx, l, f, start, end, ran); !errors.Is(err, host.ErrInvalidArgument) || len(f.calls) != 0 {
		t.Fatalf("Reconcile with a negative count = %v, %d fetches; want ErrInvalidArgument and none", err, len(f.calls))
	}
}
