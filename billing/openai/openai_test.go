package openai_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/internal/billingtest"
	"github.com/gofastr/store/billing/openai"
)

const testKey = "sk-admin-TESTKEY-0123456789abcdef"

var _ billingtest.UsageFetcher = (*openai.Fetcher)(nil)

func TestErrors(t *testing.T) {
	billingtest.Suite{
		Key:        testKey,
		OK:         billingtest.Fixture(t, "page2.json"),
		AuthHeader: "Authorization",
		AuthValue:  "Bearer " + testKey,
		Call:       billingtest.FetchCall(testKey, openai.New, billingtest.Day("2024-11-02"), billingtest.Day("2024-11-03")),
	}.Run(t)
}

func pages(t *testing.T) *billingtest.Server {
	return billingtest.Pages(t, "page_TESTCURSOR", billingtest.Fixture(t, "page1.json"), billingtest.Fixture(t, "page2.json"),
		`{"error":{"message":"bad page","type":"invalid_request_error"}}`)
}

func TestPagination(t *testing.T) {
	srv := pages(t)
	f, err := openai.New(testKey, srv.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2024-11-01"), billingtest.Day("2024-11-04"))
	if err != nil {
		t.Fatal(err)
	}
	// 0.1 + 0.2 + 12.345678901 dollars, exactly.
	if got != 12_645_678_901 {
		t.Errorf("%d nano-USD, want 12645678901", got)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	q := reqs[0].Query
	if reqs[0].Path != "/organization/costs" || q.Get("start_time") != "1730419200" || q.Get("end_time") != "1730678400" ||
		q.Get("bucket_width") != "1d" || q.Get("limit") != "180" {
		t.Errorf("first request %s?%s", reqs[0].Path, q.Encode())
	}
	if reqs[1].Query.Get("page") != "page_TESTCURSOR" || reqs[1].Query.Get("start_time") != "1730419200" {
		t.Errorf("second request %s", reqs[1].Query.Encode())
	}
	// Only the first day: buckets of later days are ignored.
	srv = pages(t)
	f, _ = openai.New(testKey, srv.Options()...)
	usd, err := f.FetchUsageUSD(context.Background(), billingtest.Day("2024-11-01"), billingtest.Day("2024-11-02"))
	if err != nil || usd != 0.3 {
		t.Errorf("FetchUsageUSD = %v, %v; want 0.3", usd, err)
	}
}

func TestCosts(t *testing.T) {
	f, _ := openai.New(testKey, pages(t).Options()...)
	b, err := f.Costs(context.Background(), billingtest.Day("2024-11-01"), billingtest.Day("2024-11-04"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 3 || len(b[0].Results) != 2 || !b[0].Start.Equal(billingtest.Day("2024-11-01")) || !b[2].End.Equal(billingtest.Day("2024-11-04")) {
		t.Fatalf("buckets %+v", b)
	}
	if r := b[0].Results[1]; r.Amount != 200_000_000 || r.Currency != "usd" || r.LineItem != "input_tokens" || r.ProjectID != "proj_test" {
		t.Errorf("result %+v", r)
	}
}

func TestBuckets(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       error
	}{
		{"non-USD", "eur.json", billing.ErrCurrency},
		{"bucket straddles the period", "straddle.json", billing.ErrMalformed},
	} {
		srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, c.body)})
		f, _ := openai.New(testKey, srv.Options()...)
		if _, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2024-11-01"), billingtest.Day("2024-11-02")); !errors.Is(err, c.want) {
			t.Errorf("%s: want %v, got %v", c.name, c.want, err)
		}
	}
}

func TestPeriodUnsupported(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "page2.json")})
	f, _ := openai.New(testKey, srv.Options()...)
	for _, p := range [][2]time.Time{
		{billingtest.Day("2024-11-01").Add(time.Hour), billingtest.Day("2024-11-02")},
		{billingtest.Day("2024-11-01"), billingtest.Day("2024-11-02").Add(time.Hour)},
		{billingtest.Day("2024-11-01"), billingtest.Day("2024-11-01")},
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
		"has_more missing":    `{"object":"page","data":[]}`,
		"next_page missing":   `{"object":"page","data":[],"has_more":true}`,
		"amount missing":      `{"data":[{"start_time":1730419200,"end_time":1730505600,"results":[{"object":"organization.costs.result"}]}],"has_more":false}`,
		"value a string":      `{"data":[{"start_time":1730419200,"end_time":1730505600,"results":[{"amount":{"value":"x","currency":"usd"}}]}],"has_more":false}`,
		"times missing":       `{"data":[{"results":[]}],"has_more":false}`,
		"inverted bucket":     `{"data":[{"start_time":1730505600,"end_time":1730419200,"results":[]}],"has_more":false}`,
		"repeating next_page": `{"data":[],"has_more":true,"next_page":"same"}`,
	} {
		srv := billingtest.NewServer(t, billingtest.Reply{Body: body})
		f, _ := openai.New(testKey, srv.Options()...)
		if _, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2024-11-01"), billingtest.Day("2024-11-02")); !errors.Is(err, billing.ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
}

// The documented example body (outside the repository) parses.
func TestDocumentedShape(t *testing.T) {
	body := billingtest.SharedData(t, "openai/costs.200.example.json")
	srv := billingtest.NewServer(t, billingtest.Reply{Body: body})
	f, _ := openai.New(testKey, srv.Options()...)
	n, err := f.FetchUsageNanos(context.Background(), billingtest.Day("2024-11-01"), billingtest.Day("2024-11-02"))
	if err != nil || n != 60_000_000 {
		t.Errorf("%d, %v; want 60000000", n, err)
	}
}
