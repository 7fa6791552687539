package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// TestRolloverWriteBatches writes keyed batches in November, then again
// in December from a handle whose clock moved and from one whose clock
// is still in November: the batches written in November are skipped in
// December, the new ones land in December once, and the November store
// refuses a batch with ErrMonthSealed. A bad batch is named by its index
// in the call, not among the batches left after the skipped ones.
func TestRolloverWriteBatches(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ahead := newTestClock(utc(2026, 11, 30, 23, 59))
	behind := newTestClock(utc(2026, 11, 30, 23, 50))
	a := newRollover(t, dir, kekConfig(ahead))
	b := newRollover(t, dir, kekConfig(behind))
	nov, err := b.Current()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.WriteBatches(ctx, testBatch("k0", "x", 0), testBatch("k1", "x", 1)); err != nil || n != 2 {
		t.Fatalf("WriteBatches in November = %d, %v; want 2", n, err)
	}
	ahead.set(utc(2026, 12, 1, 0, 0))
	if n, err := a.WriteBatches(ctx, testBatch("k1", "x", 1), testBatch("k2", "x", 2)); err != nil || n != 1 {
		t.Fatalf("WriteBatches in December = %d, %v; want 1 (k1 is in November)", n, err)
	}
	if _, err := nov.WriteBatches(ctx, testBatch("k3", "x", 3)); !errors.Is(err, host.ErrMonthSealed) {
		t.Fatalf("WriteBatches to sealed November: %v, want ErrMonthSealed", err)
	}
	// b still has November as its current month: its write moves on to
	// December and skips the keys of both months.
	if n, err := b.WriteBatches(ctx, testBatch("k0", "x", 0), testBatch("k2", "x", 2), testBatch("k3", "x", 3)); err != nil || n != 1 {
		t.Fatalf("WriteBatches from the handle behind = %d, %v; want 1", n, err)
	}
	for _, r := range []*host.MonthlyRollover{a, b} {
		evs, err := r.EventsSince(ctx, "x", 0, 0)
		if err != nil || len(evs) != 8 {
			t.Fatalf("EventsSince = %d events, %v; want 8 (4 batches of 2)", len(evs), err)
		}
		for i, e := range evs {
			if e.Turn != i/2 {
				t.Fatalf("event %d of turn %d, want %d", i, e.Turn, i/2)
			}
		}
	}
	dec, err := a.Current()
	if err != nil {
		t.Fatal(err)
	}
	if got := countSession(t, dec, "x", 4); got != (batchCounts{4, 2, 2, 2}) {
		t.Fatalf("December holds %+v, want batches k2 and k3", got)
	}

	bad := testBatch("k5", "x", 5)
	bad.Intents[0].Tool = ""
	n, err := a.WriteBatches(ctx, testBatch("k0", "x", 0), testBatch("k4", "x", 4), bad)
	be, ok := errors.AsType[*host.BatchError](err)
	if n != 0 || !ok || be.Batch != 2 || be.Record != "intent" || !strings.Contains(err.Error(), "batch 2: intent 0") {
		t.Fatalf("WriteBatches with a bad batch = %d, %v; want a BatchError naming batch 2's intent", n, err)
	}
	if n, err := a.WriteBatches(ctx, testBatch("k4", "x", 4)); err != nil || n != 1 {
		t.Fatalf("WriteBatches of k4 after the refused call = %d, %v; want 1", n, err)
	}
	if n, err := a.WriteBatches(ctx, abi.Batch{}); err != nil || n != 1 {
		t.Fatalf("WriteBatches of an empty batch = %d, %v; want 1", n, err)
	}
}
