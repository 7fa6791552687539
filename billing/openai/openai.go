// Package openai reads an organization's spending from OpenAI's costs API
// (GET /v1/organization/costs).
//
// The costs API answers in daily buckets (bucket_width 1d), each
// [start_time, end_time) of one UTC day in Unix seconds, with cost results
// whose amount is {"value": <number>, "currency": "usd"}: dollars, the
// currency in lower case. FetchUsageNanos and FetchUsageUSD sum every
// result of the buckets of [start, end), following the pages (has_more,
// next_page), exactly: the value's decimal text is parsed, never a
// float64.
//
// The period must be whole UTC days (ErrUnsupported otherwise). A bucket
// that overlaps the period only in part is ErrMalformed; a bucket outside
// it is ignored. A result in another currency is ErrCurrency. The costs
// cover the whole organization (all projects and keys); the current day's
// bucket may be incomplete. An admin key is required, sent as
// "Authorization: Bearer".
package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing"
)

const (
	// Name is the provider name, as in provider attempts.
	Name = "openai"
	// DefaultBaseURL is OpenAI's API base URL.
	DefaultBaseURL = "https://api.openai.com/v1"
	// MaxPages bounds the pages followed for one period.
	MaxPages = 1000
	// pageLimit is the most buckets the API returns per page.
	pageLimit = 180
)

// Fetcher reads OpenAI's organization costs. It is safe for concurrent
// use.
type Fetcher struct {
	c *billing.Client
}

// New returns a Fetcher that authenticates with the admin key key. An
// empty key or an invalid option is an error matching billing.ErrConfig.
func New(key string, opts ...billing.Option) (*Fetcher, error) {
	c, err := billing.NewClient(billing.Endpoint{
		Provider:   Name,
		BaseURL:    DefaultBaseURL,
		Key:        key,
		AuthHeader: "Authorization",
		AuthPrefix: "Bearer ",
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &Fetcher{c: c}, nil
}

// Name returns "openai".
func (f *Fetcher) Name() string { return Name }

// Granularity returns [billing.Day]: the API reports spending per UTC
// day, so FetchUsageUSD and FetchUsageNanos take whole UTC days only.
func (f *Fetcher) Granularity() time.Duration { return billing.Day }

// Bucket is one time bucket of the costs.
type Bucket struct {
	Start, End time.Time
	Results    []Cost
}

// Cost is one cost result; LineItem and ProjectID are set only when the
// costs are grouped by them.
type Cost struct {
	// Amount is the cost in nano-dollars, rounded half away from zero
	// (the sums of FetchUsageNanos are exact).
	Amount    abi.NanoUSD
	Currency  string
	LineItem  string
	ProjectID string

	value string // the decimal text of the amount
}

type costsResponse struct {
	Data *[]struct {
		StartTime *int64 `json:"start_time"`
		EndTime   *int64 `json:"end_time"`
		Results   *[]struct {
			Amount *struct {
				Value    *json.Number `json:"value"`
				Currency *string      `json:"currency"`
			} `json:"amount"`
			LineItem  *string `json:"line_item"`
			ProjectID *string `json:"project_id"`
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

// maxUnix bounds bucket times to years 0 to 9999.
const maxUnix = 253402300799

func (r *costsResponse) parse() (buckets []Bucket, next string, err error) {
	if r.Data == nil || r.HasMore == nil {
		return nil, "", fmt.Errorf("%w: costs: data or has_more missing", billing.ErrMalformed)
	}
	if *r.HasMore {
		if json.Unmarshal(r.NextPage, &next) != nil || next == "" {
			return nil, "", fmt.Errorf("%w: costs: has_more without a next_page string", billing.ErrMalformed)
		}
	}
	for i, d := range *r.Data {
		if d.StartTime == nil || d.EndTime == nil || d.Results == nil {
			return nil, "", fmt.Errorf("%w: costs bucket %d: start_time, end_time or results missing", billing.ErrMalformed, i)
		}
		if *d.StartTime < 0 || *d.EndTime > maxUnix || *d.EndTime <= *d.StartTime {
			return nil, "", fmt.Errorf("%w: costs bucket %d: times out of range or inverted", billing.ErrMalformed, i)
		}
		b := Bucket{Start: time.Unix(*d.StartTime, 0).UTC(), End: time.Unix(*d.EndTime, 0).UTC()}
		for j, x := range *d.Results {
			if x.Amount == nil || x.Amount.Value == nil || x.Amount.Currency == nil {
				return nil, "", fmt.Errorf("%w: costs bucket %d result %d: amount value or currency missing", billing.ErrMalformed, i, j)
			}
			c := Cost{Currency: *x.Amount.Currency, LineItem: str(x.LineItem), ProjectID: str(x.ProjectID), value: x.Amount.Value.String()}
			if c.Amount, err = billing.ParseNanos(c.value, billing.Dollars); err != nil {
				return nil, "", fmt.Errorf("costs bucket %d result %d: %w", i, j, err)
			}
			b.Results = append(b.Results, c)
		}
		buckets = append(buckets, b)
	}
	return buckets, next, nil
}

// Costs returns the daily buckets of [start, end) (start_time, end_time),
// following every page.
func (f *Fetcher) Costs(ctx context.Context, start, end time.Time) ([]Bucket, error) {
	q := url.Values{
		"start_time":   {strconv.FormatInt(start.Unix(), 10)},
		"end_time":     {strconv.FormatInt(end.Unix(), 10)},
		"bucket_width": {"1d"},
		"limit":        {strconv.Itoa(pageLimit)},
	}
	return billing.GetPages(ctx, f.c, "costs", "/organization/costs", q, MaxPages, (*costsResponse).parse)
}

// FetchUsageNanos returns the organization's costs in the UTC days of
// [start, end), in nano-dollars: the exact sum of the results of those
// days' buckets.
func (f *Fetcher) FetchUsageNanos(ctx context.Context, start, end time.Time) (abi.NanoUSD, error) {
	if err := billing.WholeUTCDays(start, end); err != nil {
		return 0, fmt.Errorf("%s: %w", Name, err)
	}
	buckets, err := f.Costs(ctx, start, end)
	if err != nil {
		return 0, err
	}
	return sumBuckets(f.c, buckets, start, end)
}

// usd is how the costs' amounts are summed: dollars, in "usd" (any case).
var usd = billing.BucketFormat{Unit: billing.Dollars, USD: func(c string) bool { return strings.EqualFold(c, "usd") }, Noun: "a result"}

func sumBuckets(c *billing.Client, buckets []Bucket, start, end time.Time) (abi.NanoUSD, error) {
	days := make([]billing.DayBucket, len(buckets))
	for i, b := range buckets {
		days[i] = billing.DayBucket{Start: b.Start, End: b.End, Amounts: make([]billing.Amount, len(b.Results))}
		for j, r := range b.Results {
			days[i].Amounts[j] = billing.Amount{Text: r.value, Currency: r.Currency}
		}
	}
	return c.SumBuckets(days, start, end, usd)
}

// FetchUsageUSD is FetchUsageNanos in dollars.
func (f *Fetcher) FetchUsageUSD(ctx context.Context, start, end time.Time) (float64, error) {
	n, err := f.FetchUsageNanos(ctx, start, end)
	return n.USD(), err
}
