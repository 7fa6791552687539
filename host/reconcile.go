package host

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// Errors of reconciliation.
var (
	// ErrNoReconciliations is returned by [Store.LatestReconciliation] and
	// [Store.Reconciliations] when no saved reconciliation matches.
	ErrNoReconciliations = errors.New("host: no reconciliations recorded")

	// ErrUpstreamAmount is returned (wrapped) by [Reconcile] and
	// [Store.ReconcileNow] when a fetcher reports NaN, an infinity, a
	// negative amount or one beyond int64 nano-dollars (about 9.2e9 USD).
	// Nothing is returned but the error.
	ErrUpstreamAmount = errors.New("host: upstream usage is not an amount from 0 to about 9.2e9 USD")
)

// UpstreamUsageFetcher pulls billing data from a provider for
// reconciliation: an implementation asks the provider's usage or billing
// API what the account spent.
type UpstreamUsageFetcher interface {
	// Name returns the provider name, as in abi.ProviderAttempt.Provider:
	// the attempts of that provider are the local side.
	Name() string
	// FetchUsageUSD returns the dollars the provider reports spent in
	// [start, end).
	FetchUsageUSD(ctx context.Context, start, end time.Time) (float64, error)
}

// Optional interfaces of an [UpstreamUsageFetcher], which [Reconcile] and
// [Store.ReconcileNow] use when a fetcher implements them. The fetchers of
// package billing implement both.
type (
	// NanoFetcher reports upstream usage in exact nano-dollars;
	// [Reconcile] then uses FetchUsageNanos instead of FetchUsageUSD, and
	// no float64 rounding enters the upstream amount.
	NanoFetcher interface {
		FetchUsageNanos(ctx context.Context, start, end time.Time) (abi.NanoUSD, error)
	}
	// GranularFetcher reports the size of the buckets its provider bills
	// in (a whole number of seconds, for example 24 hours for APIs that
	// answer per UTC day): such a fetcher answers only periods made of
	// whole buckets, aligned to the Unix epoch. [Store.ReconcileNow]
	// rounds its period to them.
	GranularFetcher interface {
		Granularity() time.Duration
	}
)

// alignedPeriod returns the period of at least d that ends at now: [now-d,
// now), or, for a fetcher that bills in buckets of g (a GranularFetcher),
// the last whole buckets that end at or before now and cover at least d:
// end is now rounded down to a multiple of g since the Unix epoch, start
// is d rounded up to whole buckets before it. A granularity that is not a
// positive whole number of seconds is an error.
func alignedPeriod(fetcher UpstreamUsageFetcher, now time.Time, d time.Duration) (start, end time.Time, err error) {
	gf, ok := fetcher.(GranularFetcher)
	if !ok {
		return now.Add(-d), now, nil
	}
	g := gf.Granularity()
	if g <= 0 || g%time.Second != 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: fetcher granularity %v is not a positive whole number of seconds", ErrInvalidArgument, g)
	}
	sec := int64(g / time.Second)
	u := now.Unix()
	e := u - ((u%sec)+sec)%sec // floor to a multiple of sec, also before 1970
	n := d / g                 // whole buckets covering d
	if d%g != 0 {
		n++
	}
	if n > math.MaxInt64/g {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: period %v is too long", ErrInvalidArgument, d)
	}
	end = time.Unix(e, 0).In(now.Location())
	return end.Add(-time.Duration(n) * g), end, nil
}

var (
	_ LocalCoster     = (*Store)(nil)
	_ UnpricedCounter = (*Store)(nil)
)

// LocalCoster is the local side of a reconciliation: the exact cost, in
// nano-dollars, that attempts at provider starting in [start, end) were
// estimated at. [*Store] implements it (see
// [Store.LocalCostNanosInPeriod]); so can anything else that keeps
// attempt costs, such as a set of stores.
type LocalCoster interface {
	LocalCostNanosInPeriod(ctx context.Context, provider string, start, end time.Time) (abi.NanoUSD, error)
}

// UnpricedCounter is an optional interface of a [LocalCoster]: the
// number of attempts at provider starting in [start, end) whose cost is
// unknown, so that the local cost leaves them out. [Reconcile] asks a
// LocalCoster that implements it and reports the count as
// [Reconciliation.LocalUnpriced]. [*Store] implements it (see
// [Store.UnpricedAttemptsInPeriod]).
type UnpricedCounter interface {
	UnpricedAttemptsInPeriod(ctx context.Context, provider string, start, end time.Time) (int, error)
}

// Reconciliation is one comparison of a provider's billed usage with the
// local estimate over a period.
//
// The amounts are exact integers of nano-dollars in the Nanos fields; the
// USD fields hold the same amounts in dollars (float64, for display and
// compatibility). The variance is upstream minus local: positive when the
// provider billed more than was estimated locally (an underestimate, or
// usage this store did not record), negative when it billed less.
//
// LocalUnpriced counts the attempts of the period that nobody priced;
// when it is above zero, the local amount is a lower bound, not an
// estimate, and part of a positive variance is theirs.
type Reconciliation struct {
	// ID is assigned by [Store.SaveReconciliation]: strictly increasing in
	// the store, never reused. Zero until saved; ignored when saving.
	ID int64
	// Provider names the provider, as the fetcher did.
	Provider string
	// PeriodStart and PeriodEnd bound the period: [PeriodStart,
	// PeriodEnd).
	PeriodStart time.Time
	PeriodEnd   time.Time
	// UpstreamUSD is what the provider reports spent in the period.
	UpstreamUSD float64
	// LocalUSD is the local estimate for the period.
	LocalUSD float64
	// VarianceUSD is UpstreamUSD - LocalUSD.
	VarianceUSD float64
	// RanAt is when the reconciliation ran.
	RanAt time.Time

	// UpstreamNanos, LocalNanos and VarianceNanos are the three amounts
	// in nano-dollars; VarianceNanos = UpstreamNanos - LocalNanos.
	UpstreamNanos abi.NanoUSD
	LocalNanos    abi.NanoUSD
	VarianceNanos abi.NanoUSD

	// LocalUnpriced is the number of attempts in the period whose cost
	// the local amount leaves out because it is unknown: those with an
	// unpriced snapshot ([abi.AttemptPrice.Unpriced]) and those recorded
	// with neither a cost nor a snapshot (see
	// [Store.UnpricedAttemptsInPeriod]). Zero when there are none, and
	// when the local side does not count them (a [LocalCoster] that is
	// not an [UnpricedCounter], or a reconciliation saved by a version of
	// this package that did not). A reconciliation with LocalUnpriced
	// above zero has a local side that is a lower bound.
	LocalUnpriced int
}

// newReconciliation returns the reconciliation of the given amounts, with
// the variance and the dollar fields computed from them.
func newReconciliation(id int64, provider string, start, end time.Time, upstream, local abi.NanoUSD, unpriced int, ranAt time.Time) Reconciliation {
	v := upstream - local // both in [0, MaxInt64]: no overflow
	return Reconciliation{
		ID: id, Provider: provider, PeriodStart: start, PeriodEnd: end,
		UpstreamUSD: upstream.USD(), LocalUSD: local.USD(), VarianceUSD: v.USD(),
		RanAt:         ranAt,
		UpstreamNanos: upstream, LocalNanos: local, VarianceNanos: v,
		LocalUnpriced: unpriced,
	}
}

// Reconcile compares what fetcher reports its provider billed in [start,
// end) with what local estimated for the same provider and period, and
// returns the result with RanAt set to ranAt. It saves nothing (see
// [Store.SaveReconciliation]). [Store.ReconcileNow] is Reconcile over the
// last period of a store's clock; other callers (several stores, a cost
// ledger) supply their own local side.
//
// The local cost is read first, then, when local is also an
// [UnpricedCounter], the count of unpriced attempts
// ([Reconciliation.LocalUnpriced]; a negative count is an error wrapping
// [ErrInvalidArgument]), then the fetcher is asked; an error of any is
// returned wrapped (the fetcher's matches with [errors.Is] and
// [errors.As]) with an empty Reconciliation. A [NanoFetcher] is asked for
// exact nano-dollars; otherwise the fetcher's dollars are converted once
// to nano-dollars, rounded to the nearest. An amount that is not one
// (NaN, infinite, negative, too large) is an error wrapping
// [ErrUpstreamAmount]. A nil local or fetcher, a fetcher name that is
// empty or longer than [MaxAttemptString], a period outside the storable
// range (Unix nanoseconds in an int64, 1677-09-21 to 2262-04-11 UTC), empty or reversed, or a zero ranAt is an
// error wrapping [ErrInvalidArgument], and the fetcher is not called.
func Reconcile(ctx context.Context, local LocalCoster, fetcher UpstreamUsageFetcher, start, end, ranAt time.Time) (Reconciliation, error) {
	if fetcher == nil || local == nil {
		return Reconciliation{}, fmt.Errorf("reconcile: %w: nil fetcher or local coster", ErrInvalidArgument)
	}
	name := fetcher.Name()
	if err := checkReconcileArgs(name, start, end); err != nil {
		return Reconciliation{}, fmt.Errorf("reconcile %q: %w", name, err)
	}
	if ranAt.IsZero() {
		return Reconciliation{}, fmt.Errorf("reconcile %s: %w: zero run time", name, ErrInvalidArgument)
	}
	ln, err := local.LocalCostNanosInPeriod(ctx, name, start, end)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("reconcile %s: %w", name, err)
	}
	var unpriced int
	if uc, ok := local.(UnpricedCounter); ok {
		if unpriced, err = uc.UnpricedAttemptsInPeriod(ctx, name, start, end); err != nil {
			return Reconciliation{}, fmt.Errorf("reconcile %s: %w", name, err)
		}
		if unpriced < 0 {
			return Reconciliation{}, fmt.Errorf("reconcile %s: %w: negative unpriced attempt count %d", name, ErrInvalidArgument, unpriced)
		}
	}
	var un abi.NanoUSD
	if nf, ok := fetcher.(NanoFetcher); ok {
		if un, err = nf.FetchUsageNanos(ctx, start, end); err != nil {
			return Reconciliation{}, fmt.Errorf("reconcile %s: fetch upstream usage: %w", name, err)
		}
		if un < 0 {
			return Reconciliation{}, fmt.Errorf("reconcile %s: %w: got %d nano-dollars", name, ErrUpstreamAmount, un)
		}
	} else {
		usd, err := fetcher.FetchUsageUSD(ctx, start, end)
		if err != nil {
			return Reconciliation{}, fmt.Errorf("reconcile %s: fetch upstream usage: %w", name, err)
		}
		if un, err = upstreamNanos(usd); err != nil {
			return Reconciliation{}, fmt.Errorf("reconcile %s: %w", name, err)
		}
	}
	return newReconciliation(0, name, start, end, un, ln, unpriced, ranAt), nil
}

// checkReconcileArgs validates a provider name and a non-empty period.
func checkReconcileArgs(provider string, start, end time.Time) error {
	if provider == "" {
		return fmt.Errorf("%w: empty provider", ErrInvalidArgument)
	}
	if len(provider) > MaxAttemptString {
		return fmt.Errorf("%w: provider of %d bytes, at most %d", ErrInvalidArgument, len(provider), MaxAttemptString)
	}
	from, err := storable("period start", start)
	if err != nil {
		return err
	}
	to, err := storable("period end", end)
	if err != nil {
		return err
	}
	if to <= from {
		return fmt.Errorf("%w: period [%v, %v) is empty or reversed", ErrInvalidArgument, start, end)
	}
	return nil
}

// upstreamNanos converts a fetcher's dollars to nano-dollars, rounding to
// the nearest; anything but an amount from 0 to the int64 limit wraps
// ErrUpstreamAmount.
func upstreamNanos(usd float64) (abi.NanoUSD, error) {
	n := math.Round(usd * 1e9)
	// 1<<63 is the first float64 above math.MaxInt64; NaN fails every
	// comparison, so it is tested first.
	if math.IsNaN(usd) || usd < 0 || n >= 1<<63 {
		return 0, fmt.Errorf("%w: got %v", ErrUpstreamAmount, usd)
	}
	return abi.NanoUSD(n), nil
}

// ReconcileNow runs one reconciliation of fetcher's provider over the
// period that ends now, by the store's clock ([Config.WithClock]): [now -
// period, now), or, for a [GranularFetcher] (every fetcher of package
// billing, whose APIs answer per UTC day), the whole buckets that end at
// or before now and cover at least period — with a 24-hour granularity
// and a period of 24 hours, yesterday (UTC) — against this store's attempts
// ([Store.LocalCostNanosInPeriod], and [Store.UnpricedAttemptsInPeriod]
// for LocalUnpriced); RanAt is now. It is [Reconcile] with
// the Store as the local side, and like it saves nothing: pass the result
// to [Store.SaveReconciliation] to keep it. A period that is not positive
// is an error wrapping [ErrInvalidArgument]; a failed fetch returns the
// fetcher's error, wrapped. After Close it fails with [ErrClosed] without
// calling the fetcher. Callers schedule it, for example daily with
// package schedule.
func (s *Store) ReconcileNow(ctx context.Context, fetcher UpstreamUsageFetcher, period time.Duration) (Reconciliation, error) {
	return reconcileNow(ctx, s, fetcher, period, s.now)
}

// reconcileNow is ReconcileNow with local as the local side and now as
// the clock: it checks period and fetcher, aligns the period with
// alignedPeriod and runs Reconcile.
func reconcileNow(ctx context.Context, local LocalCoster, fetcher UpstreamUsageFetcher, period time.Duration, now func() time.Time) (Reconciliation, error) {
	if period <= 0 {
		return Reconciliation{}, fmt.Errorf("reconcile: %w: period %v is not positive", ErrInvalidArgument, period)
	}
	if fetcher == nil {
		return Reconciliation{}, fmt.Errorf("reconcile: %w: nil fetcher", ErrInvalidArgument)
	}
	t := now()
	start, end, err := alignedPeriod(fetcher, t, period)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("reconcile %s: %w", fetcher.Name(), err)
	}
	return Reconcile(ctx, local, fetcher, start, end, t)
}

// SaveReconciliation stores r and returns the ID it assigns: strictly
// increasing within the store, never reused, across every Store open on
// the file in this process or others (drawn from a counter in the
// database, as attempt IDs are). r.ID is ignored. When it returns nil the
// row is on stable storage. Reconciliations are not session data:
// retention ([Store.ApplyRetention], [Store.DropMetadata]) keeps them.
//
// The provider must be set (at most [MaxAttemptString] bytes), the period
// must be non-empty and lie in the storable range (Unix nanoseconds in an int64, 1677-09-21 to
// 2262-04-11 UTC); a zero RanAt is the store's current time. The Nanos fields are
// the amounts stored; an amount whose Nanos field is zero is taken from
// its USD field instead (rounded to the nearest nano-dollar), so a
// Reconciliation built with dollars only saves as well as one from
// [Store.ReconcileNow]. A USD field that is set must agree with its Nanos
// field; upstream and local must not be negative; a variance given (in
// either unit) must be upstream minus local (the dollar one to float64
// precision); the stored variance is always exactly that. LocalUnpriced
// is stored as given and must not be negative. Bad input returns an error
// matching [ErrInvalidArgument] and stores nothing. On a month file of a
// [MonthlyRollover] that a newer month has sealed it fails with
// [ErrMonthSealed] (wrapped), having written nothing, as event and
// attempt writes do: no reconciliation ID above the month's last is ever
// committed in it.
func (s *Store) SaveReconciliation(ctx context.Context, r Reconciliation) (int64, error) {
	defer s.db.Enter()()
	row, err := s.checkReconciliation(r)
	if err != nil {
		return 0, fmt.Errorf("save reconciliation: %w", err)
	}
	var id uint64
	// Like RecordAttempt, the write may run twice: it changes nothing
	// outside the transaction but the ID it draws.
	err = s.db.Submit(ctx, sqldb.Request{Rerun: true, Fn: func(t *sqldb.Tx) error {
		if err := (*wtx)(t).checkSealed(); err != nil {
			return err
		}
		var err error
		if id, err = t.Next(reconciliationIDs); err != nil {
			return err
		}
		_, err = t.Exec(`INSERT INTO reconciliations (id, provider, period_start, period_end, upstream_nusd, local_nusd, ran_at, local_unpriced)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			int64(id), r.Provider, row.start, row.end, int64(row.upstream), int64(row.local), row.ranAt, r.LocalUnpriced)
		return err
	}})
	if err != nil {
		return 0, fmt.Errorf("save reconciliation: %w", err)
	}
	return int64(id), nil
}

// reconciliationRow is a validated reconciliation's values as stored.
type reconciliationRow struct {
	start, end, ranAt int64
	upstream, local   abi.NanoUSD
}

// checkReconciliation validates r and converts what it stores differently.
func (s *Store) checkReconciliation(r Reconciliation) (reconciliationRow, error) {
	var row reconciliationRow
	if err := checkReconcileArgs(r.Provider, r.PeriodStart, r.PeriodEnd); err != nil {
		return row, err
	}
	row.start, row.end = r.PeriodStart.UnixNano(), r.PeriodEnd.UnixNano()
	if r.LocalUnpriced < 0 {
		return row, fmt.Errorf("%w: negative unpriced attempt count %d", ErrInvalidArgument, r.LocalUnpriced)
	}
	var err error
	if row.ranAt, err = s.nanos("run time", r.RanAt); err != nil {
		return row, err
	}
	if row.upstream, err = savedAmount("upstream", r.UpstreamNanos, r.UpstreamUSD); err != nil {
		return row, err
	}
	if row.local, err = savedAmount("local", r.LocalNanos, r.LocalUSD); err != nil {
		return row, err
	}
	want := row.upstream - row.local
	if r.VarianceNanos != 0 && r.VarianceNanos != want {
		return row, fmt.Errorf("%w: variance %d nano-dollars is not upstream - local = %d", ErrInvalidArgument, r.VarianceNanos, want)
	}
	if r.VarianceUSD != 0 && r.VarianceUSD != want.USD() {
		// Dollars computed by subtracting floats may be off by rounding:
		// a nano-dollar, or float64's precision at the larger amount.
		tol := 1 + float64(max(row.upstream, row.local))/(1<<50)
		if d := math.Abs(r.VarianceUSD*1e9 - float64(want)); !(d <= tol) {
			return row, fmt.Errorf("%w: variance %v USD is not upstream - local = %v USD", ErrInvalidArgument, r.VarianceUSD, want.USD())
		}
	}
	return row, nil
}

// savedAmount returns the nano-dollars of one amount of a reconciliation
// to save: n if it is set (usd must then be zero or agree), else usd
// converted.
func savedAmount(field string, n abi.NanoUSD, usd float64) (abi.NanoUSD, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: negative %s amount %d nano-dollars", ErrInvalidArgument, field, n)
	case n == 0:
		return toNanoUSD(field+" amount", usd)
	case usd != 0 && usd != n.USD():
		return 0, fmt.Errorf("%w: %s amount %v USD disagrees with %d nano-dollars", ErrInvalidArgument, field, usd, n)
	}
	return n, nil
}

// LatestReconciliation returns the saved reconciliation of provider that
// ran last (the largest RanAt; of equal ones, the largest ID), or, for an
// empty provider, the one that ran last among all providers. Without any
// it returns [ErrNoReconciliations].
func (s *Store) LatestReconciliation(ctx context.Context, provider string) (Reconciliation, error) {
	q, args := latestReconciliationQuery, []any{provider}
	if provider == "" {
		q, args = latestReconciliationAllQuery, nil
	}
	out, err := s.queryReconciliations(ctx, q, args...)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("latest reconciliation: %w", err)
	}
	return out[0], nil
}

// Reconciliations returns the saved reconciliations of provider whose
// periods overlap [start, end) (PeriodStart < end and PeriodEnd > start),
// ordered by PeriodStart, then ID; an empty provider means every
// provider. start and end must lie in the storable range (Unix nanoseconds in an int64, 1677-09-21
// to 2262-04-11 UTC) and end must not be before start (equal is an empty range,
// which nothing overlaps), else the error wraps [ErrInvalidArgument].
// Without any match it returns [ErrNoReconciliations].
func (s *Store) Reconciliations(ctx context.Context, provider string, start, end time.Time) ([]Reconciliation, error) {
	from, err := storable("range start", start)
	if err != nil {
		return nil, fmt.Errorf("reconciliations: %w", err)
	}
	to, err := storable("range end", end)
	if err != nil {
		return nil, fmt.Errorf("reconciliations: %w", err)
	}
	if to < from {
		return nil, fmt.Errorf("reconciliations: %w: range ends (%v) before it starts (%v)", ErrInvalidArgument, end, start)
	}
	if to == from {
		return nil, fmt.Errorf("reconciliations: %w", ErrNoReconciliations)
	}
	q, args := reconciliationsQuery, []any{provider, to, from}
	if provider == "" {
		q, args = reconciliationsAllQuery, []any{to, from}
	}
	out, err := s.queryReconciliations(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reconciliations: %w", err)
	}
	return out, nil
}

// queryReconciliations runs one of the reconciliation queries, whose
// columns are reconciliationColumns, and returns its rows, or
// ErrNoReconciliations if there are none.
func (s *Store) queryReconciliations(ctx context.Context, query string, args ...any) ([]Reconciliation, error) {
	var out []Reconciliation
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(query)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, args...); err != nil {
			return err
		}
		for st.Step() {
			out = append(out, scanReconciliation(st))
		}
		return st.Err()
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, ErrNoReconciliations
	}
	return out, nil
}

// scanReconciliation reads the row st is on (reconciliationColumns).
func scanReconciliation(st *sqlite3.Stmt) Reconciliation {
	return newReconciliation(st.ColumnInt64(0), st.ColumnText(1),
		time.Unix(0, st.ColumnInt64(2)), time.Unix(0, st.ColumnInt64(3)),
		abi.NanoUSD(st.ColumnInt64(4)), abi.NanoUSD(st.ColumnInt64(5)), st.ColumnInt(7),
		time.Unix(0, st.ColumnInt64(6)))
}

// The reconciliation queries. For one provider they run on the indexes
// reconciliations_ran and reconciliations_period; across providers they
// scan the table, which holds a row per provider and run (a few a day).
const (
	reconciliationColumns        = `id, provider, period_start, period_end, upstream_nusd, local_nusd, ran_at, local_unpriced`
	latestReconciliationQuery    = `SELECT ` + reconciliationColumns + ` FROM reconciliations WHERE provider = ? ORDER BY ran_at DESC, id DESC LIMIT 1`
	latestReconciliationAllQuery = `SELECT ` + reconciliationColumns + ` FROM reconciliations ORDER BY ran_at DESC, id DESC LIMIT 1`
	reconciliationsQuery         = `SELECT ` + reconciliationColumns + ` FROM reconciliations WHERE provider = ? AND period_start < ? AND period_end > ? ORDER BY period_start, id`
	reconciliationsAllQuery      = `SELECT ` + reconciliationColumns + ` FROM reconciliations WHERE period_start < ? AND period_end > ? ORDER BY period_start, id`
)

// UnpricedAttemptsInPeriod returns the number of attempts at provider that
// started in [start, end) and that nobody priced: those stored with an
// unpriced snapshot ([abi.AttemptPrice.Unpriced]: the store's price table
// had no price for them) and those recorded with neither an EstimatedUSD
// nor a Price (by a store without a price table). Their cost is unknown,
// and [Store.LocalCostNanosInPeriod] counts it as 0, so when the count is
// above zero the local cost is a lower bound. Arguments are checked as by
// LocalCostNanosInPeriod; attempts that [Store.DropMetadata] deleted no
// longer count. The count reads the unpriced attempts alone, through an
// index that holds only them.
func (s *Store) UnpricedAttemptsInPeriod(ctx context.Context, provider string, start, end time.Time) (int, error) {
	n, err := s.periodQuery(ctx, "unpriced attempts", unpricedCountQuery, provider, start, end)
	return int(n), err
}

// unpricedCondition selects the attempts nobody priced. It is, verbatim,
// the WHERE clause of the partial index provider_attempts_unpriced
// (migration 5), which SQLite uses only for a query that repeats it; the
// substr length is that of abi.UnpricedPrefix.
const unpricedCondition = `(substr(price_source, 1, 10) = 'unpriced: ' OR price_source IS NULL AND estimated_nusd = 0)`

// unpricedCountQuery counts the unpriced attempts of a provider in a
// period, on the index provider_attempts_unpriced.
const unpricedCountQuery = `SELECT count(*) FROM provider_attempts WHERE provider = ? AND started_at >= ? AND started_at < ? AND ` + unpricedCondition
