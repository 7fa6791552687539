package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

var _ UnpricedCounter = (*MonthlyRollover)(nil)

// ReconcileNow reconciles fetcher's provider over the period that ends
// now, by the clock of the rollover's [Config], as [Store.ReconcileNow]
// does (the same period, whole buckets for a [GranularFetcher], the same
// errors), against the attempts of every month
// ([MonthlyRollover.LocalCostNanosInPeriod] and
// [MonthlyRollover.UnpricedAttemptsInPeriod]): [Reconcile] with the
// rollover as the local side, RanAt the clock's now. It saves nothing:
// pass the result to [MonthlyRollover.SaveReconciliation]. A period that
// is not positive or a nil fetcher is an error wrapping
// [ErrInvalidArgument]; after Close it fails with [ErrClosed]; in these
// cases the fetcher is not called.
func (m *MonthlyRollover) ReconcileNow(ctx context.Context, fetcher UpstreamUsageFetcher, period time.Duration) (Reconciliation, error) {
	return reconcileNow(ctx, m, fetcher, period, m.now)
}

// UnpricedAttemptsInPeriod returns the number of attempts at provider that
// started in [start, end) without a price, in every month (see
// [Store.UnpricedAttemptsInPeriod]): with the rollover as a
// reconciliation's local side, the count of [Reconciliation.LocalUnpriced].
// Each attempt counts once, as in [MonthlyRollover.LocalCostNanosInPeriod].
func (m *MonthlyRollover) UnpricedAttemptsInPeriod(ctx context.Context, provider string, start, end time.Time) (int, error) {
	n, err := m.periodSum(ctx, "unpriced attempts", unpricedCountQuery, provider, start, end)
	return int(n), err
}

// SaveReconciliation stores r in the current month, as
// [Store.SaveReconciliation] does (same validation, same errors), and
// returns its ID: strictly increasing across every month of the
// directory, like event and attempt IDs. If another process sealed the
// month meanwhile, r goes to the month that took over: it lands in
// exactly one month (a save through the *Store of
// [MonthlyRollover.Current] fails with [ErrMonthSealed] instead).
// [MonthlyRollover.DropMonthsBefore] keeps reconciliations.
func (m *MonthlyRollover) SaveReconciliation(ctx context.Context, r Reconciliation) (int64, error) {
	return withCurrent(m, func(s *Store) (int64, error) { return s.SaveReconciliation(ctx, r) })
}

// LatestReconciliation returns the saved reconciliation of provider that
// ran last in any month (the largest RanAt; of equal ones, the largest
// ID), or, for an empty provider, the one that ran last among all
// providers (see [Store.LatestReconciliation]). Without any in any month
// it returns [ErrNoReconciliations].
func (m *MonthlyRollover) LatestReconciliation(ctx context.Context, provider string) (Reconciliation, error) {
	out, err := reconciliationsIn(m, func(s *Store) ([]Reconciliation, error) {
		r, err := s.LatestReconciliation(ctx, provider)
		return []Reconciliation{r}, err
	})
	if err != nil {
		return Reconciliation{}, fmt.Errorf("latest reconciliation: %w", err)
	}
	return slices.MaxFunc(out, func(a, b Reconciliation) int {
		return cmp.Or(a.RanAt.Compare(b.RanAt), cmp.Compare(a.ID, b.ID))
	}), nil
}

// Reconciliations returns the saved reconciliations of provider, in every
// month, whose periods overlap [start, end), ordered by PeriodStart, then
// ID (see [Store.Reconciliations], which states the arguments' limits and
// errors). A reconciliation present in two months, between the copy and
// the deletion of an interrupted [MonthlyRollover.DropMonthsBefore], is
// returned once. Without any match it returns [ErrNoReconciliations].
func (m *MonthlyRollover) Reconciliations(ctx context.Context, provider string, start, end time.Time) ([]Reconciliation, error) {
	out, err := reconciliationsIn(m, func(s *Store) ([]Reconciliation, error) {
		return s.Reconciliations(ctx, provider, start, end)
	})
	if err != nil {
		return nil, fmt.Errorf("reconciliations: %w", err)
	}
	slices.SortFunc(out, func(a, b Reconciliation) int {
		return cmp.Or(a.PeriodStart.Compare(b.PeriodStart), cmp.Compare(a.ID, b.ID))
	})
	return slices.CompactFunc(out, func(a, b Reconciliation) bool { return a.ID == b.ID }), nil
}

// reconciliationsIn returns what fn returns for every month, skipping
// months where it fails with ErrNoReconciliations, and
// ErrNoReconciliations if every month does.
func reconciliationsIn(m *MonthlyRollover, fn func(s *Store) ([]Reconciliation, error)) ([]Reconciliation, error) {
	stores, err := m.all()
	if err != nil {
		return nil, err
	}
	var out []Reconciliation
	for _, s := range stores {
		rs, err := fn(s.Store)
		if errors.Is(err, ErrNoReconciliations) || s.gone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		out = append(out, rs...)
	}
	if len(out) == 0 {
		return nil, ErrNoReconciliations
	}
	return out, nil
}

// copyReconciliations copies every reconciliation of src into dst with
// its ID and every column (see copyRows), skipping IDs dst already has.
func copyReconciliations(ctx context.Context, src, dst *Store) error {
	return copyRows(ctx, src, dst, rowCopy{table: "reconciliations", key: "id"})
}
