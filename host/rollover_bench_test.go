package host_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
)

// BenchmarkEventsSinceMonths reads one session of 1200 events (among the
// events of four other sessions) through MonthlyRollover.EventsSince,
// stored in one month file or spread over twelve, 100 per month: "all"
// reads the whole session, "page" 100 events from its middle. The
// encrypted store, the same events in the same order either way.
func BenchmarkEventsSinceMonths(b *testing.B) {
	const perMonth, months = 100, 12
	for _, spread := range []int{1, months} {
		dir := b.TempDir()
		clock := newTestClock(utc(2026, 1, 10, 0, 0))
		m := newRollover(b, dir, kekConfig(clock))
		ctx := context.Background()
		var mid uint64
		for mo := range months {
			if spread > 1 {
				clock.set(utc(2026, time.Month(mo+1), 10, 0, 0))
			}
			for i := range perMonth {
				for other := range 4 {
					rollAppend(b, m, abi.SessionID(fmt.Sprint("other-", other)), i, `{"text":"noise noise noise noise noise noise noise noise"}`)
				}
				id := rollAppend(b, m, "s", mo*perMonth+i, fmt.Sprintf(`{"text":"month %d event %d of the session, a sentence or two of an assistant's reply"}`, mo, i))
				if mo == months/2 && i == 0 {
					mid = id
				}
			}
		}
		if n := len(mustList(b, m)); n != spread {
			b.Fatalf("%d month files, want %d", n, spread)
		}
		for _, v := range []struct {
			name         string
			since        uint64
			limit, count int
		}{{"all", 0, 0, months * perMonth}, {"page", mid, 100, 100}} {
			b.Run(fmt.Sprintf("months=%d/%s", spread, v.name), func(b *testing.B) {
				for b.Loop() {
					evs, err := m.EventsSince(ctx, "s", v.since, v.limit)
					if err != nil {
						b.Fatal(err)
					}
					if len(evs) != v.count {
						b.Fatalf("%d events, want %d", len(evs), v.count)
					}
				}
			})
		}
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
