package host_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/host"
)

// TestRetentionClockOutOfRange: a clock (Config.WithClock) whose time, or
// whose time minus the ttl, is outside the years Unix nanoseconds cover
// (1678 to 2262) makes ApplyRetention, DropMetadata and Pin fail with
// ErrInvalidArgument, and nothing changes. Before, a clock in 1500 wrapped
// the cutoff past the present: retention dropped the payload of an event
// dated now, and DropMetadata deleted it; a clock in 3000 silently did
// nothing.
func TestRetentionClockOutOfRange(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		clock time.Time
		ttl   time.Duration
		want  string // in the error
	}{
		{"clock in 1500", time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour, "clock's time"},
		{"clock in 3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour, "clock's time"},
		{"clock before 1678 by a nanosecond", time.Unix(0, math.MinInt64).Add(-1), time.Hour, "clock's time"},
		{"cutoff before 1678", time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), 100 * 365 * 24 * time.Hour, "cutoff"},
		{"longest ttl from 1800", time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC), time.Duration(math.MaxInt64), "cutoff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openPlainStore(t)
			mustAppend(t, s, storeEvent("s", 1, "user_message", `{"text":"kept"}`))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			clock := tc.clock
			s, err := host.OpenWithConfig(path, host.NewConfig().WithClock(func() time.Time { return clock }))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			check := func(op string, n int64, err error) {
				t.Helper()
				if !errors.Is(err, host.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "outside the storable range") {
					t.Errorf("%s: %v, want an error matching ErrInvalidArgument about the %s", op, err, tc.want)
				}
				if n != 0 {
					t.Errorf("%s: %d rows changed", op, n)
				}
			}
			n, err := s.ApplyRetention(ctx, tc.ttl)
			check("ApplyRetention", n, err)
			n, err = s.DropMetadata(ctx, tc.ttl, nil)
			check("DropMetadata", n, err)
			if tc.want == "clock's time" {
				if err := s.Pin(ctx, "s"); !errors.Is(err, host.ErrInvalidArgument) {
					t.Errorf("Pin: %v, want ErrInvalidArgument", err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s, err = host.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			evs := allEvents(t, s, "s")
			if len(evs) != 1 || string(evs[0].Payload) != `{"text":"kept"}` {
				t.Fatalf("after the refused retention: %d events %v, want the event with its payload", len(evs), evs)
			}
			if _, ok, err := host.StoredCutoff(s); ok || err != nil {
				t.Errorf("a retention cutoff was recorded (%v)", err)
			}
		})
	}
}

// TestRetentionLongestTTL: the longest ttl from the present is a cutoff
// in the 1730s, in range: retention runs and drops nothing.
func TestRetentionLongestTTL(t *testing.T) {
	ctx := context.Background()
	s, _ := openPlainStore(t)
	mustAppend(t, s, storeEvent("s", 1, "user_message", `{"text":"kept"}`))
	if n, err := s.ApplyRetention(ctx, time.Duration(math.MaxInt64)); n != 0 || err != nil {
		t.Fatalf("ApplyRetention: %d, %v", n, err)
	}
	if n, err := s.DropMetadata(ctx, time.Duration(math.MaxInt64), nil); n != 0 || err != nil {
		t.Fatalf("DropMetadata: %d, %v", n, err)
	}
	if evs := allEvents(t, s, "s"); len(evs) != 1 || evs[0].Payload == nil {
		t.Fatalf("%d events %v, want the event with its payload", len(evs), evs)
	}
}
