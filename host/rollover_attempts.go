package host

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/gofastr/store/abi"
)

var _ AttemptSource = (*MonthlyRollover)(nil)

// AttemptsSince returns up to limit attempts (0: no limit) with an ID
// above afterID, in ID order, across every month (see
// [Store.AttemptsSince]). Attempt IDs increase across months, so a reader
// that passes the last ID it saw sees every attempt once, across the
// change of month; sealed months whose attempts all lie at or below
// afterID are not read. An attempt that [MonthlyRollover.DropMonthsBefore]
// copied forward with a pinned session is returned once. A negative
// afterID or limit is an error matching [ErrInvalidArgument].
func (m *MonthlyRollover) AttemptsSince(ctx context.Context, afterID int64, limit int) ([]abi.ProviderAttempt, error) {
	if afterID < 0 {
		return nil, fmt.Errorf("attempts since: %w: negative attempt ID %d", ErrInvalidArgument, afterID)
	}
	if limit < 0 {
		return nil, fmt.Errorf("attempts since: %w: negative limit %d", ErrInvalidArgument, limit)
	}
	stores, err := m.all()
	if err != nil {
		return nil, fmt.Errorf("attempts since: %w", err)
	}
	// Every month is read up to limit: the current month may hold, beside
	// its own, attempts copied from older months with their lower IDs,
	// so no month's page can be skipped for having enough before it.
	var out []abi.ProviderAttempt
	for _, s := range stores {
		if s.sealed != nil && s.sealed.attempts <= afterID {
			continue
		}
		as, err := s.AttemptsSince(ctx, afterID, limit)
		if s.gone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("attempts since: %s: %w", s.path, err)
		}
		out = append(out, as...)
	}
	slices.SortStableFunc(out, func(a, b abi.ProviderAttempt) int { return cmp.Compare(a.ID, b.ID) })
	out = slices.CompactFunc(out, func(a, b abi.ProviderAttempt) bool { return a.ID == b.ID })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
