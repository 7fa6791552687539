package host

import (
	"fmt"
	"math"
	"time"
)

// Timestamps are stored as Unix nanoseconds in an int64, which covers the
// instants from 1677-09-21 00:12:43 to 2262-04-11 23:47:16 UTC.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos returns t as Unix nanoseconds, or the store's current time (see
// Config.WithClock) if t is zero. A time outside the storable range is an
// error wrapping ErrInvalidArgument, naming field.
func (s *Store) nanos(field string, t time.Time) (int64, error) {
	if t.IsZero() {
		t = s.now()
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, fmt.Errorf("%w: %s %v is outside the storable range (%d to %d)",
			ErrInvalidArgument, field, t, minTime.Year(), maxTime.Year())
	}
	return t.UnixNano(), nil
}
