// Package anthropic reads an organization's spending from Anthropic's
// Admin API cost report (GET /v1/organizations/cost_report).
//
// The cost report answers in daily buckets (bucket_width 1d), each
// [starting_at, ending_at) of one UTC day, with one or more cost items. An
// item's amount is a decimal string in the currency's lowest unit, cents:
// "123.78912" in "USD" is 1.2378912 dollars. FetchUsageNanos and
// FetchUsageUSD sum every item of the buckets of [start, end), following
// the report's pages (has_more, next_page), exactly: 123.78912 cents are
// 1,237,891,200 nano-dollars.
//
// The period must be whole UTC days (ErrUnsupported otherwise). A bucket
// the API returns that overlaps the period only in part is ErrMalformed; a
// bucket outside it is ignored. An item in another currency is
// ErrCurrency. The report covers the whole organization (all workspaces
// and keys) and, as Anthropic documents, does not include Priority Tier
// costs; the current day's bucket may be incomplete. An Admin API key
// (sk-ant-admin…) is required, sent as x-api-key.
package anthropic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing"
)

const (
	// Name is the provider name, as in provider attempts.
	Name = "anthropic"
	// DefaultBaseURL is Anthropic's API base URL.
	DefaultBaseURL = "https://api.anthropic.com"
	// APIVersion is the anthropic-version header sent.
	APIVersion = "2023-06-01"
	// MaxPages bounds the pages followed for one report.
	MaxPages = 1000
	// pageLimit is the most buckets the API returns per page.
	pageLimit = 31
)

// Fetcher reads Anthropic's cost report. It is safe for concurrent use.
type Fetcher struct {
	c *billing.Client
}

// New returns a Fetcher that authenticates with the Admin API key key.
// An empty key or an invalid option is an error matching
// billing.ErrConfig.
func New(key string, opts ...billing.Option) (*Fetcher, error) {
	c, err := billing.NewClient(billing.Endpoint{
		Provider:   Name,
		BaseURL:    DefaultBaseURL,
		Key:        key,
		AuthHeader: "X-Api-Key",
		Header:     map[string][]string{"Anthropic-Version": {APIVersion}},
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &Fetcher{c: c}, nil
}

// Name returns "anthropic".
func (f *Fetcher) Name() string { return Name }

// Granularity returns [billing.Day]: the API reports spending per UTC
// day, so FetchUsageUSD and FetchUsageNanos take whole UTC days only.
func (f *Fetcher) Granularity() time.Duration { return billing.Day }

// Bucket is one time bucket of the cost report.
type Bucket struct {
	Start, End time.Time
	Items      []CostItem
}

// CostItem is one cost of a bucket. The descriptive fields are empty
// unless the report is grouped by them.
type CostItem struct {
	// Amount is the cost in nano-dollars, rounded half away from zero
	// (the bucket sums of FetchUsageNanos are exact).
	Amount        abi.NanoUSD
	Currency      string
	CostType      string
	Description   string
	Model         string
	ServiceTier   string
	TokenType     string
	ContextWindow string
	WorkspaceID   string

	cents string // the decimal text of the amount, in cents
}

type reportResponse struct {
	Data *[]struct {
		StartingAt *string `json:"starting_at"`
		EndingAt   *string `json:"ending_at"`
		Results    *[]struct {
			Amount        *string `json:"amount"`
			Currency      *string `json:"currency"`
			CostType      *string `json:"cost_type"`
			Description   *string `json:"description"`
			Model         *string `json:"model"`
			ServiceTier   *string `json:"service_tier"`
			TokenType     *string `json:"token_type"`
			ContextWindow *string `json:"context_window"`
			WorkspaceID   *string `json:"workspace_id"`
		} `json:"results"`
	} `json:"data"`
	HasMore  *bool           `json:"has_more"`
	NextPage json.RawMessage `json:"next_page"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// parse converts one page; next is the next page's token, empty on the
// last page.
func (r *reportResponse) parse() (buckets []Bucket, next string, err error) {
	if r.Data == nil || r.HasMore == nil {
		return nil, "", fmt.Errorf("%w: cost report: data or has_more missing", billing.ErrMalformed)
	}
	if *r.HasMore {
		if json.Unmarshal(r.NextPage, &next) != nil || next == "" {
			return nil, "", fmt.Errorf("%w: cost report: has_more without a next_page string", billing.ErrMalformed)
		}
	}
	for i, d := range *r.Data {
		if d.StartingAt == nil || d.EndingAt == nil || d.Results == nil {
			return nil, "", fmt.Errorf("%w: cost report bucket %d: starting_at, ending_at or results missing", billing.ErrMalformed, i)
		}
		b := Bucket{}
		if b.Start, err = time.Parse(time.RFC3339Nano, *d.StartingAt); err != nil {
			return nil, "", fmt.Errorf("%w: cost report bucket %d: starting_at is not RFC 3339", billing.ErrMalformed, i)
		}
		if b.End, err = time.Parse(time.RFC3339Nano, *d.EndingAt); err != nil {
			return nil, "", fmt.Errorf("%w: cost report bucket %d: ending_at is not RFC 3339", billing.ErrMalformed, i)
		}
		if !b.End.After(b.Start) {
			return nil, "", fmt.Errorf("%w: cost report bucket %d ends before it starts", billing.ErrMalformed, i)
		}
		for j, x := range *d.Results {
			if x.Amount == nil || x.Currency == nil {
				return nil, "", fmt.Errorf("%w: cost report bucket %d item %d: amount or currency missing", billing.ErrMalformed, i, j)
			}
			it := CostItem{
				Currency: *x.Currency, CostType: str(x.CostType), Description: str(x.Description), Model: str(x.Model),
				ServiceTier: str(x.ServiceTier), TokenType: str(x.TokenType), ContextWindow: str(x.ContextWindow),
				WorkspaceID: str(x.WorkspaceID), cents: *x.Amount,
			}
			if it.Amount, err = billing.ParseNanos(*x.Amount, billing.Cents); err != nil {
				return nil, "", fmt.Errorf("cost report bucket %d item %d: %w", i, j, err)
			}
			b.Items = append(b.Items, it)
		}
		buckets = append(buckets, b)
	}
	return buckets, next, nil
}

// CostReport returns the daily buckets of [start, end) (starting_at,
// ending_at), following every page.
func (f *Fetcher) CostReport(ctx context.Context, start, end time.Time) ([]Bucket, error) {
	q := url.Values{
		"starting_at":  {start.UTC().Format(time.RFC3339)},
		"ending_at":    {end.UTC().Format(time.RFC3339)},
		"bucket_width": {"1d"},
		"limit":        {strconv.Itoa(pageLimit)},
	}
	return billing.GetPages(ctx, f.c, "cost report", "/v1/organizations/cost_report", q, MaxPages, (*reportResponse).parse)
}

// FetchUsageNanos returns the organization's cost in the UTC days of
// [start, end), in nano-dollars: the exact sum of the cost report's items
// in those days' buckets.
func (f *Fetcher) FetchUsageNanos(ctx context.Context, start, end time.Time) (abi.NanoUSD, error) {
	if err := billing.WholeUTCDays(start, end); err != nil {
		return 0, fmt.Errorf("%s: %w", Name, err)
	}
	buckets, err := f.CostReport(ctx, start, end)
	if err != nil {
		return 0, err
	}
	return sumBuckets(f.c, buckets, start, end)
}

// usd is how the cost report's amounts are summed: cents, in "USD".
var usd = billing.BucketFormat{Unit: billing.Cents, USD: func(c string) bool { return c == "USD" }, Noun: "an item"}

func sumBuckets(c *billing.Client, buckets []Bucket, start, end time.Time) (abi.NanoUSD, error) {
	days := make([]billing.DayBucket, len(buckets))
	for i, b := range buckets {
		days[i] = billing.DayBucket{Start: b.Start, End: b.End, Amounts: make([]billing.Amount, len(b.Items))}
		for j, it := range b.Items {
			days[i].Amounts[j] = billing.Amount{Text: it.cents, Currency: it.Currency}
		}
	}
	return c.SumBuckets(days, start, end, usd)
}

// FetchUsageUSD is FetchUsageNanos in dollars.
func (f *Fetcher) FetchUsageUSD(ctx context.Context, start, end time.Time) (float64, error) {
	n, err := f.FetchUsageNanos(ctx, start, end)
	return n.USD(), err
}
