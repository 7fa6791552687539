// Package zai reads what Z.ai reports about an account's GLM coding plan:
// its token and tool-call quotas (GET /api/monitor/usage/quota/limit) and
// its subscriptions (GET /api/biz/subscription/list).
//
// Z.ai publishes no billing or spending API. The two endpoints here are
// the ones its own console uses, as observed by community tools; their
// shapes may change without notice. Neither reports money spent in a
// period: a coding plan is a flat-fee subscription (Subscriptions gives
// its price and billing cycle), and usage is counted in tokens and calls
// against rolling quotas (Quota). FetchUsageUSD and FetchUsageNanos
// therefore always return an error matching billing.ErrUnsupported, and
// send no request: reconciling a Z.ai plan in dollars cannot be done from
// these endpoints. Pay-as-you-go API spending is not reported either.
//
// The endpoints report errors, authentication failures included, with HTTP
// 200 and a body {"code": 401, "msg": …, "success": false}; such a body is
// a *billing.StatusError with that code. The key is sent as
// "Authorization: Bearer". The default base URL is https://api.z.ai; the
// mainland China site is https://open.bigmodel.cn (billing.WithBaseURL).
package zai

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
	Name = "zai"
	// DefaultBaseURL is Z.ai's international API base URL.
	DefaultBaseURL = "https://api.z.ai"
)

// Fetcher reads Z.ai's quota and subscription endpoints. It is safe for
// concurrent use.
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

// Name returns "zai".
func (f *Fetcher) Name() string { return Name }

// FetchUsageNanos always returns an error matching billing.ErrUnsupported:
// Z.ai reports no money spent per period (see the package documentation).
func (f *Fetcher) FetchUsageNanos(ctx context.Context, start, end time.Time) (abi.NanoUSD, error) {
	return 0, fmt.Errorf("%w: %s: Z.ai reports no spending per period; its coding plans are flat-fee subscriptions with token quotas (see Quota and Subscriptions)", billing.ErrUnsupported, Name)
}

// FetchUsageUSD always returns an error matching billing.ErrUnsupported,
// as FetchUsageNanos.
func (f *Fetcher) FetchUsageUSD(ctx context.Context, start, end time.Time) (float64, error) {
	n, err := f.FetchUsageNanos(ctx, start, end)
	return n.USD(), err
}

// envelope is the wrapper of every answer.
type envelope struct {
	Code    *int            `json:"code"`
	Msg     string          `json:"msg"`
	Success *bool           `json:"success"`
	Data    json.RawMessage `json:"data"`
}

// get fetches path and decodes the envelope's data into out.
func (f *Fetcher) get(ctx context.Context, path string, out any) error {
	var e envelope
	if err := f.c.GetJSON(ctx, path, nil, &e); err != nil {
		return err
	}
	if err := e.check(); err != nil {
		if se, ok := err.(codeError); ok {
			return f.c.StatusError(se.code, se.msg)
		}
		return f.c.Malformed(err)
	}
	if err := billing.DecodeJSON(e.Data, out); err != nil {
		return f.c.Malformed(err)
	}
	return nil
}

type codeError struct {
	code int
	msg  string
}

func (e codeError) Error() string { return fmt.Sprintf("code %d: %s", e.code, e.msg) }

// check returns a codeError for an error envelope, an ErrMalformed error
// for a body that is not an envelope.
func (e *envelope) check() error {
	if e.Code == nil || e.Success == nil {
		return fmt.Errorf("%w: code or success missing", billing.ErrMalformed)
	}
	if !*e.Success || *e.Code != 200 {
		code := *e.Code
		if code == 200 || code == 0 {
			code = 500 // success false with no error code: an upstream failure
		}
		return codeError{code: code, msg: e.Msg}
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return fmt.Errorf("%w: data missing", billing.ErrMalformed)
	}
	return nil
}

// Limit is one quota of the plan.
type Limit struct {
	// Type is "TOKENS_LIMIT" (tokens in a rolling window) or
	// "TIME_LIMIT" (tool calls: web search, web reader, …), as reported.
	Type string
	// Unit and Number give the window, in codes Z.ai does not document
	// (observed: unit 3 with number 5 for the 5-hour token window).
	Unit, Number int
	// Cap is the quota (the API's "usage" field), Used what is consumed
	// ("currentValue"), Remaining what is left.
	Cap, Used, Remaining int64
	// Percentage is the share used, 0 to 100, as reported.
	Percentage int
	// NextReset is when the window resets; zero when not reported.
	NextReset time.Time
	// Details split Used by model or tool, when reported.
	Details []LimitDetail
}

// LimitDetail is one model's or tool's share of a limit.
type LimitDetail struct {
	ModelCode string
	Usage     int64
}

type quotaData struct {
	Limits *[]struct {
		Type          string `json:"type"`
		Unit          int    `json:"unit"`
		Number        int    `json:"number"`
		Usage         int64  `json:"usage"`
		CurrentValue  int64  `json:"currentValue"`
		Remaining     int64  `json:"remaining"`
		Percentage    int    `json:"percentage"`
		NextResetTime int64  `json:"nextResetTime"`
		UsageDetails  []struct {
			ModelCode string `json:"modelCode"`
			Usage     int64  `json:"usage"`
		} `json:"usageDetails"`
	} `json:"limits"`
}

func (d *quotaData) limits() ([]Limit, error) {
	if d.Limits == nil {
		return nil, fmt.Errorf("%w: quota: limits missing", billing.ErrMalformed)
	}
	out := make([]Limit, 0, len(*d.Limits))
	for i, l := range *d.Limits {
		if l.Type == "" {
			return nil, fmt.Errorf("%w: quota limit %d: type missing", billing.ErrMalformed, i)
		}
		x := Limit{Type: l.Type, Unit: l.Unit, Number: l.Number, Cap: l.Usage, Used: l.CurrentValue,
			Remaining: l.Remaining, Percentage: l.Percentage}
		if l.NextResetTime > 0 {
			x.NextReset = time.UnixMilli(l.NextResetTime).UTC()
		}
		for _, u := range l.UsageDetails {
			x.Details = append(x.Details, LimitDetail{ModelCode: u.ModelCode, Usage: u.Usage})
		}
		out = append(out, x)
	}
	return out, nil
}

// Quota returns the plan's quotas.
func (f *Fetcher) Quota(ctx context.Context) ([]Limit, error) {
	var d quotaData
	if err := f.get(ctx, "/api/monitor/usage/quota/limit", &d); err != nil {
		return nil, err
	}
	l, err := d.limits()
	if err != nil {
		return nil, f.c.Malformed(err)
	}
	return l, nil
}

// Subscription is one plan subscription of the account.
type Subscription struct {
	ID          string
	ProductName string
	// Status is as reported ("VALID").
	Status string
	// BillingCycle is as reported ("monthly").
	BillingCycle string
	// InitialPrice and ActualPrice are the decimal texts of the prices,
	// as reported. The API states no currency: plans bought on api.z.ai
	// are priced in US dollars, those of open.bigmodel.cn in yuan.
	InitialPrice, ActualPrice string
	// PurchaseTime, Valid ("start-end"), CurrentRenewTime and
	// NextRenewTime are the texts reported; the API states no time zone.
	PurchaseTime, Valid, CurrentRenewTime, NextRenewTime string
	AutoRenew                                            bool
	InCurrentPeriod                                      bool
	CurrentPeriod                                        int
}

type subscription struct {
	ID               json.RawMessage `json:"id"`
	ProductName      string          `json:"productName"`
	Status           string          `json:"status"`
	PurchaseTime     string          `json:"purchaseTime"`
	Valid            string          `json:"valid"`
	AutoRenew        int             `json:"autoRenew"`
	InitialPrice     *json.Number    `json:"initialPrice"`
	ActualPrice      *json.Number    `json:"actualPrice"`
	CurrentPeriod    int             `json:"currentPeriod"`
	CurrentRenewTime string          `json:"currentRenewTime"`
	NextRenewTime    string          `json:"nextRenewTime"`
	BillingCycle     string          `json:"billingCycle"`
	InCurrentPeriod  bool            `json:"inCurrentPeriod"`
}

func subscriptions(list []subscription) ([]Subscription, error) {
	out := make([]Subscription, 0, len(list))
	for i, s := range list {
		x := Subscription{ID: rawID(s.ID), ProductName: s.ProductName, Status: s.Status, BillingCycle: s.BillingCycle,
			PurchaseTime: s.PurchaseTime, Valid: s.Valid, CurrentRenewTime: s.CurrentRenewTime, NextRenewTime: s.NextRenewTime,
			AutoRenew: s.AutoRenew != 0, InCurrentPeriod: s.InCurrentPeriod, CurrentPeriod: s.CurrentPeriod}
		for _, p := range []struct {
			dst *string
			src *json.Number
		}{{&x.InitialPrice, s.InitialPrice}, {&x.ActualPrice, s.ActualPrice}} {
			if p.src == nil {
				continue
			}
			if _, err := billing.ParseNanos(p.src.String(), billing.Dollars); err != nil {
				return nil, fmt.Errorf("subscription %d: price: %w", i, err)
			}
			*p.dst = p.src.String()
		}
		out = append(out, x)
	}
	return out, nil
}

// rawID returns a JSON string's value, or the text of another JSON value.
func rawID(m json.RawMessage) string {
	var s string
	if json.Unmarshal(m, &s) == nil {
		return s
	}
	return string(m)
}

// Subscriptions returns the account's plan subscriptions.
func (f *Fetcher) Subscriptions(ctx context.Context) ([]Subscription, error) {
	var list []subscription
	if err := f.get(ctx, "/api/biz/subscription/list", &list); err != nil {
		return nil, err
	}
	s, err := subscriptions(list)
	if err != nil {
		return nil, f.c.Malformed(err)
	}
	return s, nil
}
