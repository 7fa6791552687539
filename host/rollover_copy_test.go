package host_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// TestRolloverDropKeepsEveryAttemptColumn: a pinned session's attempts
// come through DropMonthsBefore exactly, 1-hour cache writes and every
// price of the snapshot included, and so does an unpriced snapshot.
func TestRolloverDropKeepsEveryAttemptColumn(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock(utc(2026, 10, 5, 0, 0))
	m := newRollover(t, t.TempDir(), host.NewConfig().WithClock(clock.now))
	if err := m.Pin(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	nano := func(n abi.NanoUSD) *abi.NanoUSD { return &n }
	started := utc(2026, 10, 5, 0, 0)
	priced := abi.ProviderAttempt{
		Session: "p", Turn: 1, Provider: "anthropic", Model: "claude", RequestID: "req-1",
		StartedAt: started, EndedAt: started.Add(time.Second), TerminatedReason: abi.AttemptComplete,
		InputTokens: 100, OutputTokens: 50, CacheReadTokens: 20, CacheWriteTokens: 10, CacheWrite1hTokens: 1000,
		EstimatedUSD: 0.0123,
		Price: &abi.AttemptPrice{Source: "table@1", Input: nano(3_000_000_000), Output: nano(15_000_000_000),
			CacheRead: nano(300_000_000), CacheWrite: nano(3_750_000_000), CacheWrite1h: nano(6_000_000_000)},
	}
	unpriced := priced
	unpriced.RequestID, unpriced.Model, unpriced.EstimatedUSD = "req-2", "unknown", 0
	unpriced.Price = &abi.AttemptPrice{Source: abi.UnpricedPrefix + "unknown model (table@1)"}
	for _, a := range []abi.ProviderAttempt{priced, unpriced} {
		if _, err := m.RecordAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	before, err := m.AttemptsForTurn(ctx, "p", 1)
	if err != nil || len(before) != 2 {
		t.Fatalf("AttemptsForTurn = %d attempts, %v", len(before), err)
	}
	if before[0].CacheWrite1hTokens != 1000 || before[0].Price == nil || before[0].Price.CacheWrite1h == nil {
		t.Fatalf("recorded attempt lost its 1-hour cache writes: %+v", before[0])
	}
	clock.set(utc(2026, 12, 5, 0, 0))
	dropped, err := m.DropMonthsBefore(ctx, utc(2026, 12, 1, 0, 0))
	if err != nil || len(dropped) != 1 {
		t.Fatalf("dropped %v, %v; want October", dropped, err)
	}
	after, err := m.AttemptsForTurn(ctx, "p", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("after the drop:\n%+v\nwant\n%+v", after, before)
	}
	n, err := m.UnpricedAttemptsInPeriod(ctx, "anthropic", utc(2026, 10, 1, 0, 0), utc(2027, 1, 1, 0, 0))
	if err != nil || n != 1 {
		t.Fatalf("unpriced attempts after the drop: %d, %v; want 1", n, err)
	}
}
