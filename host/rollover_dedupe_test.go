package host_test

import (
	"context"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// TestRolloverSumsCountCopiesOnce: after a DropMonthsBefore killed between
// copying a pinned session forward and deleting the old months, the
// pinned attempts are in two months; the period sums across months count
// each attempt once, as AttemptsForTurn does.
func TestRolloverSumsCountCopiesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newTestClock(utc(2026, 10, 5, 0, 0))
	m := newRollover(t, dir, host.NewConfig().WithClock(clock.now))
	if err := m.Pin(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	record := func(a abi.ProviderAttempt) {
		t.Helper()
		if _, err := m.RecordAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	record(rollAttempt("p", 1, utc(2026, 10, 5, 0, 0), 0.125))
	record(rollAttempt("p", 1, utc(2026, 10, 5, 0, 1), 0)) // unpriced
	record(rollAttempt("u", 1, utc(2026, 10, 5, 0, 2), 1))
	clock.set(utc(2026, 11, 5, 0, 0))
	record(rollAttempt("p", 2, utc(2026, 11, 5, 0, 0), 0.25))
	clock.set(utc(2026, 12, 5, 0, 0))
	record(rollAttempt("p", 3, utc(2026, 12, 5, 0, 0), 0.5))
	from, to := utc(2026, 10, 1, 0, 0), utc(2027, 1, 1, 0, 0)
	check := func(when string, cost abi.NanoUSD, unpriced int) {
		t.Helper()
		got, err := m.LocalCostNanosInPeriod(ctx, "openrouter", from, to)
		if err != nil || got != cost {
			t.Fatalf("%s: local cost %d, %v; want %d", when, got, err, cost)
		}
		n, err := m.UnpricedAttemptsInPeriod(ctx, "openrouter", from, to)
		if err != nil || n != unpriced {
			t.Fatalf("%s: %d unpriced attempts, %v; want %d", when, n, err, unpriced)
		}
	}
	check("before the drop", 1_875_000_000, 1)

	// A drop killed after copying October and November forward.
	paths := mustList(t, m)
	cur, err := m.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths[:2] {
		old, err := host.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := host.CopySession(ctx, old, cur, "p"); err != nil {
			t.Fatal(err)
		}
		old.Close()
	}
	check("after an interrupted drop", 1_875_000_000, 1)
	// AttemptsForTurn merges the two copies too.
	as, err := m.AttemptsForTurn(ctx, "p", 1)
	if err != nil || len(as) != 2 {
		t.Fatalf("AttemptsForTurn = %d attempts, %v; want 2", len(as), err)
	}
	if _, err := m.DropMonthsBefore(ctx, utc(2026, 12, 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	check("after the drop", 875_000_000, 1)
}
