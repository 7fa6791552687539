package host_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gofastr/store/host"
)

// TestRolloverClockRange: a clock whose month is not wholly storable (or
// has no sessions-YYYYMM.db name) is refused with ErrInvalidArgument and
// creates no month file, so it can neither hide its writes from readers
// nor seal the real current month for every other handle.
func TestRolloverClockRange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := utc(2026, 11, 30, 6, 0)
	a := newRollover(t, dir, host.NewConfig().WithClock(func() time.Time { return good }))
	rollAppend(t, a, "s", 0, `1`)
	want := []string{filepath.Join(dir, "sessions-202611.db")}
	bad := []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // no four-digit name
		utc(2300, 1, 1, 0, 0),                        // beyond int64 nanoseconds
		utc(2262, 4, 1, 0, 0),                        // ends beyond them
		utc(1600, 1, 1, 0, 0),
		utc(1677, 9, 30, 0, 0), // starts before them
	}
	for _, at := range bad {
		m, err := host.NewMonthlyRolloverWithConfig(dir, host.NewConfig().WithClock(func() time.Time { return at }))
		if !errors.Is(err, host.ErrInvalidArgument) {
			m.Close()
			t.Fatalf("clock %v: err = %v, want ErrInvalidArgument", at, err)
		}
		if got := mustList(t, a); !slices.Equal(got, want) {
			t.Fatalf("clock %v created month files: %v", at, got)
		}
	}
	// A handle whose clock jumps out of range and back.
	clock := newTestClock(good)
	b := newRollover(t, dir, host.NewConfig().WithClock(clock.now))
	clock.set(utc(2300, 1, 1, 0, 0))
	if _, err := b.Append(ctx, storeEvent("s", 1, "k", `1`)); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("append with a clock in 2300: %v, want ErrInvalidArgument", err)
	}
	clock.set(good)
	rollAppend(t, b, "s", 2, `2`)
	rollAppend(t, a, "s", 3, `3`)
	if got := mustList(t, a); !slices.Equal(got, want) {
		t.Fatalf("months %v, want %v", got, want)
	}
	// The last whole storable month works.
	last := newRollover(t, t.TempDir(), host.NewConfig().WithClock(func() time.Time { return utc(2262, 3, 31, 0, 0) }))
	rollAppend(t, last, "s", 0, `1`)
}
