package anthropic_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/anthropic"
	"github.com/gofastr/store/billing/internal/billingtest"
)

const testKey = "sk-ant-admin01-TESTKEY-0123456789"

var _ billingtest.UsageFetcher = (*anthropic.Fetcher)(nil)

func TestErrors(t *testing.T) {
	billingtest.Suite{
		Key:        testKey,
		OK:         billingtest.Fixture(t, "page2.json"),
		AuthHeader: "X-Api-Key",
		AuthValue:  testKey,
		Call:       billingtest.FetchCall(testKey, anthropic.New, billingtest.Day("2025-08-03"), billingtest.Day("2025-08-04")),
	}.Run(t)
}

// pages serves page1.json, then page2.json for its next_page token.
func pages(t *testing.T) *billingtest.Server {
	return billingtest.Pages(t, "page_MjAyNS0wOC0wM1QwMDowMDowMFo=", billingtest.Fixture(t, "page1.json"), billingtest.Fixture(t, "page2.json"),
		`{"type":"error","error":{"type":"invalid_request_error","message":"bad page"}}`)
}

func TestPagination(t *testing.T) {
	srv := pages(t)
	f, err := anthropic.New(testKey, srv.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2025-08-01"), billingtest.Day("2025-08-05"))
	if err != nil {
		t.Fatal(err)
	}
	// 123.78912 + 250 + 1000.5 cents, and two items of 0.00000005 cents
	// (0.5 nano-dollars each) that sum to one nano-dollar.
	const want = 1_237_891_200 + 2_500_000_000 + 10_005_000_000 + 1
	if got != want {
		t.Errorf("%d nano-USD, want %d", got, want)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	q := reqs[0].Query
	if reqs[0].Path != "/v1/organizations/cost_report" || q.Get("starting_at") != "2025-08-01T00:00:00Z" ||
		q.Get("ending_at") != "2025-08-05T00:00:00Z" || q.Get("bucket_width") != "1d" || q.Get("limit") != "31" {
		t.Errorf("first request %s?%s", reqs[0].Path, q.Encode())
	}
	if reqs[1].Query.Get("page") == "" || reqs[1].Query.Get("starting_at") != "2025-08-01T00:00:00Z" {
		t.Errorf("second request %s", reqs[1].Query.Encode())
	}
	if v := reqs[0].Header.Get("Anthropic-Version"); v != anthropic.APIVersion {
		t.Errorf("anthropic-version %q", v)
	}
	usd, err := f.FetchUsageUSD(context.Background(), billingtest.Day("2025-08-01"), billingtest.Day("2025-08-05"))
	if err != nil || usd != 13.742891201 {
		t.Errorf("FetchUsageUSD = %v, %v", usd, err)
	}
}

func TestCostReportItems(t *testing.T) {
	srv := pages(t)
	f, _ := anthropic.New(testKey, srv.Options()...)
	b, err := f.CostReport(context.Background(), billingtest.Day("2025-08-01"), billingtest.Day("2025-08-05"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 4 || len(b[0].Items) != 2 || len(b[3].Items) != 0 {
		t.Fatalf("buckets %+v", b)
	}
	it := b[0].Items[0]
	// "123.78912" cents is $1.2378912.
	if it.Amount != 1_237_891_200 || it.Currency != "USD" || it.Model != "claude-sonnet-4-20250514" ||
		it.TokenType != "uncached_input_tokens" || it.WorkspaceID != "wrkspc_test1" || it.ServiceTier != "standard" {
		t.Errorf("item %+v", it)
	}
	if !b[0].Start.Equal(billingtest.Day("2025-08-01")) || !b[0].End.Equal(billingtest.Day("2025-08-02")) {
		t.Errorf("bucket 0 [%v, %v)", b[0].Start, b[0].End)
	}
}

func TestBuckets(t *testing.T) {
	for _, c := range []struct {
		name, body string
		start, end time.Time
		want       error
		nanos      int64
	}{
		{"non-USD", "eur.json", billingtest.Day("2025-08-01"), billingtest.Day("2025-08-02"), billing.ErrCurrency, 0},
		{"bucket straddles the period", "straddle.json", billingtest.Day("2025-08-01"), billingtest.Day("2025-08-02"), billing.ErrMalformed, 0},
		{"buckets outside ignored", "outside.json", billingtest.Day("2025-08-01"), billingtest.Day("2025-08-02"), nil, 1_000_000_000},
	} {
		srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, c.body)})
		f, _ := anthropic.New(testKey, srv.Options()...)
		got, err := f.FetchUsageNanos(context.Background(), c.start, c.end)
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: want %v, got %v", c.name, c.want, err)
		}
		if c.want == nil && (err != nil || int64(got) != c.nanos) {
			t.Errorf("%s: %d, %v; want %d", c.name, got, err, c.nanos)
		}
	}
}

func TestPeriodUnsupported(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "page2.json")})
	f, _ := anthropic.New(testKey, srv.Options()...)
	for _, p := range [][2]time.Time{
		{billingtest.Day("2025-08-01").Add(time.Minute), billingtest.Day("2025-08-02")},
		{billingtest.Day("2025-08-01"), billingtest.Day("2025-08-02").Add(-time.Second)},
		{billingtest.Day("2025-08-02"), billingtest.Day("2025-08-01")},
	} {
		if _, err := f.FetchUsageNanos(context.Background(), p[0], p[1]); !errors.Is(err, billing.ErrUnsupported) {
			t.Errorf("[%v, %v): want ErrUnsupported, got %v", p[0], p[1], err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
}

func TestMalformedPages(t *testing.T) {
	for name, body := range map[string]string{
		"has_more missing":       `{"data":[]}`,
		"has_more without token": `{"data":[],"has_more":true,"next_page":null}`,
		"amount a number":        `{"data":[{"starting_at":"2025-08-01T00:00:00Z","ending_at":"2025-08-02T00:00:00Z","results":[{"amount":1,"currency":"USD"}]}],"has_more":false}`,
		"amount not decimal":     `{"data":[{"starting_at":"2025-08-01T00:00:00Z","ending_at":"2025-08-02T00:00:00Z","results":[{"amount":"amount","currency":"USD"}]}],"has_more":false}`,
		"currency missing":       `{"data":[{"starting_at":"2025-08-01T00:00:00Z","ending_at":"2025-08-02T00:00:00Z","results":[{"amount":"1"}]}],"has_more":false}`,
		"bad time":               `{"data":[{"starting_at":"yesterday","ending_at":"2025-08-02T00:00:00Z","results":[]}],"has_more":false}`,
		"inverted bucket":        `{"data":[{"starting_at":"2025-08-02T00:00:00Z","ending_at":"2025-08-01T00:00:00Z","results":[]}],"has_more":false}`,
		"results missing":        `{"data":[{"starting_at":"2025-08-01T00:00:00Z","ending_at":"2025-08-02T00:00:00Z"}],"has_more":false}`,
		// The same token again would loop forever.
		"repeating next_page": `{"data":[],"has_more":true,"next_page":"same"}`,
	} {
		srv := billingtest.NewServer(t, billingtest.Reply{Body: body})
		f, _ := anthropic.New(testKey, srv.Options()...)
		if _, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2025-08-01"), billingtest.Day("2025-08-02")); !errors.Is(err, billing.ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
}

// The documented example body (outside the repository) parses, in cents.
func TestDocumentedShape(t *testing.T) {
	body := billingtest.SharedData(t, "anthropic/cost_report.200.example.json")
	srv := billingtest.NewServer(t, billingtest.Reply{Body: body}, billingtest.Reply{Body: `{"data":[],"has_more":false,"next_page":null}`})
	f, _ := anthropic.New(testKey, srv.Options()...)
	n, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2025-08-01"), billingtest.Day("2025-08-02"))
	// "123.78912" cents is $1.2378912.
	if err != nil || n != 1_237_891_200 {
		t.Errorf("%d, %v; want 1237891200", n, err)
	}
}
