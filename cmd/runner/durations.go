package main

import (
	"strconv"
	"strings"
	"time"
)

// parseDuration parses a duration as time.ParseDuration does, plus whole
// days and weeks ("30d", "2w", "1d12h"). Negative durations are refused.
func parseDuration(flag, s string) (time.Duration, error) {
	orig := s
	var total time.Duration
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		if i := strings.Index(s, u.suffix); i >= 0 {
			n, err := strconv.ParseUint(s[:i], 10, 32)
			if err != nil {
				return 0, usagef("%s %q: not a duration (examples: 90m, 36h, 30d, 2w)", flag, orig)
			}
			total += time.Duration(n) * u.unit
			s = s[i+1:]
		}
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, usagef("%s %q: not a duration (examples: 90m, 36h, 30d, 2w)", flag, orig)
		}
		if d < 0 {
			return 0, usagef("%s %q: negative duration", flag, orig)
		}
		total += d
	}
	if total < 0 || total > 200*365*24*time.Hour {
		return 0, usagef("%s %q: duration out of range", flag, orig)
	}
	return total, nil
}

// parseSince parses a starting time: a duration before now ("7d"), a date
// ("2026-11-01", UTC midnight) or an RFC 3339 time.
func parseSince(flag, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(flag, s)
	if err != nil {
		return time.Time{}, usagef("%s %q: neither a duration (7d, 36h) nor a date (2026-11-01, or RFC 3339)", flag, s)
	}
	if d == 0 {
		return time.Time{}, usagef("%s %q: an empty period (give a duration such as 7d, or a date)", flag, s)
	}
	return now.Add(-d), nil
}
