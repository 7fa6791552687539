package zai_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/internal/billingtest"
	"github.com/gofastr/store/billing/zai"
)

const testKey = "zai-TESTKEY.0123456789abcdef"

var _ billingtest.UsageFetcher = (*zai.Fetcher)(nil)

func inBody(code int, msg string) string {
	return fmt.Sprintf(`{"code":%d,"msg":%q,"success":false}`, code, msg)
}

func TestErrors(t *testing.T) {
	for _, ep := range []struct {
		name string
		ok   string
		call func(ctx context.Context, f *zai.Fetcher) error
	}{
		{"quota", "quota.json", func(ctx context.Context, f *zai.Fetcher) error { _, err := f.Quota(ctx); return err }},
		{"subscriptions", "subscriptions.json", func(ctx context.Context, f *zai.Fetcher) error { _, err := f.Subscriptions(ctx); return err }},
	} {
		t.Run(ep.name, func(t *testing.T) {
			billingtest.Suite{
				Key:          testKey,
				OK:           billingtest.Fixture(t, ep.ok),
				AuthHeader:   "Authorization",
				AuthValue:    "Bearer " + testKey,
				StatusInBody: inBody,
				Call: func(ctx context.Context, opts ...billing.Option) error {
					f, err := zai.New(testKey, opts...)
					if err != nil {
						return err
					}
					return ep.call(ctx, f)
				},
			}.Run(t)
		})
	}
}

func TestFetchUsageUnsupported(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "quota.json")})
	f, err := zai.New(testKey, srv.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	if _, err := f.FetchUsageUSD(context.Background(), start, start.AddDate(0, 1, 0)); !errors.Is(err, billing.ErrUnsupported) {
		t.Errorf("FetchUsageUSD: want ErrUnsupported, got %v", err)
	}
	if _, err := f.FetchUsageNanos(context.Background(), start, start.AddDate(0, 0, 1)); !errors.Is(err, billing.ErrUnsupported) {
		t.Errorf("FetchUsageNanos: want ErrUnsupported, got %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
	if f.Name() != "zai" {
		t.Errorf("Name %q", f.Name())
	}
}

func TestQuota(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "quota.json")})
	f, _ := zai.New(testKey, srv.Options()...)
	l, err := f.Quota(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 {
		t.Fatalf("%d limits", len(l))
	}
	tok := l[0]
	if tok.Type != "TOKENS_LIMIT" || tok.Unit != 3 || tok.Number != 5 || tok.Cap != 200_000_000 || tok.Used != 50_000_000 ||
		tok.Remaining != 150_000_000 || tok.Percentage != 25 || !tok.NextReset.Equal(time.UnixMilli(1756200000000)) {
		t.Errorf("token limit %+v", tok)
	}
	tl := l[1]
	if tl.Type != "TIME_LIMIT" || !tl.NextReset.IsZero() || len(tl.Details) != 2 || tl.Details[0] != (zai.LimitDetail{ModelCode: "search-prime", Usage: 100}) {
		t.Errorf("time limit %+v", tl)
	}
	if p := srv.Requests()[0].Path; p != "/api/monitor/usage/quota/limit" {
		t.Errorf("path %s", p)
	}
}

func TestSubscriptions(t *testing.T) {
	srv := billingtest.NewServer(t, billingtest.Reply{Body: billingtest.Fixture(t, "subscriptions.json")})
	f, _ := zai.New(testKey, srv.Options()...)
	s, err := f.Subscriptions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := zai.Subscription{ID: "1001", ProductName: "GLM Coding Pro", Status: "VALID", BillingCycle: "monthly",
		InitialPrice: "15.0", ActualPrice: "12.5", PurchaseTime: "2025-07-01 09:00:00",
		Valid: "2025-08-01 09:00:00-2025-09-01 09:00:00", CurrentRenewTime: "2025-08-01", NextRenewTime: "2025-09-01",
		AutoRenew: true, InCurrentPeriod: true, CurrentPeriod: 2}
	if len(s) != 1 || s[0] != want {
		t.Errorf("subscriptions %+v", s)
	}
	if p := srv.Requests()[0].Path; p != "/api/biz/subscription/list" {
		t.Errorf("path %s", p)
	}
}

func TestEnvelope(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       error
	}{
		{"401 with HTTP 200", inBody(401, "token expired"), billing.ErrUnauthorized},
		{"403 with HTTP 200", inBody(403, "no"), billing.ErrForbidden},
		{"1001 with HTTP 200", inBody(1001, "param"), billing.ErrRejected},
		{"success false, code 200", `{"code":200,"msg":"x","success":false}`, billing.ErrUpstream},
		{"success missing", `{"code":200,"data":{"limits":[]}}`, billing.ErrMalformed},
		{"data null", `{"code":200,"success":true,"data":null}`, billing.ErrMalformed},
		{"limits missing", `{"code":200,"success":true,"data":{}}`, billing.ErrMalformed},
		{"limit type missing", `{"code":200,"success":true,"data":{"limits":[{"usage":1}]}}`, billing.ErrMalformed},
		{"usage a string", `{"code":200,"success":true,"data":{"limits":[{"type":"T","usage":"1"}]}}`, billing.ErrMalformed},
	} {
		srv := billingtest.NewServer(t, billingtest.Reply{Body: c.body})
		f, _ := zai.New(testKey, srv.Options()...)
		if _, err := f.Quota(context.Background()); !errors.Is(err, c.want) {
			t.Errorf("%s: want %v, got %v", c.name, c.want, err)
		}
	}
	srv := billingtest.NewServer(t, billingtest.Reply{Body: `{"code":200,"success":true,"data":[{"id":7,"actualPrice":"free"}]}`})
	f, _ := zai.New(testKey, srv.Options()...)
	if _, err := f.Subscriptions(context.Background()); !errors.Is(err, billing.ErrMalformed) {
		t.Errorf("bad price: %v", err)
	}
}

// The observed bodies (outside the repository) parse.
func TestObservedShapes(t *testing.T) {
	quota := billingtest.SharedData(t, "zai/monitor_usage_quota_limit.200.observed.json")
	subs := billingtest.SharedData(t, "zai/biz_subscription_list.200.observed.json")
	srv := billingtest.NewServer(t, billingtest.Reply{Body: quota}, billingtest.Reply{Body: subs})
	f, _ := zai.New(testKey, srv.Options()...)
	l, err := f.Quota(context.Background())
	if err != nil || len(l) != 2 || l[0].Type != "TOKENS_LIMIT" || l[0].Cap != 800_000_000 || l[1].Details == nil {
		t.Errorf("quota: %+v, %v", l, err)
	}
	s, err := f.Subscriptions(context.Background())
	if err != nil || len(s) != 1 || s[0].ActualPrice != "30.0" || s[0].BillingCycle != "monthly" || !s[0].AutoRenew {
		t.Errorf("subscriptions: %+v, %v", s, err)
	}
}
