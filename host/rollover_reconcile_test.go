package host_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// allReconciliations returns every reconciliation of m, of any provider
// and period; none is an empty slice.
func allReconciliations(t *testing.T, m *host.MonthlyRollover) []host.Reconciliation {
	t.Helper()
	rs, err := m.Reconciliations(context.Background(), "", utc(2000, 1, 1, 0, 0), utc(2100, 1, 1, 0, 0))
	if errors.Is(err, host.ErrNoReconciliations) {
		return []host.Reconciliation{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func reconciliationIDs(rs []host.Reconciliation) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestRolloverReconciliations has two rollovers on one directory, their
// clocks on either side of midnight of the 1st, reconcile against the
// attempts of both months and save reconciliations in both: IDs increase
// across the months, both handles read all of them in the Store's order,
// and dropping the old month keeps them with their IDs.
func TestRolloverReconciliations(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ahead := newTestClock(utc(2026, 11, 30, 23, 0))
	behind := newTestClock(utc(2026, 11, 30, 22, 0))
	a := newRollover(t, dir, kekConfig(ahead))
	b := newRollover(t, dir, kekConfig(behind))

	for _, m := range []*host.MonthlyRollover{a, b} {
		if _, err := m.LatestReconciliation(ctx, ""); !errors.Is(err, host.ErrNoReconciliations) {
			t.Fatalf("latest of none: %v, want ErrNoReconciliations", err)
		}
		if rs := allReconciliations(t, m); len(rs) != 0 {
			t.Fatalf("reconciliations of none: %v", rs)
		}
	}

	// A priced attempt in each month, and an unpriced one (no estimate,
	// no price table) in each.
	if _, err := a.RecordAttempt(ctx, rollAttempt("s", 1, utc(2026, 11, 30, 22, 30), 0.25)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RecordAttempt(ctx, rollAttempt("s", 1, utc(2026, 11, 30, 22, 40), 0)); err != nil {
		t.Fatal(err)
	}
	f := &fakeFetcher{name: "openrouter", usd: 1}
	nov, err := a.ReconcileNow(ctx, f, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if nov.LocalNanos != 250_000_000 || nov.LocalUnpriced != 1 || nov.UpstreamNanos != 1_000_000_000 || !nov.RanAt.Equal(ahead.now()) {
		t.Fatalf("November reconciliation %+v", nov)
	}
	id1, err := a.SaveReconciliation(ctx, nov)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := b.SaveReconciliation(ctx, host.Reconciliation{Provider: "anthropic", PeriodStart: utc(2026, 11, 1, 0, 0), PeriodEnd: utc(2026, 11, 30, 0, 0), UpstreamUSD: 2, LocalUSD: 3})
	if err != nil {
		t.Fatal(err)
	}

	bNov, err := b.Current()
	if err != nil {
		t.Fatal(err)
	}
	// a crosses into December; b's clock stays in November.
	ahead.set(utc(2026, 12, 1, 1, 0))
	if _, err := a.RecordAttempt(ctx, rollAttempt("s", 2, utc(2026, 12, 1, 0, 30), 0.5)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RecordAttempt(ctx, rollAttempt("s", 2, utc(2026, 12, 1, 0, 40), 0)); err != nil {
		t.Fatal(err)
	}
	// November is sealed: a save that raced the change of month is
	// refused there, writing nothing, and the rollover retries it in
	// December.
	late := host.Reconciliation{Provider: "late", PeriodStart: utc(2026, 11, 1, 0, 0), PeriodEnd: utc(2026, 11, 2, 0, 0)}
	if _, err := bNov.SaveReconciliation(ctx, late); !errors.Is(err, host.ErrMonthSealed) {
		t.Fatalf("save in sealed November: %v, want ErrMonthSealed", err)
	}
	if _, err := bNov.LatestReconciliation(ctx, "late"); !errors.Is(err, host.ErrNoReconciliations) {
		t.Fatalf("the refused save left a row: %v", err)
	}
	f.calls = nil
	dec, err := a.ReconcileNow(ctx, f, 3*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if dec.LocalNanos != 750_000_000 || dec.LocalUnpriced != 2 {
		t.Fatalf("local cost across November and December = %d nano-dollars with %d unpriced attempts, want 750000000 and 2", dec.LocalNanos, dec.LocalUnpriced)
	}
	if want := [2]time.Time{utc(2026, 11, 30, 22, 0), utc(2026, 12, 1, 1, 0)}; len(f.calls) != 1 || !f.calls[0][0].Equal(want[0]) || !f.calls[0][1].Equal(want[1]) {
		t.Fatalf("fetcher asked for %v, want one call for %v", f.calls, want)
	}
	id3, err := a.SaveReconciliation(ctx, dec)
	if err != nil {
		t.Fatal(err)
	}
	id4, err := b.SaveReconciliation(ctx, host.Reconciliation{Provider: "openrouter", PeriodStart: utc(2026, 11, 29, 0, 0), PeriodEnd: utc(2026, 11, 30, 0, 0), LocalNanos: 7})
	if err != nil {
		t.Fatal(err)
	}
	ids := []int64{id1, id2, id3, id4}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != 4 {
		t.Fatalf("reconciliation IDs not strictly increasing across months: %v", ids)
	}
	if got := len(mustList(t, a)); got != 2 {
		t.Fatalf("%d month files, want 2", got)
	}

	// Ordered by period start, then ID, as the Store orders them.
	want := []int64{id2, id4, id1, id3}
	for _, m := range []*host.MonthlyRollover{a, b} {
		if got := reconciliationIDs(allReconciliations(t, m)); !slices.Equal(got, want) {
			t.Fatalf("reconciliations %v, want %v", got, want)
		}
		rs, err := m.Reconciliations(ctx, "openrouter", utc(2026, 11, 30, 0, 0), utc(2026, 12, 2, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got := reconciliationIDs(rs); !slices.Equal(got, []int64{id1, id3}) {
			t.Fatalf("openrouter's reconciliations from 30 November: %v, want %v", got, []int64{id1, id3})
		}
		latest, err := m.LatestReconciliation(ctx, "openrouter")
		if err != nil {
			t.Fatal(err)
		}
		if latest.ID != id3 || latest.LocalNanos != dec.LocalNanos || latest.LocalUnpriced != 2 || latest.VarianceNanos != dec.VarianceNanos {
			t.Fatalf("latest openrouter reconciliation %+v, want ID %d", latest, id3)
		}
		// id4 ran on b's clock, before id3: the latest is by run time.
		if latest, err := m.LatestReconciliation(ctx, ""); err != nil || latest.ID != id3 {
			t.Fatalf("latest of all: %+v, %v; want ID %d", latest, err, id3)
		}
		if latest, err := m.LatestReconciliation(ctx, "anthropic"); err != nil || latest.ID != id2 {
			t.Fatalf("latest anthropic: %+v, %v; want ID %d", latest, err, id2)
		}
		if _, err := m.LatestReconciliation(ctx, "zai"); !errors.Is(err, host.ErrNoReconciliations) {
			t.Fatalf("latest of a provider without any: %v, want ErrNoReconciliations", err)
		}
		if _, err := m.Reconciliations(ctx, "openrouter", utc(2027, 1, 1, 0, 0), utc(2027, 2, 1, 0, 0)); !errors.Is(err, host.ErrNoReconciliations) {
			t.Fatalf("reconciliations of a range without any: %v, want ErrNoReconciliations", err)
		}
	}
	before := allReconciliations(t, a)

	// Dropping November, twice: the reconciliations move to December
	// with their IDs and amounts, and new ones continue above.
	for range 2 {
		dropped, err := a.DropMonthsBefore(ctx, utc(2026, 12, 1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got := reconciliationIDs(allReconciliations(t, a)); !slices.Equal(got, want) {
			t.Fatalf("after dropping %v: reconciliations %v, want %v", dropped, got, want)
		}
	}
	if got := allReconciliations(t, b); !slices.EqualFunc(got, before, sameReconciliation) {
		t.Fatalf("after the drop, reconciliations read %+v, were %+v", got, before)
	}
	if got := len(mustList(t, a)); got != 1 {
		t.Fatalf("%d month files after the drop, want 1", got)
	}
	id5, err := b.SaveReconciliation(ctx, host.Reconciliation{Provider: "openrouter", PeriodStart: utc(2026, 12, 1, 0, 0), PeriodEnd: utc(2026, 12, 2, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if id5 <= id4 {
		t.Fatalf("reconciliation saved after the drop has ID %d, not above %d", id5, id4)
	}
}

// TestRolloverReconciliationErrors: bad arguments and a failing fetcher
// return their errors and save nothing; after Close every method fails
// with ErrClosed without calling the fetcher.
func TestRolloverReconciliationErrors(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock(utc(2026, 11, 30, 23, 0))
	m := newRollover(t, t.TempDir(), kekConfig(clock))
	f := &fakeFetcher{name: "openrouter", usd: 1}
	for _, period := range []time.Duration{0, -time.Hour} {
		if _, err := m.ReconcileNow(ctx, f, period); !errors.Is(err, host.ErrInvalidArgument) {
			t.Fatalf("period %v: %v, want ErrInvalidArgument", period, err)
		}
	}
	if _, err := m.ReconcileNow(ctx, nil, time.Hour); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("nil fetcher: %v, want ErrInvalidArgument", err)
	}
	boom := errors.New("billing API down")
	if _, err := m.ReconcileNow(ctx, &fakeFetcher{name: "openrouter", err: boom}, time.Hour); !errors.Is(err, boom) {
		t.Fatalf("failing fetcher: %v, want its error", err)
	}
	for _, r := range []host.Reconciliation{
		{PeriodStart: utc(2026, 11, 1, 0, 0), PeriodEnd: utc(2026, 11, 2, 0, 0)},                                         // no provider
		{Provider: "openrouter", PeriodStart: utc(2026, 11, 2, 0, 0), PeriodEnd: utc(2026, 11, 1, 0, 0)},                 // reversed
		{Provider: "openrouter", PeriodStart: utc(2026, 11, 1, 0, 0), PeriodEnd: utc(2026, 11, 2, 0, 0), LocalNanos: -1}, // negative
		{Provider: "openrouter", PeriodStart: utc(2026, 11, 1, 0, 0), PeriodEnd: utc(2026, 11, 2, 0, 0), UpstreamNanos: 5, LocalNanos: 2, VarianceNanos: 1},
	} {
		if _, err := m.SaveReconciliation(ctx, r); !errors.Is(err, host.ErrInvalidArgument) {
			t.Fatalf("save %+v: %v, want ErrInvalidArgument", r, err)
		}
	}
	if _, err := m.Reconciliations(ctx, "", utc(2026, 11, 2, 0, 0), utc(2026, 11, 1, 0, 0)); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("reversed range: %v, want ErrInvalidArgument", err)
	}
	if rs := allReconciliations(t, m); len(rs) != 0 {
		t.Fatalf("failed saves stored %v", rs)
	}
	if len(f.calls) != 0 {
		t.Fatalf("fetcher called %d times for bad arguments", len(f.calls))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReconcileNow(ctx, f, time.Hour); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("ReconcileNow after Close: %v, want ErrClosed", err)
	}
	if len(f.calls) != 0 {
		t.Fatal("ReconcileNow after Close called the fetcher")
	}
	if _, err := m.SaveReconciliation(ctx, host.Reconciliation{Provider: "openrouter", PeriodStart: utc(2026, 11, 1, 0, 0), PeriodEnd: utc(2026, 11, 2, 0, 0)}); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("SaveReconciliation after Close: %v, want ErrClosed", err)
	}
	if _, err := m.LatestReconciliation(ctx, ""); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("LatestReconciliation after Close: %v, want ErrClosed", err)
	}
	if _, err := m.Reconciliations(ctx, "", utc(2026, 11, 1, 0, 0), utc(2026, 12, 1, 0, 0)); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("Reconciliations after Close: %v, want ErrClosed", err)
	}
}

// TestRolloverReconciliationProcesses has two processes save
// reconciliations across the change of month, their clocks crossing it
// at different moments: every acknowledged one is read back once, in one
// month, with its amount; IDs are unique across the months, increase in
// each process, and those of December are above those of November.
func TestRolloverReconciliationProcesses(t *testing.T) {
	proc.Skip(t)
	ctx := context.Background()
	dir := t.TempDir()
	total := proc.Rounds(t, 100, 40)
	procs, wait := startRolloverChildren(t, []rolloverArgs{
		{Dir: dir, N: 1, Switch: total / 4, Total: total, Reconcile: true},
		{Dir: dir, N: 2, Switch: 3 * total / 4, Total: total, Reconcile: true},
	})
	acks := wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if len(acks) != 2*total {
		t.Fatalf("%d acknowledged saves, want %d", len(acks), 2*total)
	}
	last := map[abi.SessionID]uint64{}
	for _, a := range acks {
		if a.id <= last[a.sess] {
			t.Fatalf("%s: ID %d after %d", a.sess, a.id, last[a.sess])
		}
		last[a.sess] = a.id
	}
	m := newRollover(t, dir, host.NewConfig().WithKEKSource(keyring.RawKEK(rolloverKEK)).WithClock(func() time.Time { return utc(2026, 11, 1, 0, 0) }))
	got := map[int64]host.Reconciliation{}
	for _, r := range allReconciliations(t, m) {
		if _, dup := got[r.ID]; dup {
			t.Fatalf("reconciliation %d read twice", r.ID)
		}
		got[r.ID] = r
	}
	for _, a := range acks {
		r, ok := got[int64(a.id)]
		if !ok || r.Provider != string(a.sess) || strconv.FormatInt(int64(r.UpstreamNanos), 10) != a.payload {
			t.Fatalf("acknowledged reconciliation %d (%s, %s) reads %+v", a.id, a.sess, a.payload, r)
		}
		delete(got, int64(a.id))
	}
	if len(got) != 0 {
		t.Fatalf("%d reconciliations nobody acknowledged", len(got))
	}
	// Each month on its own: December's IDs above November's.
	paths := mustList(t, m)
	if len(paths) != 2 {
		t.Fatalf("month files %v, want November and December", paths)
	}
	var prevMax int64
	for _, p := range paths {
		s, err := host.OpenWithKEK(p, rolloverKEK)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := s.Reconciliations(ctx, "", utc(2026, 11, 1, 0, 0), utc(2026, 12, 1, 0, 0))
		s.Close()
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		ids := reconciliationIDs(rs)
		if slices.Min(ids) <= prevMax {
			t.Fatalf("%s starts at reconciliation %d, not above the previous month's %d", filepath.Base(p), slices.Min(ids), prevMax)
		}
		prevMax = slices.Max(ids)
		t.Logf("%s: %d reconciliations", filepath.Base(p), len(ids))
	}
}
