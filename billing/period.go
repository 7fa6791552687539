package billing

import (
	"fmt"
	"time"
)

// WholeUTCDays checks that [start, end) is a non-empty period of whole UTC
// days: both bounds at 00:00:00 UTC (in any time zone) and start before
// end. Otherwise the error matches ErrUnsupported, since the APIs answer in
// daily buckets and cannot split one.
func WholeUTCDays(start, end time.Time) error {
	if !end.After(start) {
		return fmt.Errorf("%w: the period's end %s is not after its start %s", ErrUnsupported, end.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339))
	}
	for _, t := range []time.Time{start, end} {
		if !t.Equal(UTCDay(t)) {
			return fmt.Errorf("%w: %s is not on a UTC day boundary (daily buckets cannot be split)", ErrUnsupported, t.UTC().Format(time.RFC3339Nano))
		}
	}
	return nil
}

// Day is the granularity of every fetcher in this module: the APIs report
// spending per UTC day. The fetchers return it from their Granularity
// method, which host.Store.ReconcileNow uses to ask for whole days.
const Day = 24 * time.Hour

// UTCDay returns 00:00 UTC of t's UTC day.
func UTCDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
