package billing_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/billing"
)

const reportKey = "sk-TESTKEY-report-0123456789"

// pager returns a page function that answers cursor "" and then each
// cursor of next in turn with the following one, recording the cursors
// it was called with.
func pager(next map[string]string, calls *[]string) func(string) (string, error) {
	return func(cursor string) (string, error) {
		*calls = append(*calls, cursor)
		n, ok := next[cursor]
		if !ok {
			return "", fmt.Errorf("unknown cursor %q", cursor)
		}
		return n, nil
	}
}

func TestPaginate(t *testing.T) {
	c := newClient(t, "https://example.com", reportKey)
	var calls []string
	err := c.Paginate("costs", 3, pager(map[string]string{"": "a", "a": "b", "b": ""}, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(calls, ","); got != ",a,b" {
		t.Errorf("cursors %q, want \",a,b\"", got)
	}
}

func TestPaginateMaxPages(t *testing.T) {
	c := newClient(t, "https://example.com", reportKey)
	var calls []string
	err := c.Paginate("cost report", 2, pager(map[string]string{"": "a", "a": "b", "b": ""}, &calls))
	if !errors.Is(err, billing.ErrMalformed) {
		t.Fatalf("want ErrMalformed, got %v", err)
	}
	if want := "billing: test: billing: malformed response: cost report: more than 2 pages"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(calls) != 2 {
		t.Errorf("%d pages read, want 2 (the bound)", len(calls))
	}
	calls = nil
	if err := c.Paginate("costs", 0, pager(map[string]string{"": ""}, &calls)); !errors.Is(err, billing.ErrMalformed) || len(calls) != 0 {
		t.Errorf("maxPages 0: %v after %d pages; want ErrMalformed before any", err, len(calls))
	}
}

func TestPaginateRepeatedCursor(t *testing.T) {
	c := newClient(t, "https://example.com", reportKey)
	var calls []string
	// a, b, a: the API would loop forever.
	err := c.Paginate("costs", 1000, pager(map[string]string{"": "a", "a": "b", "b": "a"}, &calls))
	if !errors.Is(err, billing.ErrMalformed) {
		t.Fatalf("want ErrMalformed, got %v", err)
	}
	if want := "billing: test: billing: malformed response: costs: next_page repeats a page already read"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(calls) != 3 {
		t.Errorf("%d pages read, want 3", len(calls))
	}
}

func TestPaginatePageError(t *testing.T) {
	c := newClient(t, "https://example.com", reportKey)
	var calls []string
	err := c.Paginate("costs", 10, pager(map[string]string{"": "a"}, &calls))
	if err == nil || err.Error() != `unknown cursor "a"` || errors.Is(err, billing.ErrMalformed) {
		t.Errorf("want the page's own error unchanged, got %v", err)
	}
}

var testFormat = billing.BucketFormat{Unit: billing.Cents, USD: func(c string) bool { return c == "USD" }, Noun: "an item"}

func dayBucket(start string, amounts ...billing.Amount) billing.DayBucket {
	s, err := time.Parse(time.DateOnly, start)
	if err != nil {
		panic(err)
	}
	return billing.DayBucket{Start: s, End: s.Add(billing.Day), Amounts: amounts}
}

func usdCents(text string) billing.Amount { return billing.Amount{Text: text, Currency: "USD"} }

func TestSumBuckets(t *testing.T) {
	c := newClient(t, "https://example.com", reportKey)
	start := time.Date(2025, 8, 2, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 2)
	buckets := []billing.DayBucket{
		dayBucket("2025-08-01", usdCents("1000"), billing.Amount{Text: "1", Currency: "EUR"}), // outside: skipped, currency and all
		dayBucket("2025-08-02", usdCents("123.78912"), usdCents("0.00000005")),
		dayBucket("2025-08-03", usdCents("250"), usdCents("0.00000005")),
		dayBucket("2025-08-04", usdCents("x")), // outside: not even parsed
	}
	got, err := c.SumBuckets(buckets, start, end, testFormat)
	if err != nil {
		t.Fatal(err)
	}
	// 123.78912 + 250 cents, and two half nano-dollars summed before rounding.
	if want := int64(1_237_891_200 + 2_500_000_000 + 1); int64(got) != want {
		t.Errorf("%d nano-USD, want %d", got, want)
	}
	// In another time zone the same instants give the same sum.
	est := time.FixedZone("EST", -5*3600)
	if got2, err := c.SumBuckets(buckets, start.In(est), end.In(est), testFormat); err != nil || got2 != got {
		t.Errorf("in EST: %d, %v; want %d", got2, err, got)
	}
	if got, err := c.SumBuckets(nil, start, end, testFormat); err != nil || got != 0 {
		t.Errorf("no buckets: %d, %v; want 0", got, err)
	}
}

func TestSumBucketsStraddle(t *testing.T) {
	c := newClient(t, "https://example.com", reportKey)
	start := time.Date(2025, 8, 2, 0, 0, 0, 0, time.UTC)
	for _, b := range []billing.DayBucket{
		{Start: start.Add(-time.Hour), End: start.Add(23 * time.Hour), Amounts: []billing.Amount{usdCents("1")}},
		{Start: start.Add(time.Hour), End: start.Add(25 * time.Hour)},
		{Start: start.Add(-time.Hour), End: start.Add(25 * time.Hour)},
	} {
		_, err := c.SumBuckets([]billing.DayBucket{b}, start, start.Add(billing.Day), testFormat)
		if !errors.Is(err, billing.ErrMalformed) || !strings.Contains(err.Error(), "straddles the period [2025-08-02T00:00:00Z, 2025-08-03T00:00:00Z)") {
			t.Errorf("[%v, %v): want ErrMalformed naming the period, got %v", b.Start, b.End, err)
		}
	}
}

func TestSumBucketsCurrency(t *testing.T) {
	c := newClient(t, "https://example.com", reportKey)
	start := time.Date(2025, 8, 2, 0, 0, 0, 0, time.UTC)
	for _, c2 := range []struct {
		currency, quoted string
		f                billing.BucketFormat
	}{
		{"EUR", `"EUR"`, testFormat},
		{"usd", `"usd"`, testFormat}, // exact match asked for
		{"", `""`, testFormat},
		{"XXXX" + reportKey, `"XXXX[key…"`, testFormat}, // scrubbed, then shortened
		{"USD", `"USD"`, billing.BucketFormat{Unit: billing.Dollars, Noun: "a result"}}, // no USD function accepts nothing
	} {
		b := dayBucket("2025-08-02", usdCents("1"), billing.Amount{Text: "2", Currency: c2.currency})
		_, err := c.SumBuckets([]billing.DayBucket{b}, start, start.Add(billing.Day), c2.f)
		if !errors.Is(err, billing.ErrCurrency) {
			t.Errorf("%q: want ErrCurrency, got %v", c2.currency, err)
			continue
		}
		want := "billing: amount not in USD: test: " + c2.f.Noun + " of 2025-08-02 is in " + c2.quoted
		if err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		if strings.Contains(err.Error(), reportKey) {
			t.Errorf("error text contains the key: %v", err)
		}
	}
	fold := billing.BucketFormat{Unit: billing.Dollars, USD: func(c string) bool { return strings.EqualFold(c, "usd") }, Noun: "a result"}
	b := dayBucket("2025-08-02", billing.Amount{Text: "0.1", Currency: "usd"}, billing.Amount{Text: "0.2", Currency: "USD"})
	if got, err := c.SumBuckets([]billing.DayBucket{b}, start, start.Add(billing.Day), fold); err != nil || got != 300_000_000 {
		t.Errorf("case-folded usd: %d, %v; want 300000000", got, err)
	}
}

func TestSumBucketsMalformedAmount(t *testing.T) {
	c := newClient(t, "https://example.com", reportKey)
	start := time.Date(2025, 8, 2, 0, 0, 0, 0, time.UTC)
	for _, text := range []string{"x", "", "1e41", "92233720368547758070"} {
		b := dayBucket("2025-08-02", usdCents(text))
		if _, err := c.SumBuckets([]billing.DayBucket{b}, start, start.Add(billing.Day), testFormat); !errors.Is(err, billing.ErrMalformed) {
			t.Errorf("%q: want ErrMalformed, got %v", text, err)
		}
	}
	// Each amount fits, their sum does not.
	b := dayBucket("2025-08-02", usdCents("900000000000"), usdCents("900000000000"))
	if _, err := c.SumBuckets([]billing.DayBucket{b}, start, start.Add(billing.Day), testFormat); !errors.Is(err, billing.ErrMalformed) {
		t.Errorf("overflowing sum: want ErrMalformed, got %v", err)
	}
}

type testPage struct {
	Items []int  `json:"items"`
	Next  string `json:"next"`
}

func (p *testPage) parse() ([]int, string, error) {
	if p.Items == nil {
		return nil, "", fmt.Errorf("%w: items missing", billing.ErrMalformed)
	}
	return p.Items, p.Next, nil
}

func TestGetPages(t *testing.T) {
	var queries []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.Query())
		switch r.URL.Query().Get("page") {
		case "":
			fmt.Fprint(w, `{"items":[1,2],"next":"p2"}`)
		case "p2":
			fmt.Fprint(w, `{"items":[3],"next":"p3"}`)
		case "p3":
			fmt.Fprint(w, `{"items":[],"next":""}`)
		case "loop":
			fmt.Fprint(w, `{"items":[9],"next":"loop"}`)
		default:
			fmt.Fprint(w, `{"next":""}`)
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, reportKey)
	ctx := context.Background()
	got, err := billing.GetPages(ctx, c, "test report", "/report", url.Values{"limit": {"2"}}, 10, (*testPage).parse)
	if err != nil || fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("GetPages = %v, %v; want [1 2 3]", got, err)
	}
	if len(queries) != 3 || queries[1].Get("page") != "p2" || queries[2].Get("page") != "p3" || queries[2].Get("limit") != "2" {
		t.Errorf("queries %v", queries)
	}
	// A page that does not parse, a bound reached, a cursor that repeats.
	for _, c2 := range []struct {
		name     string
		query    url.Values
		maxPages int
	}{
		{"parse error", url.Values{"page": {"bad"}}, 10},
		{"max pages", url.Values{}, 2},
		{"repeated cursor", url.Values{"page": {"loop"}}, 10},
	} {
		if got, err := billing.GetPages(ctx, c, "test report", "/report", c2.query, c2.maxPages, (*testPage).parse); !errors.Is(err, billing.ErrMalformed) || got != nil {
			t.Errorf("%s: %v, %v; want nil and ErrMalformed", c2.name, got, err)
		}
	}
	// The server's own errors pass through.
	srv404 := httptest.NewServer(http.NotFoundHandler())
	defer srv404.Close()
	if _, err := billing.GetPages(ctx, newClient(t, srv404.URL, reportKey), "test report", "/report", url.Values{}, 10, (*testPage).parse); !errors.Is(err, billing.ErrRejected) {
		t.Errorf("404: want ErrRejected, got %v", err)
	}
}
