package host_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/anthropic"
	"github.com/gofastr/store/host"
)

// granularFetcher is a fakeFetcher that bills in buckets of g and, when
// nanos is set, reports exact nano-dollars.
type granularFetcher struct {
	fakeFetcher
	g     time.Duration
	nanos *abi.NanoUSD
}

func (f *granularFetcher) Granularity() time.Duration { return f.g }

type nanoFetcher struct {
	fakeFetcher
	n abi.NanoUSD
}

func (f *nanoFetcher) FetchUsageNanos(ctx context.Context, start, end time.Time) (abi.NanoUSD, error) {
	f.calls = append(f.calls, [2]time.Time{start, end})
	return f.n, f.err
}

// TestReconcileNowGranularity: a fetcher that bills in buckets is asked
// for the whole buckets that end at or before now and cover the period.
func TestReconcileNowGranularity(t *testing.T) {
	now := time.Date(2026, 8, 2, 13, 45, 10, 5, time.UTC)
	day := func(d int) time.Time { return time.Date(2026, 8, d, 0, 0, 0, 0, time.UTC) }
	for _, tt := range []struct {
		g, period  time.Duration
		start, end time.Time
	}{
		{24 * time.Hour, 24 * time.Hour, day(1), day(2)},
		{24 * time.Hour, time.Hour, day(1), day(2)},
		{24 * time.Hour, 36 * time.Hour, time.Date(2026, 7, 31, 0, 0, 0, 0, time.UTC), day(2)}, // Jul 31
		{24 * time.Hour, 7 * 24 * time.Hour, time.Date(2026, 7, 26, 0, 0, 0, 0, time.UTC), day(2)},
		{time.Hour, 90 * time.Minute, now.Truncate(time.Hour).Add(-2 * time.Hour), now.Truncate(time.Hour)},
	} {
		t.Run(fmt.Sprintf("g=%v/period=%v", tt.g, tt.period), func(t *testing.T) {
			s, _ := openClockStore(t, now)
			f := &granularFetcher{fakeFetcher: fakeFetcher{name: "anthropic", usd: 1}, g: tt.g}
			r, err := s.ReconcileNow(context.Background(), f, tt.period)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.calls) != 1 || !f.calls[0][0].Equal(tt.start) || !f.calls[0][1].Equal(tt.end) {
				t.Fatalf("fetcher asked about %v, want [%v, %v)", f.calls, tt.start, tt.end)
			}
			if !r.PeriodStart.Equal(tt.start) || !r.PeriodEnd.Equal(tt.end) || !r.RanAt.Equal(now) {
				t.Fatalf("reconciliation period [%v, %v) ran %v", r.PeriodStart, r.PeriodEnd, r.RanAt)
			}
		})
	}
	for _, g := range []time.Duration{0, -time.Hour, 1500 * time.Millisecond} {
		s, _ := openClockStore(t, now)
		f := &granularFetcher{fakeFetcher: fakeFetcher{name: "anthropic", usd: 1}, g: g}
		if _, err := s.ReconcileNow(context.Background(), f, time.Hour); !errors.Is(err, host.ErrInvalidArgument) || len(f.calls) != 0 {
			t.Errorf("granularity %v: err %v, %d calls; want ErrInvalidArgument and no call", g, err, len(f.calls))
		}
	}
	s, _ := openClockStore(t, now)
	f := &granularFetcher{fakeFetcher: fakeFetcher{name: "anthropic", usd: 1}, g: 24 * time.Hour}
	if _, err := s.ReconcileNow(context.Background(), f, time.Duration(1<<63-1)); !errors.Is(err, host.ErrInvalidArgument) || len(f.calls) != 0 {
		t.Errorf("a period of 292 years: err %v, %d calls; want ErrInvalidArgument and no call", err, len(f.calls))
	}
}

// TestReconcileNanoFetcher: a fetcher that reports nano-dollars is asked
// for them, not for float dollars; a negative amount is refused.
func TestReconcileNanoFetcher(t *testing.T) {
	s, _ := openClockStore(t, reconT0)
	f := &nanoFetcher{fakeFetcher: fakeFetcher{name: "anthropic", usd: 99}, n: 123_456_789_012_345_678}
	r, err := s.ReconcileNow(context.Background(), f, time.Hour)
	if err != nil || r.UpstreamNanos != f.n || r.VarianceNanos != f.n {
		t.Fatalf("ReconcileNow = %+v, %v; want upstream %d nano-dollars exactly", r, err, f.n)
	}
	f.n = -1
	if _, err := s.ReconcileNow(context.Background(), f, time.Hour); !errors.Is(err, host.ErrUpstreamAmount) {
		t.Fatalf("negative nano-dollars: %v, want ErrUpstreamAmount", err)
	}
	f.n, f.err = 0, billing.ErrUnauthorized
	if _, err := s.ReconcileNow(context.Background(), f, time.Hour); !errors.Is(err, billing.ErrUnauthorized) {
		t.Fatalf("fetch error: %v, want it wrapped", err)
	}
}

// TestReconcileNowAnthropic: a daily reconciliation against Anthropic's
// cost report (served by httptest) asks for yesterday, in whole UTC days,
// and compares the report's cents with the attempts of that day exactly.
func TestReconcileNowAnthropic(t *testing.T) {
	now := time.Date(2026, 8, 2, 9, 30, 0, 0, time.UTC)
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Query().Get("starting_at")+" "+r.URL.Query().Get("ending_at"))
		fmt.Fprint(w, `{"data": [{"starting_at": "2026-08-01T00:00:00Z", "ending_at": "2026-08-02T00:00:00Z",
			"results": [{"amount": "1234.5678901", "currency": "USD"}, {"amount": "0.0000001", "currency": "USD"}]}],
			"has_more": false, "next_page": null}`)
	}))
	defer srv.Close()
	f, err := anthropic.New("sk-ant-admin01-test", billing.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := openClockStore(t, now)
	// Attempts on Aug 1 (in the period) and on Aug 2 (after it).
	for i, at := range []time.Time{
		time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 8, 1, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 8, 2, 0, 0, 0, 0, time.UTC),
	} {
		mustRecord(t, s, testAttempt("s", i, 3_000_000_000+int64(i), at.Sub(attemptT0)))
	}
	r, err := s.ReconcileNow(context.Background(), f, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// 1234.5678901 + 0.0000001 cents = 12.345678902 USD, exactly.
	const up, local = 12_345_678_902, 3_000_000_000 + 3_000_000_001
	if r.UpstreamNanos != up || r.LocalNanos != local || r.VarianceNanos != up-local {
		t.Fatalf("reconciliation %+v; want upstream %d local %d", r, up, local)
	}
	if len(asked) != 1 || asked[0] != "2026-08-01T00:00:00Z 2026-08-02T00:00:00Z" {
		t.Fatalf("the cost report was asked for %q, want yesterday in whole UTC days", asked)
	}
	if _, err := s.SaveReconciliation(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}
