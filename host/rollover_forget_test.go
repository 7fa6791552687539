package host_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
)

// TestRolloverForgetsDroppedMonths: a rollover that never drops months
// itself closes its handles of the months another rollover on the
// directory deleted, at its next write (writer) or query (reader), and
// still reads and writes the months that are left.
func TestRolloverForgetsDroppedMonths(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newTestClock(utc(2026, 1, 10, 0, 0))
	dropper := newRollover(t, dir, kekConfig(clock))
	writer := newRollover(t, dir, kekConfig(clock))
	reader := newRollover(t, dir, kekConfig(clock))
	for mo := 1; mo <= 4; mo++ {
		clock.set(utc(2026, time.Month(mo), 10, 0, 0))
		rollAppend(t, writer, "s", mo, `{"text":"an event"}`)
		if evs, err := reader.EventsSince(ctx, "s", 0, 0); err != nil || len(evs) != mo {
			t.Fatalf("month %d: reader sees %d events, %v", mo, len(evs), err)
		}
	}
	if n := reader.OpenMonths(); n != 4 {
		t.Fatalf("reader holds %d months open, want 4", n)
	}
	if n := writer.OpenMonths(); n != 4 {
		t.Fatalf("writer holds %d months open, want 4 (each month it wrote)", n)
	}
	// January and February go.
	dropped, err := dropper.DropMonthsBefore(ctx, utc(2026, 3, 1, 0, 0))
	if err != nil || len(dropped) != 2 {
		t.Fatalf("dropped %v, %v", dropped, err)
	}
	evs, err := reader.EventsSince(ctx, "s", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if turns := eventTurns(evs); !slices.Equal(turns, []int{3, 4}) {
		t.Fatalf("reader after the drop: turns %v, want [3 4]", turns)
	}
	if n := reader.OpenMonths(); n != 2 {
		t.Errorf("reader holds %d months open after the drop, want 2", n)
	}
	rollAppend(t, writer, "s", 5, `{"text":"after the drop"}`)
	if n := writer.OpenMonths(); n != 2 {
		t.Errorf("writer holds %d months open after the drop, want 2", n)
	}
	if evs, err := reader.EventsSince(ctx, "s", 0, 0); err != nil || !slices.Equal(eventTurns(evs), []int{3, 4, 5}) {
		t.Fatalf("reader after the next write: turns %v, %v", eventTurns(evs), err)
	}
}

func eventTurns(evs []abi.EventEnvelope) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		out[i] = e.Turn
	}
	return out
}
