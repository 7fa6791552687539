package host_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

// fakeFetcher reports usd (or err) for every period and records the
// periods it was asked about.
type fakeFetcher struct {
	name  string
	usd   float64
	err   error
	calls [][2]time.Time
}

func (f *fakeFetcher) Name() string { return f.name }

func (f *fakeFetcher) FetchUsageUSD(ctx context.Context, start, end time.Time) (float64, error) {
	f.calls = append(f.calls, [2]time.Time{start, end})
	return f.usd, f.err
}

// fakeLocal is a LocalCoster with a fixed answer that records its calls.
type fakeLocal struct {
	n     abi.NanoUSD
	err   error
	calls []string
}

func (l *fakeLocal) LocalCostNanosInPeriod(ctx context.Context, provider string, start, end time.Time) (abi.NanoUSD, error) {
	l.calls = append(l.calls, fmt.Sprintf("%s %d %d", provider, start.UnixNano(), end.UnixNano()))
	return l.n, l.err
}

// reconT0 is the injected clock's time in the reconciliation tests.
var reconT0 = time.Date(2026, 8, 2, 0, 0, 0, 0, time.UTC)

func openClockStore(tb testing.TB, now time.Time) (*host.Store, string) {
	tb.Helper()
	path := tempStorePath(tb)
	s, err := host.OpenWithConfig(path, host.NewConfig().WithClock(func() time.Time { return now }))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

func sameReconciliation(a, b host.Reconciliation) bool {
	return a.ID == b.ID && a.Provider == b.Provider && a.PeriodStart.Equal(b.PeriodStart) && a.PeriodEnd.Equal(b.PeriodEnd) &&
		a.RanAt.Equal(b.RanAt) && a.UpstreamNanos == b.UpstreamNanos && a.LocalNanos == b.LocalNanos &&
		a.VarianceNanos == b.VarianceNanos && a.UpstreamUSD == b.UpstreamUSD && a.LocalUSD == b.LocalUSD &&
		a.VarianceUSD == b.VarianceUSD && a.LocalUnpriced == b.LocalUnpriced
}

// TestReconcileNow: the period is [now - period, now) of the injected
// clock, the local side is the exact sum of that provider's attempts in
// it, the upstream dollars are rounded once to nano-dollars, variance is
// upstream - local, and nothing is saved.
func TestReconcileNow(t *testing.T) {
	s, _ := openClockStore(t, reconT0)
	ctx := context.Background()
	start := reconT0.Add(-24 * time.Hour)
	var want int64
	for i := range 30 {
		// Attempts from 3 hours before the period to 3 hours after its
		// start, one every 10 minutes, plus one exactly at its end.
		off := start.Add(-3*time.Hour + time.Duration(i)*12*time.Minute)
		nusd := int64(i)*987_654_321 + 7
		a := testAttempt("s", i, nusd, off.Sub(attemptT0))
		if !off.Before(start) {
			want += nusd
		}
		mustRecord(t, s, a)
		a.Provider = "openai"
		mustRecord(t, s, a)
	}
	atEnd := testAttempt("s", 99, 5_000_000_000, reconT0.Sub(attemptT0))
	mustRecord(t, s, atEnd)

	f := &fakeFetcher{name: "anthropic", usd: 12.3456789014}
	r, err := s.ReconcileNow(ctx, f, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 || !f.calls[0][0].Equal(start) || !f.calls[0][1].Equal(reconT0) {
		t.Fatalf("fetcher asked about %v, want one call for [%v, %v)", f.calls, start, reconT0)
	}
	const up = 12_345_678_901
	if r.ID != 0 || r.Provider != "anthropic" || !r.PeriodStart.Equal(start) || !r.PeriodEnd.Equal(reconT0) || !r.RanAt.Equal(reconT0) {
		t.Errorf("reconciliation = %+v", r)
	}
	if r.UpstreamNanos != up || int64(r.LocalNanos) != want || int64(r.VarianceNanos) != up-want {
		t.Errorf("nanos: upstream %d local %d variance %d; want %d %d %d", r.UpstreamNanos, r.LocalNanos, r.VarianceNanos, up, want, up-want)
	}
	if r.UpstreamUSD != float64(up)/1e9 || r.LocalUSD != float64(want)/1e9 || r.VarianceUSD != float64(up-want)/1e9 {
		t.Errorf("dollars: upstream %v local %v variance %v", r.UpstreamUSD, r.LocalUSD, r.VarianceUSD)
	}
	if r.VarianceNanos >= 0 {
		t.Fatalf("fixture should make local exceed upstream (variance %d): the sign is not tested", r.VarianceNanos)
	}
	if _, err := s.LatestReconciliation(ctx, ""); !errors.Is(err, host.ErrNoReconciliations) {
		t.Fatalf("ReconcileNow saved something: LatestReconciliation = %v", err)
	}

	// Saved, it reads back identical but for its ID.
	id, err := s.SaveReconciliation(ctx, r)
	if err != nil || id != 1 {
		t.Fatalf("SaveReconciliation = %d, %v; want ID 1", id, err)
	}
	got, err := s.LatestReconciliation(ctx, "anthropic")
	r.ID = id
	if err != nil || !sameReconciliation(got, r) {
		t.Fatalf("LatestReconciliation = %+v, %v; want %+v", got, err, r)
	}

	// A provider with no attempts: the whole upstream amount is variance,
	// with a positive sign.
	r2, err := s.ReconcileNow(ctx, &fakeFetcher{name: "zai", usd: 0.3}, time.Hour)
	if err != nil || r2.LocalNanos != 0 || r2.UpstreamNanos != 300_000_000 || r2.VarianceNanos != 300_000_000 || r2.VarianceUSD != 0.3 {
		t.Fatalf("ReconcileNow(zai) = %+v, %v", r2, err)
	}
}

// TestReconcileUpstreamRounding: the fetcher's dollars are rounded once
// to the nearest nano-dollar; amounts that are not amounts are
// ErrUpstreamAmount.
func TestReconcileUpstreamRounding(t *testing.T) {
	s, _ := openClockStore(t, reconT0)
	ctx := context.Background()
	for _, c := range []struct {
		usd  float64
		want abi.NanoUSD
	}{
		{0, 0}, {0.1 + 0.2, 300_000_000}, {1.0000000004, 1_000_000_000}, {1.0000000006, 1_000_000_001},
		{4e-10, 0}, {6e-10, 1}, {9.2e9, 9_200_000_000_000_000_000},
	} {
		r, err := s.ReconcileNow(ctx, &fakeFetcher{name: "p", usd: c.usd}, time.Hour)
		if err != nil || r.UpstreamNanos != c.want {
			t.Errorf("upstream %v USD: %d nano-dollars, %v; want %d", c.usd, r.UpstreamNanos, err, c.want)
		}
	}
	for _, usd := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1e-9, -5, 9.3e9, math.MaxFloat64} {
		r, err := s.ReconcileNow(ctx, &fakeFetcher{name: "p", usd: usd}, time.Hour)
		if !errors.Is(err, host.ErrUpstreamAmount) || r != (host.Reconciliation{}) {
			t.Errorf("upstream %v USD: %+v, %v; want ErrUpstreamAmount", usd, r, err)
		}
	}
}

// errBilling is a fetcher's own error type.
type errBilling struct{ status int }

func (e *errBilling) Error() string { return fmt.Sprintf("billing API: status %d", e.status) }

// TestReconcileErrors: a failed fetch returns the fetcher's error,
// wrapped, and saves nothing; bad arguments fail before the fetcher is
// asked.
func TestReconcileErrors(t *testing.T) {
	s, _ := openClockStore(t, reconT0)
	ctx := context.Background()
	mustRecord(t, s, testAttempt("s", 1, 100, 0))

	f := &fakeFetcher{name: "anthropic", err: &errBilling{503}}
	r, err := s.ReconcileNow(ctx, f, 24*time.Hour)
	var be *errBilling
	if !errors.As(err, &be) || be.status != 503 || r != (host.Reconciliation{}) {
		t.Fatalf("ReconcileNow with a failing fetcher = %+v, %v; want the fetcher's error", r, err)
	}
	if _, err := s.LatestReconciliation(ctx, ""); !errors.Is(err, host.ErrNoReconciliations) {
		t.Fatalf("a failed reconciliation saved something: %v", err)
	}
	f.err = context.DeadlineExceeded
	if _, err := s.ReconcileNow(ctx, f, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReconcileNow = %v, want the fetcher's DeadlineExceeded", err)
	}

	long := string(make([]byte, host.MaxAttemptString+1))
	for _, c := range []struct {
		name    string
		fetcher host.UpstreamUsageFetcher
		period  time.Duration
	}{
		{"nil fetcher", nil, time.Hour},
		{"empty name", &fakeFetcher{}, time.Hour},
		{"long name", &fakeFetcher{name: long}, time.Hour},
		{"zero period", &fakeFetcher{name: "p"}, 0},
		{"negative period", &fakeFetcher{name: "p"}, -time.Hour},
	} {
		r, err := s.ReconcileNow(ctx, c.fetcher, c.period)
		if !errors.Is(err, host.ErrInvalidArgument) || r != (host.Reconciliation{}) {
			t.Errorf("%s: ReconcileNow = %+v, %v; want ErrInvalidArgument", c.name, r, err)
		}
		if f, ok := c.fetcher.(*fakeFetcher); ok && len(f.calls) != 0 {
			t.Errorf("%s: the fetcher was asked", c.name)
		}
	}
	// A period reaching back before 1678.
	s1800, _ := openClockStore(t, time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC))
	f = &fakeFetcher{name: "p"}
	if _, err := s1800.ReconcileNow(ctx, f, time.Duration(math.MaxInt64)); !errors.Is(err, host.ErrInvalidArgument) || len(f.calls) != 0 {
		t.Errorf("period starting in 1508: ReconcileNow = %v after %d fetches; want ErrInvalidArgument and none", err, len(f.calls))
	}
}

// TestReconcileLocalCoster: Reconcile takes its local side from any
// LocalCoster, asked about the fetcher's provider and the same period;
// its error stops the reconciliation before the fetch.
func TestReconcileLocalCoster(t *testing.T) {
	ctx := context.Background()
	start, end, ran := reconT0.Add(-time.Hour), reconT0, reconT0.Add(time.Minute)
	l := &fakeLocal{n: 2_500_000_001}
	f := &fakeFetcher{name: "openrouter", usd: 2}
	r, err := host.Reconcile(ctx, l, f, start, end, ran)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("openrouter %d %d", start.UnixNano(), end.UnixNano()); len(l.calls) != 1 || l.calls[0] != want {
		t.Errorf("local coster calls %q, want [%q]", l.calls, want)
	}
	if r.LocalNanos != 2_500_000_001 || r.UpstreamNanos != 2_000_000_000 || r.VarianceNanos != -500_000_001 ||
		r.VarianceUSD != -0.500000001 || !r.RanAt.Equal(ran) || !r.PeriodStart.Equal(start) || !r.PeriodEnd.Equal(end) {
		t.Errorf("Reconcile = %+v", r)
	}

	l.err = errors.New("ledger unavailable")
	f.calls = nil
	if _, err := host.Reconcile(ctx, l, f, start, end, ran); !errors.Is(err, l.err) || len(f.calls) != 0 {
		t.Errorf("Reconcile with a failing local side = %v, %d fetches; want its error and none", err, len(f.calls))
	}
	l.err = nil
	for _, c := range []struct {
		name            string
		local           host.LocalCoster
		start, end, ran time.Time
	}{
		{"nil local", nil, start, end, ran},
		{"empty period", l, start, start, ran},
		{"reversed period", l, end, start, ran},
		{"zero start", l, time.Time{}, end, ran},
		{"zero run time", l, start, end, time.Time{}},
	} {
		if _, err := host.Reconcile(ctx, c.local, f, c.start, c.end, c.ran); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("%s: Reconcile = %v, want ErrInvalidArgument", c.name, err)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("the fetcher was asked despite bad arguments: %v", f.calls)
	}
}

// testReconciliation is a valid reconciliation of provider p over the
// hour starting h hours after reconT0, run at its end.
func testReconciliation(p string, h int, upstream, local abi.NanoUSD) host.Reconciliation {
	start := reconT0.Add(time.Duration(h) * time.Hour)
	return host.Reconciliation{Provider: p, PeriodStart: start, PeriodEnd: start.Add(time.Hour), RanAt: start.Add(time.Hour),
		UpstreamNanos: upstream, LocalNanos: local}
}

// TestSaveReconciliationInput: amounts given in dollars only or nano-
// dollars only save exactly; a zero RanAt is the store's clock; bad input
// is ErrInvalidArgument and stores nothing.
func TestSaveReconciliationInput(t *testing.T) {
	s, _ := openClockStore(t, reconT0)
	ctx := context.Background()
	start := reconT0.Add(-time.Hour)
	dollars := host.Reconciliation{Provider: "a", PeriodStart: start, PeriodEnd: reconT0, UpstreamUSD: 0.1 + 0.2, LocalUSD: 0.1, VarianceUSD: 0.1 + 0.2 - 0.1}
	id, err := s.SaveReconciliation(ctx, dollars)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestReconciliation(ctx, "a")
	if err != nil || got.ID != id || got.UpstreamNanos != 300_000_000 || got.LocalNanos != 100_000_000 || got.VarianceNanos != 200_000_000 ||
		got.VarianceUSD != 0.2 || !got.RanAt.Equal(reconT0) {
		t.Fatalf("dollars-only reconciliation read back as %+v, %v", got, err)
	}
	nanos := testReconciliation("b", 0, 1, 3)
	nanos.UpstreamUSD, nanos.VarianceNanos = 1e-9, -2 // agreeing
	id2, err := s.SaveReconciliation(ctx, nanos)
	if err != nil || id2 != id+1 {
		t.Fatalf("SaveReconciliation = %d, %v; want ID %d", id2, err, id+1)
	}
	if got, err := s.LatestReconciliation(ctx, "b"); err != nil || got.VarianceNanos != -2 || got.VarianceUSD != -2e-9 || got.LocalUSD != 3e-9 {
		t.Fatalf("nano-dollar reconciliation read back as %+v, %v", got, err)
	}
	// A large variance computed by subtracting float dollars is accepted
	// and stored exactly.
	big := host.Reconciliation{Provider: "c", PeriodStart: start, PeriodEnd: reconT0, UpstreamNanos: 8_123_456_789_123_456_789, LocalNanos: 1_000_000_000_000_000_001}
	big.VarianceUSD = big.UpstreamNanos.USD() - big.LocalNanos.USD()
	if _, err := s.SaveReconciliation(ctx, big); err != nil {
		t.Fatalf("float variance of large amounts: %v", err)
	}
	if got, err := s.LatestReconciliation(ctx, "c"); err != nil || got.VarianceNanos != 7_123_456_789_123_456_788 {
		t.Fatalf("large reconciliation read back as %+v, %v", got, err)
	}

	long := string(make([]byte, host.MaxAttemptString+1))
	bad := map[string]func(r *host.Reconciliation){
		"empty provider":        func(r *host.Reconciliation) { r.Provider = "" },
		"long provider":         func(r *host.Reconciliation) { r.Provider = long },
		"zero start":            func(r *host.Reconciliation) { r.PeriodStart = time.Time{} },
		"zero end":              func(r *host.Reconciliation) { r.PeriodEnd = time.Time{} },
		"empty period":          func(r *host.Reconciliation) { r.PeriodEnd = r.PeriodStart },
		"reversed period":       func(r *host.Reconciliation) { r.PeriodStart, r.PeriodEnd = r.PeriodEnd, r.PeriodStart },
		"end beyond range":      func(r *host.Reconciliation) { r.PeriodEnd = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"run time beyond range": func(r *host.Reconciliation) { r.RanAt = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) },
		"negative upstream":     func(r *host.Reconciliation) { r.UpstreamNanos = -1 },
		"negative local USD":    func(r *host.Reconciliation) { r.LocalNanos, r.LocalUSD = 0, -0.5 },
		"NaN upstream USD":      func(r *host.Reconciliation) { r.UpstreamNanos, r.UpstreamUSD = 0, math.NaN() },
		"infinite local USD":    func(r *host.Reconciliation) { r.LocalNanos, r.LocalUSD = 0, math.Inf(1) },
		"USD disagrees":         func(r *host.Reconciliation) { r.UpstreamUSD = 99 },
		"variance nanos wrong":  func(r *host.Reconciliation) { r.VarianceNanos = 1 },
		"variance USD wrong":    func(r *host.Reconciliation) { r.VarianceUSD = 2 },
		"variance USD NaN":      func(r *host.Reconciliation) { r.VarianceUSD = math.NaN() },
		"variance sign flipped": func(r *host.Reconciliation) { r.VarianceNanos = r.LocalNanos - r.UpstreamNanos },
		"negative unpriced":     func(r *host.Reconciliation) { r.LocalUnpriced = -1 },
	}
	for name, mutate := range bad {
		r := testReconciliation("bad", 0, 5_000_000_000, 4_000_000_000)
		mutate(&r)
		if id, err := s.SaveReconciliation(ctx, r); !errors.Is(err, host.ErrInvalidArgument) || id != 0 {
			t.Errorf("%s: SaveReconciliation = %d, %v; want ErrInvalidArgument", name, id, err)
		}
	}
	if _, err := s.LatestReconciliation(ctx, "bad"); !errors.Is(err, host.ErrNoReconciliations) {
		t.Errorf("invalid reconciliations were stored: %v", err)
	}

	// Retention keeps reconciliations: they are not session data.
	if _, err := s.ApplyRetention(ctx, time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DropMetadata(ctx, time.Nanosecond, nil); err != nil {
		t.Fatal(err)
	}
	if all, err := s.Reconciliations(ctx, "", start, reconT0.Add(time.Hour)); err != nil || len(all) != 3 {
		t.Errorf("after retention: Reconciliations = %d, %v; want 3", len(all), err)
	}
}

// TestReconciliationQueries: the latest is by run time (then ID), per
// provider or across all; ranges select overlapping periods in period
// order; no match is ErrNoReconciliations.
func TestReconciliationQueries(t *testing.T) {
	s, _ := openClockStore(t, reconT0)
	ctx := context.Background()
	if _, err := s.Reconciliations(ctx, "", reconT0, reconT0.Add(time.Hour)); !errors.Is(err, host.ErrNoReconciliations) {
		t.Fatalf("Reconciliations on an empty store = %v", err)
	}
	// Hours 0..9 for "a", saved out of order; even hours for "b".
	saved := map[string][]host.Reconciliation{}
	for _, h := range []int{3, 0, 9, 5, 1, 8, 2, 7, 4, 6} {
		for _, p := range []string{"a", "b"} {
			if p == "b" && h%2 != 0 {
				continue
			}
			r := testReconciliation(p, h, abi.NanoUSD(h*1000+len(p)), abi.NanoUSD(h*10))
			id, err := s.SaveReconciliation(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			r.ID = id
			saved[p] = append(saved[p], withDerived(r))
		}
	}
	// A rerun of a's hour 2, run later than everything: the latest of a
	// and of all, though its period is not the last.
	rerun := testReconciliation("a", 2, 1, 1)
	rerun.RanAt = reconT0.Add(100 * time.Hour)
	id, err := s.SaveReconciliation(ctx, rerun)
	if err != nil {
		t.Fatal(err)
	}
	rerun.ID = id
	rerun = withDerived(rerun)

	for _, c := range []struct {
		provider string
		want     host.Reconciliation
	}{{"a", rerun}, {"", rerun}, {"b", find(saved["b"], 8)}} {
		got, err := s.LatestReconciliation(ctx, c.provider)
		if err != nil || !sameReconciliation(got, c.want) {
			t.Errorf("LatestReconciliation(%q) = %+v, %v; want %+v", c.provider, got, err, c.want)
		}
	}
	// Equal run times: the larger ID is the latest.
	tie := testReconciliation("b", 8, 42, 0)
	if tie.ID, err = s.SaveReconciliation(ctx, tie); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LatestReconciliation(ctx, "b"); err != nil || got.ID != tie.ID {
		t.Errorf("LatestReconciliation(b) after a tie = %+v, %v; want ID %d", got, err, tie.ID)
	}
	if _, err := s.LatestReconciliation(ctx, "c"); !errors.Is(err, host.ErrNoReconciliations) {
		t.Errorf("LatestReconciliation(c) = %v, want ErrNoReconciliations", err)
	}

	// [2h30, 5h): overlaps a's hours 2 (twice), 3 and 4; b's 2 and 4.
	from, to := reconT0.Add(150*time.Minute), reconT0.Add(5*time.Hour)
	got, err := s.Reconciliations(ctx, "a", from, to)
	want := []host.Reconciliation{find(saved["a"], 2), rerun, find(saved["a"], 3), find(saved["a"], 4)}
	if err != nil || !slices.EqualFunc(got, want, sameReconciliation) {
		t.Errorf("Reconciliations(a, 2h30, 5h) = %+v, %v; want %+v", got, err, want)
	}
	got, err = s.Reconciliations(ctx, "", from, to)
	var hours []string
	for _, r := range got {
		hours = append(hours, fmt.Sprint(r.Provider, r.PeriodStart.Sub(reconT0).Hours()))
	}
	if wantHours := []string{"a2", "b2", "a2", "a3", "a4", "b4"}; err != nil || !slices.Equal(hours, wantHours) {
		t.Errorf("Reconciliations(all, 2h30, 5h) = %v, %v; want %v", hours, err, wantHours)
	}
	for _, c := range []struct {
		name     string
		provider string
		from, to time.Time
	}{
		{"empty range", "a", from, from},
		{"ends where the first period starts", "a", reconT0.Add(-time.Hour), reconT0},
		{"starts where the last period ends", "", reconT0.Add(10 * time.Hour), reconT0.Add(20 * time.Hour)},
		{"unknown provider", "c", reconT0, reconT0.Add(20 * time.Hour)},
	} {
		if got, err := s.Reconciliations(ctx, c.provider, c.from, c.to); !errors.Is(err, host.ErrNoReconciliations) || got != nil {
			t.Errorf("%s: Reconciliations = %v, %v; want ErrNoReconciliations", c.name, got, err)
		}
	}
	for _, c := range []struct {
		name     string
		from, to time.Time
	}{
		{"reversed", to, from},
		{"zero start", time.Time{}, to},
		{"end beyond range", from, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := s.Reconciliations(ctx, "a", c.from, c.to); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("%s: Reconciliations = %v, want ErrInvalidArgument", c.name, err)
		}
	}
}

// withDerived returns r with the variance and the dollar fields as a
// saved reconciliation reads back.
func withDerived(r host.Reconciliation) host.Reconciliation {
	r.VarianceNanos = r.UpstreamNanos - r.LocalNanos
	r.UpstreamUSD, r.LocalUSD, r.VarianceUSD = r.UpstreamNanos.USD(), r.LocalNanos.USD(), r.VarianceNanos.USD()
	return r
}

// find returns the reconciliation of rs over the hour starting h hours
// after reconT0.
func find(rs []host.Reconciliation, h int) host.Reconciliation {
	for _, r := range rs {
		if r.PeriodStart.Equal(reconT0.Add(time.Duration(h) * time.Hour)) {
			return r
		}
	}
	panic(fmt.Sprint("no reconciliation of hour ", h))
}

// TestReconciliationsClosed: every method fails with ErrClosed after
// Close, and ReconcileNow does not ask the fetcher.
func TestReconciliationsClosed(t *testing.T) {
	s, err := host.Open(tempStorePath(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ctx := context.Background()
	f := &fakeFetcher{name: "p", usd: 1}
	if _, err := s.ReconcileNow(ctx, f, time.Hour); !errors.Is(err, host.ErrClosed) || len(f.calls) != 0 {
		t.Errorf("ReconcileNow = %v after %d fetches", err, len(f.calls))
	}
	if _, err := s.SaveReconciliation(ctx, testReconciliation("p", 0, 1, 1)); !errors.Is(err, host.ErrClosed) {
		t.Errorf("SaveReconciliation = %v", err)
	}
	if _, err := s.LatestReconciliation(ctx, ""); !errors.Is(err, host.ErrClosed) {
		t.Errorf("LatestReconciliation = %v", err)
	}
	if _, err := s.Reconciliations(ctx, "", reconT0, reconT0.Add(time.Hour)); !errors.Is(err, host.ErrClosed) {
		t.Errorf("Reconciliations = %v", err)
	}
}

// reconCost is the upstream amount of writer w's i-th reconciliation.
func reconCost(w, i int) abi.NanoUSD { return abi.NanoUSD(w*1_000_000_007 + i*13 + 1) }

// reconUnpriced is the unpriced attempt count of writer w's i-th
// reconciliation.
func reconUnpriced(w, i int) int { return (w*7 + i) % 11 }

// checkReconciliationRows fails t unless the store holds every writer's
// reconciliations, ids[w][i] being writer w's i-th (provider "w<w>", hour
// i), with unique IDs increasing per writer.
func checkReconciliationRows(t *testing.T, s *host.Store, ids [][]int64) {
	t.Helper()
	checkAttemptIDs(t, ids)
	all, err := s.Reconciliations(context.Background(), "", reconT0, reconT0.Add(10000*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	byID := make(map[int64]host.Reconciliation, len(all))
	for _, r := range all {
		byID[r.ID] = r
	}
	n := 0
	for w, list := range ids {
		n += len(list)
		for i, id := range list {
			r, ok := byID[id]
			if !ok || r.Provider != fmt.Sprint("w", w) || !r.PeriodStart.Equal(reconT0.Add(time.Duration(i)*time.Hour)) || r.UpstreamNanos != reconCost(w, i) ||
				r.LocalUnpriced != reconUnpriced(w, i) {
				t.Fatalf("writer %d's reconciliation %d (ID %d) read back as %+v (found %v)", w, i, id, r, ok)
			}
		}
	}
	if len(all) != n {
		t.Fatalf("store holds %d reconciliations, writers saved %d", len(all), n)
	}
}

// saveReconciliations saves m reconciliations of writer w through s and
// calls ack with each ID.
func saveReconciliations(s *host.Store, w, m int, ack func(id int64)) error {
	for i := range m {
		r := testReconciliation(fmt.Sprint("w", w), i, reconCost(w, i), 1)
		r.LocalUnpriced = reconUnpriced(w, i)
		id, err := s.SaveReconciliation(context.Background(), r)
		if err != nil {
			return err
		}
		ack(id)
	}
	return nil
}

// TestReconciliationsTwoHandles saves reconciliations through two Stores
// on one file in one process, concurrently: IDs are unique and nothing is
// lost.
func TestReconciliationsTwoHandles(t *testing.T) {
	path := tempStorePath(t)
	var handles []*host.Store
	for range 2 {
		s, err := host.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		handles = append(handles, s)
	}
	const writers, per = 6, 40
	ids := make([][]int64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			if err := saveReconciliations(handles[w%2], w, per, func(id int64) { ids[w] = append(ids[w], id) }); err != nil {
				t.Errorf("writer %d: %v", w, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkReconciliationRows(t, handles[0], ids)
}

// reconArgs are the arguments of the reconcile-save child.
type reconArgs struct {
	Path string
	W, M int
}

var _ = proc.Role("reconcile-save", func() int {
	var a reconArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.Open(a.Path)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	if err := saveReconciliations(s, a.W, a.M, func(id int64) { fmt.Fprintf(os.Stdout, "ack %d\n", id) }); err != nil {
		proc.Fail("save: %v", err)
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
})

// TestReconciliationsProcesses saves reconciliations from two child
// processes and this one at once: IDs are unique and increase per writer,
// and every row is there, read by this Store and a fresh one.
func TestReconciliationsProcesses(t *testing.T) {
	proc.Skip(t)
	path, cacheDir := tempStorePath(t), childCacheDir(t)
	s, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	per := proc.Rounds(t, 300, 100)
	var specs []proc.Spec
	for c := range 2 {
		specs = append(specs, proc.Spec{Role: "reconcile-save", Args: reconArgs{Path: path, W: c + 1, M: per}, Env: childEnv(cacheDir)})
	}
	// This process saves until both children are done, so that their
	// rows fall among its own.
	ids := raceChildren(t, specs, per, true, func(i int) int64 {
		r := testReconciliation("w0", i, reconCost(0, i), 1)
		r.LocalUnpriced = reconUnpriced(0, i)
		id, err := s.SaveReconciliation(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return id
	})
	checkReconciliationRows(t, s, ids)
	s2, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	checkReconciliationRows(t, s2, ids)
}
