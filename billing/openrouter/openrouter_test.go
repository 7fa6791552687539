package openrouter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/internal/billingtest"
	"github.com/gofastr/store/billing/openrouter"
)

const testKey = "sk-or-v1-TESTKEY-0123456789abcdef"

// now is the test clock: 2025-08-26 10:00 UTC; the activity fixture has
// rows of 2025-08-23 to 2025-08-25.
var now = time.Date(2025, 8, 26, 10, 0, 0, 0, time.UTC)

func clock() billing.Option { return billing.WithClock(func() time.Time { return now }) }

func newFetcher(t testing.TB, srv *billingtest.Server, opts ...billing.Option) *openrouter.Fetcher {
	t.Helper()
	f, err := openrouter.New(testKey, srv.Options(append([]billing.Option{clock()}, opts...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The fetcher satisfies the reconciliation's fetcher shape.
var _ billingtest.UsageFetcher = (*openrouter.Fetcher)(nil)

func TestErrors(t *testing.T) {
	billingtest.Suite{
		Key:        testKey,
		OK:         billingtest.Fixture(t, "activity.json"),
		AuthHeader: "Authorization",
		AuthValue:  "Bearer " + testKey,
		Call: billingtest.FetchCall(testKey, func(key string, opts ...billing.Option) (*openrouter.Fetcher, error) {
			return openrouter.New(key, append(opts, clock())...)
		}, billingtest.Day("2025-08-24"), billingtest.Day("2025-08-25")),
	}.Run(t)
}

func TestFetchUsage(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "activity.json")})
	f := newFetcher(t, srv)
	for _, c := range []struct {
		start, end string
		want       abi.NanoUSD
	}{
		{"2025-08-23", "2025-08-24", 1_250_000_000},
		// 0.1 + 0.2 exactly, not 0.30000000000000004.
		{"2025-08-24", "2025-08-25", 300_000_000},
		// Two rows of 0.4 nano-dollars: the exact sum rounds to 1;
		// rounding each row first would give 0.
		{"2025-08-25", "2025-08-26", 1},
		{"2025-08-24", "2025-08-26", 300_000_001},
		{"2025-08-23", "2025-08-26", 1_550_000_001},
		// Days without rows inside the window.
		{"2025-08-01", "2025-08-23", 0},
	} {
		got, err := f.FetchUsageNanos(context.Background(), billingtest.Day(c.start), billingtest.Day(c.end))
		if err != nil {
			t.Fatalf("[%s, %s): %v", c.start, c.end, err)
		}
		if got != c.want {
			t.Errorf("[%s, %s): %d nano-USD, want %d", c.start, c.end, got, c.want)
		}
	}
	usd, err := f.FetchUsageUSD(context.Background(), billingtest.Day("2025-08-23"), billingtest.Day("2025-08-24"))
	if err != nil || usd != 1.25 {
		t.Errorf("FetchUsageUSD = %v, %v; want 1.25", usd, err)
	}
	for _, r := range srv.Requests() {
		if r.Path != "/activity" || len(r.Query) != 0 {
			t.Errorf("request %s?%s, want /activity without a filter", r.Path, r.Query.Encode())
		}
	}
	// A time zone other than UTC names the same instants.
	tz := time.FixedZone("UTC+2", 2*3600)
	got, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2025-08-23").In(tz), billingtest.Day("2025-08-24").In(tz))
	if err != nil || got != 1_250_000_000 {
		t.Errorf("in UTC+2: %d, %v", got, err)
	}
}

func TestPeriodUnsupported(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "activity.json")})
	f := newFetcher(t, srv)
	for _, c := range []struct {
		name       string
		start, end time.Time
	}{
		{"start inside a day", billingtest.Day("2025-08-24").Add(time.Hour), billingtest.Day("2025-08-25")},
		{"end inside a day", billingtest.Day("2025-08-24"), billingtest.Day("2025-08-25").Add(time.Nanosecond)},
		{"end now", billingtest.Day("2025-08-24"), now},
		{"today, not complete", billingtest.Day("2025-08-26"), billingtest.Day("2025-08-27")},
		{"older than 30 days", billingtest.Day("2025-07-26"), billingtest.Day("2025-07-28")},
		{"empty", billingtest.Day("2025-08-24"), billingtest.Day("2025-08-24")},
		{"inverted", billingtest.Day("2025-08-25"), billingtest.Day("2025-08-24")},
	} {
		_, err := f.FetchUsageNanos(context.Background(), c.start, c.end)
		if !errors.Is(err, billing.ErrUnsupported) {
			t.Errorf("%s: want ErrUnsupported, got %v", c.name, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests for unsupported periods, want 0", n)
	}
	// The oldest day still kept is accepted.
	if _, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2025-07-27"), billingtest.Day("2025-08-26")); err != nil {
		t.Errorf("the last 30 days: %v", err)
	}
}

func TestActivityRows(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "activity.json")})
	f := newFetcher(t, srv)
	rows, err := f.Activity(context.Background(), billingtest.Day("2025-08-24"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	r := rows[1]
	if !r.Date.Equal(billingtest.Day("2025-08-24")) || r.Model != "openai/gpt-4.1" || r.Usage != 100_000_000 ||
		r.BYOKUsageInference != 12_000_000 || r.Requests != 5 || r.PromptTokens != 50 || r.CompletionTokens != 125 || r.ReasoningTokens != 25 {
		t.Errorf("row 1 = %+v", r)
	}
	if q := srv.Requests()[0].Query.Get("date"); q != "2025-08-24" {
		t.Errorf("date filter %q", q)
	}
}

func TestMalformedRows(t *testing.T) {
	for name, body := range map[string]string{
		"no data":          `{"error":null}`,
		"data not a list":  `{"data":{}}`,
		"missing usage":    `{"data":[{"date":"2025-08-24"}]}`,
		"missing date":     `{"data":[{"usage":1}]}`,
		"bad date":         `{"data":[{"date":"24/08/2025","usage":1}]}`,
		"usage string":     `{"data":[{"date":"2025-08-24","usage":"abc"}]}`,
		"huge exponent":    `{"data":[{"date":"2025-08-24","usage":1e999999999}]}`,
		"out of range":     `{"data":[{"date":"2025-08-24","usage":1e30}]}`,
		"trailing garbage": `{"data":[]} {}`,
	} {
		srv := billingtest.NewServer(t, billingtest.Reply{Body: body})
		f := newFetcher(t, srv)
		_, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2025-08-24"), billingtest.Day("2025-08-25"))
		if !errors.Is(err, billing.ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
}

func TestCredits(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "credits.json")})
	c, err := newFetcher(t, srv).Credits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.TotalCredits != 50_250_000_000 || c.TotalUsage != 12_125_000_000 {
		t.Errorf("credits = %+v", c)
	}
	if p := srv.Requests()[0].Path; p != "/credits" {
		t.Errorf("path %s", p)
	}
	srv = billingtest.NewServer(t, billingtest.Reply{Body: `{"data":{"total_credits":1}}`})
	if _, err := newFetcher(t, srv).Credits(context.Background()); !errors.Is(err, billing.ErrMalformed) {
		t.Errorf("total_usage missing: %v", err)
	}
}

func TestKey(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "key.json")})
	k, err := newFetcher(t, srv).Key(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if k.Usage != 12_500_000_000 || k.UsageDaily != 500_000_000 || k.UsageWeekly != 2_250_000_000 || k.UsageMonthly != 7_750_000_000 ||
		k.BYOKUsage != 1_500_000_000 || k.BYOKWeekly != 500_000_000 || k.BYOKMonthly != 1_000_000_000 ||
		k.Limit == nil || *k.Limit != 20_000_000_000 || k.LimitRemaining == nil || *k.LimitRemaining != 7_500_000_000 ||
		k.LimitReset != "monthly" || k.Label != "sk-or-v1-abc...123" {
		t.Errorf("key = %+v", k)
	}
	if p := srv.Requests()[0].Path; p != "/key" {
		t.Errorf("path %s", p)
	}
	srv = billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "key_nolimit.json")})
	k, err = newFetcher(t, srv).Key(context.Background())
	if err != nil || k.Limit != nil || k.LimitRemaining != nil || k.LimitReset != "" {
		t.Errorf("key without limit = %+v, %v", k, err)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := openrouter.New(""); !errors.Is(err, billing.ErrConfig) {
		t.Errorf("empty key: %v", err)
	}
	f, err := openrouter.New(testKey)
	if err != nil || f.Name() != "openrouter" {
		t.Errorf("New: %v, %v", f, err)
	}
}

// The documented example bodies (outside the repository) parse.
func TestDocumentedShapes(t *testing.T) {
	activity := billingtest.SharedData(t, "openrouter/activity.200.example.json")
	credits := billingtest.SharedData(t, "openrouter/credits.200.example.json")
	key := billingtest.SharedData(t, "openrouter/key.200.example.json")
	srv := billingtest.NewServer(t, billingtest.Reply{Body: activity}, billingtest.Reply{Body: credits}, billingtest.Reply{Body: key})
	f := newFetcher(t, srv)
	// The example row is of 2025-08-24, usage 0.015.
	n, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2025-08-24"), billingtest.Day("2025-08-25"))
	if err != nil || n != 15_000_000 {
		t.Errorf("activity: %d, %v; want 15000000", n, err)
	}
	c, err := f.Credits(context.Background())
	if err != nil || c.TotalCredits != 100_500_000_000 || c.TotalUsage != 25_750_000_000 {
		t.Errorf("credits: %+v, %v", c, err)
	}
	k, err := f.Key(context.Background())
	if err != nil || k.Usage != 25_500_000_000 || k.BYOKUsage != 17_380_000_000 || k.Limit == nil || *k.Limit != 100_000_000_000 {
		t.Errorf("key: %+v, %v", k, err)
	}
}
