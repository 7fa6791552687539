// Package openrouter reads OpenRouter's spending: the account's credits
// (GET /api/v1/credits), the calling key's usage (GET /api/v1/key) and the
// per-day activity of the last 30 completed UTC days (GET
// /api/v1/activity), the one that answers a period.
//
// FetchUsageUSD and FetchUsageNanos sum the usage field of the activity
// rows dated in [start, end): the OpenRouter credits spent by the whole
// account, all keys, in those UTC days. The period must be whole UTC days,
// end no later than today 00:00 UTC (today is not yet in the activity) and
// start no earlier than 30 days before today; any other period is
// ErrUnsupported. The usage of bring-your-own-key requests that the
// upstream provider bills directly (byok_usage_inference) is not included;
// Activity returns it per row. The credits and key endpoints report
// totals and the current day, week and month, not arbitrary periods.
//
// The activity and credits endpoints need a management key; an inference
// key gets ErrForbidden. The key is sent as "Authorization: Bearer".
package openrouter

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing"
)

const (
	// Name is the provider name, as in provider attempts.
	Name = "openrouter"
	// DefaultBaseURL is OpenRouter's API base URL.
	DefaultBaseURL = "https://openrouter.ai/api/v1"
	// ActivityDays is how many completed UTC days the activity endpoint
	// keeps.
	ActivityDays = 30
)

// Fetcher reads OpenRouter's billing endpoints. It is safe for concurrent
// use.
type Fetcher struct {
	c *billing.Client
}

// New returns a Fetcher that authenticates with key. An empty key or an
// invalid option is an error matching billing.ErrConfig.
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

// Name returns "openrouter".
func (f *Fetcher) Name() string { return Name }

// Granularity returns [billing.Day]: the API reports spending per UTC
// day, so FetchUsageUSD and FetchUsageNanos take whole UTC days only.
func (f *Fetcher) Granularity() time.Duration { return billing.Day }

// Credits are the account's purchased and used credits, in USD.
type Credits struct {
	TotalCredits abi.NanoUSD
	TotalUsage   abi.NanoUSD
}

type creditsResponse struct {
	Data *struct {
		TotalCredits *json.Number `json:"total_credits"`
		TotalUsage   *json.Number `json:"total_usage"`
	} `json:"data"`
}

func (r *creditsResponse) credits() (Credits, error) {
	if r.Data == nil || r.Data.TotalCredits == nil || r.Data.TotalUsage == nil {
		return Credits{}, fmt.Errorf("%w: credits: data.total_credits or data.total_usage missing", billing.ErrMalformed)
	}
	var c Credits
	var err error
	if c.TotalCredits, err = billing.ParseNanos(r.Data.TotalCredits.String(), billing.Dollars); err != nil {
		return Credits{}, err
	}
	if c.TotalUsage, err = billing.ParseNanos(r.Data.TotalUsage.String(), billing.Dollars); err != nil {
		return Credits{}, err
	}
	return c, nil
}

// Credits returns the account's total credits purchased and used (GET
// /credits).
func (f *Fetcher) Credits(ctx context.Context) (Credits, error) {
	var r creditsResponse
	if err := f.c.GetJSON(ctx, "/credits", nil, &r); err != nil {
		return Credits{}, err
	}
	c, err := r.credits()
	if err != nil {
		return Credits{}, f.c.Malformed(err)
	}
	return c, nil
}

// KeyUsage is the calling key's spending (GET /key): OpenRouter credits
// used in total and in the current UTC day, week (Monday to Sunday) and
// month, the same for bring-your-own-key usage, and the key's limit.
type KeyUsage struct {
	Label                                         string
	Usage, UsageDaily, UsageWeekly, UsageMonthly  abi.NanoUSD
	BYOKUsage, BYOKDaily, BYOKWeekly, BYOKMonthly abi.NanoUSD
	// Limit and LimitRemaining are nil when the key has no limit.
	Limit, LimitRemaining *abi.NanoUSD
	// LimitReset is the limit's reset period ("monthly"), empty for none.
	LimitReset      string
	IsFreeTier      bool
	IsManagementKey bool
}

type keyResponse struct {
	Data *struct {
		Label           string       `json:"label"`
		Usage           *json.Number `json:"usage"`
		UsageDaily      *json.Number `json:"usage_daily"`
		UsageWeekly     *json.Number `json:"usage_weekly"`
		UsageMonthly    *json.Number `json:"usage_monthly"`
		BYOKUsage       *json.Number `json:"byok_usage"`
		BYOKDaily       *json.Number `json:"byok_usage_daily"`
		BYOKWeekly      *json.Number `json:"byok_usage_weekly"`
		BYOKMonthly     *json.Number `json:"byok_usage_monthly"`
		Limit           *json.Number `json:"limit"`
		LimitRemaining  *json.Number `json:"limit_remaining"`
		LimitReset      *string      `json:"limit_reset"`
		IsFreeTier      bool         `json:"is_free_tier"`
		IsManagementKey bool         `json:"is_management_key"`
	} `json:"data"`
}

func (r *keyResponse) usage() (KeyUsage, error) {
	d := r.Data
	if d == nil || d.Usage == nil {
		return KeyUsage{}, fmt.Errorf("%w: key: data.usage missing", billing.ErrMalformed)
	}
	k := KeyUsage{Label: d.Label, IsFreeTier: d.IsFreeTier, IsManagementKey: d.IsManagementKey}
	if d.LimitReset != nil {
		k.LimitReset = *d.LimitReset
	}
	for _, p := range []struct {
		dst *abi.NanoUSD
		src *json.Number
	}{
		{&k.Usage, d.Usage}, {&k.UsageDaily, d.UsageDaily}, {&k.UsageWeekly, d.UsageWeekly}, {&k.UsageMonthly, d.UsageMonthly},
		{&k.BYOKUsage, d.BYOKUsage}, {&k.BYOKDaily, d.BYOKDaily}, {&k.BYOKWeekly, d.BYOKWeekly}, {&k.BYOKMonthly, d.BYOKMonthly},
	} {
		if p.src == nil {
			continue
		}
		n, err := billing.ParseNanos(p.src.String(), billing.Dollars)
		if err != nil {
			return KeyUsage{}, err
		}
		*p.dst = n
	}
	for _, p := range []struct {
		dst **abi.NanoUSD
		src *json.Number
	}{{&k.Limit, d.Limit}, {&k.LimitRemaining, d.LimitRemaining}} {
		if p.src == nil {
			continue
		}
		n, err := billing.ParseNanos(p.src.String(), billing.Dollars)
		if err != nil {
			return KeyUsage{}, err
		}
		*p.dst = &n
	}
	return k, nil
}

// Key returns the calling key's usage (GET /key); any valid key may read
// it.
func (f *Fetcher) Key(ctx context.Context) (KeyUsage, error) {
	var r keyResponse
	if err := f.c.GetJSON(ctx, "/key", nil, &r); err != nil {
		return KeyUsage{}, err
	}
	k, err := r.usage()
	if err != nil {
		return KeyUsage{}, f.c.Malformed(err)
	}
	return k, nil
}

// ActivityRow is one row of the activity: one UTC day, model and
// endpoint.
type ActivityRow struct {
	// Date is 00:00 UTC of the row's day.
	Date           time.Time
	Model          string
	ModelPermaslug string
	EndpointID     string
	ProviderName   string
	// Usage is the OpenRouter credits spent.
	Usage abi.NanoUSD
	// BYOKUsageInference is the cost of bring-your-own-key requests,
	// billed by the upstream provider.
	BYOKUsageInference abi.NanoUSD
	Requests           int64
	PromptTokens       int64
	CompletionTokens   int64
	ReasoningTokens    int64

	usage string // the decimal text of Usage, summed exactly
}

type activityResponse struct {
	Data *[]struct {
		Date               *string      `json:"date"`
		Model              string       `json:"model"`
		ModelPermaslug     string       `json:"model_permaslug"`
		EndpointID         string       `json:"endpoint_id"`
		ProviderName       string       `json:"provider_name"`
		Usage              *json.Number `json:"usage"`
		BYOKUsageInference *json.Number `json:"byok_usage_inference"`
		Requests           int64        `json:"requests"`
		PromptTokens       int64        `json:"prompt_tokens"`
		CompletionTokens   int64        `json:"completion_tokens"`
		ReasoningTokens    int64        `json:"reasoning_tokens"`
	} `json:"data"`
}

func (r *activityResponse) rows() ([]ActivityRow, error) {
	if r.Data == nil {
		return nil, fmt.Errorf("%w: activity: data missing", billing.ErrMalformed)
	}
	rows := make([]ActivityRow, 0, len(*r.Data))
	for i, d := range *r.Data {
		if d.Date == nil || d.Usage == nil {
			return nil, fmt.Errorf("%w: activity row %d: date or usage missing", billing.ErrMalformed, i)
		}
		day, err := time.Parse(time.DateOnly, *d.Date)
		if err != nil {
			return nil, fmt.Errorf("%w: activity row %d: date is not YYYY-MM-DD", billing.ErrMalformed, i)
		}
		row := ActivityRow{
			Date: day, Model: d.Model, ModelPermaslug: d.ModelPermaslug, EndpointID: d.EndpointID,
			ProviderName: d.ProviderName, Requests: d.Requests, PromptTokens: d.PromptTokens,
			CompletionTokens: d.CompletionTokens, ReasoningTokens: d.ReasoningTokens, usage: d.Usage.String(),
		}
		if row.Usage, err = billing.ParseNanos(d.Usage.String(), billing.Dollars); err != nil {
			return nil, fmt.Errorf("activity row %d: usage: %w", i, err)
		}
		if d.BYOKUsageInference != nil {
			if row.BYOKUsageInference, err = billing.ParseNanos(d.BYOKUsageInference.String(), billing.Dollars); err != nil {
				return nil, fmt.Errorf("activity row %d: byok_usage_inference: %w", i, err)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Activity returns the account's activity rows of the last 30 completed
// UTC days (GET /activity), or of one day when day is not zero (its UTC
// date is sent as the date filter).
func (f *Fetcher) Activity(ctx context.Context, day time.Time) ([]ActivityRow, error) {
	var q map[string][]string
	if !day.IsZero() {
		q = map[string][]string{"date": {day.UTC().Format(time.DateOnly)}}
	}
	var r activityResponse
	if err := f.c.GetJSON(ctx, "/activity", q, &r); err != nil {
		return nil, err
	}
	rows, err := r.rows()
	if err != nil {
		return nil, f.c.Malformed(err)
	}
	return rows, nil
}

// FetchUsageNanos returns the OpenRouter credits the account spent in the
// UTC days of [start, end), in nano-dollars: the exact sum of the usage of
// the activity rows of those days. Periods the activity cannot answer
// (see the package documentation) are errors matching
// billing.ErrUnsupported, before any request.
func (f *Fetcher) FetchUsageNanos(ctx context.Context, start, end time.Time) (abi.NanoUSD, error) {
	if err := f.checkPeriod(start, end); err != nil {
		return 0, err
	}
	rows, err := f.Activity(ctx, time.Time{})
	if err != nil {
		return 0, err
	}
	var sum billing.Sum
	for _, r := range rows {
		if r.Date.Before(start) || !r.Date.Before(end) {
			continue
		}
		if err := sum.Add(r.usage, billing.Dollars); err != nil {
			return 0, f.c.Malformed(err)
		}
	}
	total, err := sum.Nanos()
	if err != nil {
		return 0, f.c.Malformed(err)
	}
	return total, nil
}

// FetchUsageUSD is FetchUsageNanos in dollars.
func (f *Fetcher) FetchUsageUSD(ctx context.Context, start, end time.Time) (float64, error) {
	n, err := f.FetchUsageNanos(ctx, start, end)
	return n.USD(), err
}

func (f *Fetcher) checkPeriod(start, end time.Time) error {
	if err := billing.WholeUTCDays(start, end); err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	today := billing.UTCDay(f.c.Now())
	if end.After(today) {
		return fmt.Errorf("%w: %s: the activity has completed UTC days only; the period ends %s, after today %s",
			billing.ErrUnsupported, Name, end.UTC().Format(time.DateOnly), today.Format(time.DateOnly))
	}
	if oldest := today.AddDate(0, 0, -ActivityDays); start.Before(oldest) {
		return fmt.Errorf("%w: %s: the activity keeps the last %d UTC days, from %s; the period starts %s",
			billing.ErrUnsupported, Name, ActivityDays, oldest.Format(time.DateOnly), start.UTC().Format(time.DateOnly))
	}
	return nil
}
