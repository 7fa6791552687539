package billing_test

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing"
)

func TestParseNanos(t *testing.T) {
	for _, c := range []struct {
		text string
		unit billing.Unit
		want abi.NanoUSD
	}{
		{"0", billing.Dollars, 0},
		{"-0", billing.Dollars, 0},
		{"1", billing.Dollars, 1_000_000_000},
		{"0.015", billing.Dollars, 15_000_000},
		{"25.75", billing.Dollars, 25_750_000_000},
		{"1e-9", billing.Dollars, 1},
		{"1.5E+2", billing.Dollars, 150_000_000_000},
		{"0.0000000005", billing.Dollars, 1}, // half away from zero
		{"-0.0000000005", billing.Dollars, -1},
		{"0.00000000049", billing.Dollars, 0},
		{"-2.5", billing.Dollars, -2_500_000_000},
		{"123.78912", billing.Cents, 1_237_891_200}, // Anthropic's example: $1.2378912
		{"123.45", billing.Cents, 1_234_500_000},
		{"100", billing.Cents, 1_000_000_000},
		{"0.00000005", billing.Cents, 1},
		{"9223372036.854775807", billing.Dollars, 9223372036854775807},
		{"30.0", billing.Dollars, 30_000_000_000},
	} {
		got, err := billing.ParseNanos(c.text, c.unit)
		if err != nil || got != c.want {
			t.Errorf("ParseNanos(%q, %d) = %d, %v; want %d", c.text, c.unit, got, err, c.want)
		}
	}
	for _, bad := range []string{
		"", "-", ".5", "5.", "1e", "1e+", "+1", "0x10", "1,5", " 1", "1 ", "NaN", "Inf", "1e41", "1e-41",
		"1e99999999999999999999", strings.Repeat("1", 65), "9223372036.854775808", "1e20",
	} {
		if _, err := billing.ParseNanos(bad, billing.Dollars); !errors.Is(err, billing.ErrMalformed) {
			t.Errorf("ParseNanos(%q): want ErrMalformed, got %v", bad, err)
		}
	}
}

func TestSumExact(t *testing.T) {
	var s billing.Sum
	for _, x := range []string{"0.1", "0.2", "0.0000000004", "4e-10", "-0.05"} {
		if err := s.Add(x, billing.Dollars); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add("1.5", billing.Cents); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("oops", billing.Dollars); !errors.Is(err, billing.ErrMalformed) {
		t.Errorf("bad amount: %v", err)
	}
	// 0.3 - 0.05 + 0.015 dollars and 0.8 nano-dollars, rounded once.
	n, err := s.Nanos()
	if err != nil || n != 265_000_001 || s.Len() != 6 {
		t.Errorf("sum = %d, %v (%d amounts); want 265000001 of 6", n, err, s.Len())
	}
	var zero billing.Sum
	if n, err := zero.Nanos(); n != 0 || err != nil {
		t.Errorf("empty sum = %d, %v", n, err)
	}
	var big billing.Sum
	for i := 0; i < 2; i++ {
		if err := big.Add("9000000000", billing.Dollars); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := big.Nanos(); !errors.Is(err, billing.ErrMalformed) {
		t.Errorf("overflowing sum: %v", err)
	}
}

// FuzzParseNanos checks the parser against math/big on any text: both
// accept the same JSON-number syntax (within the bounds) and agree.
func FuzzParseNanos(f *testing.F) {
	for _, s := range []string{"0", "-1.5", "123.78912", "1e-9", "2.5E+3", "0.0000000005", "1e41", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := billing.ParseNanos(s, billing.Dollars)
		if err != nil {
			if !errors.Is(err, billing.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("ParseNanos accepted %q, math/big does not", s)
		}
		r.Mul(r, big.NewRat(1_000_000_000, 1))
		lo := new(big.Rat).SetInt64(int64(got) - 1)
		hi := new(big.Rat).SetInt64(int64(got) + 1)
		if r.Cmp(lo) <= 0 || r.Cmp(hi) >= 0 {
			t.Fatalf("ParseNanos(%q) = %d, exact %s", s, got, r.FloatString(3))
		}
	})
}

func TestWholeUTCDays(t *testing.T) {
	d := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	if err := billing.WholeUTCDays(d, d.AddDate(0, 0, 3)); err != nil {
		t.Error(err)
	}
	tz := time.FixedZone("UTC-5", -5*3600)
	if err := billing.WholeUTCDays(d.In(tz), d.AddDate(0, 0, 1).In(tz)); err != nil {
		t.Errorf("same instants in another zone: %v", err)
	}
	for _, p := range [][2]time.Time{
		{d, d}, {d, d.Add(-24 * time.Hour)}, {d.Add(time.Nanosecond), d.AddDate(0, 0, 1)},
		{d, d.Add(36 * time.Hour)}, {time.Date(2025, 8, 1, 0, 0, 0, 0, tz), d.AddDate(0, 0, 2)},
	} {
		if err := billing.WholeUTCDays(p[0], p[1]); !errors.Is(err, billing.ErrUnsupported) {
			t.Errorf("[%v, %v): want ErrUnsupported, got %v", p[0], p[1], err)
		}
	}
}

func newClient(t *testing.T, url, key string, opts ...billing.Option) *billing.Client {
	t.Helper()
	c, err := billing.NewClient(billing.Endpoint{Provider: "test", BaseURL: url, Key: key, AuthHeader: "Authorization", AuthPrefix: "Bearer "},
		append([]billing.Option{billing.WithRetryBackoff(time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewClientConfig(t *testing.T) {
	for name, ep := range map[string]billing.Endpoint{
		"empty key":    {Provider: "p", BaseURL: "https://example.com", AuthHeader: "Authorization"},
		"key with CR":  {Provider: "p", BaseURL: "https://example.com", Key: "secret\r\nX: y", AuthHeader: "Authorization"},
		"no base URL":  {Provider: "p", Key: "secret", AuthHeader: "Authorization"},
		"query in URL": {Provider: "p", BaseURL: "https://example.com/?a=b", Key: "secret", AuthHeader: "Authorization"},
	} {
		_, err := billing.NewClient(ep)
		if !errors.Is(err, billing.ErrConfig) {
			t.Errorf("%s: want ErrConfig, got %v", name, err)
		}
		if err != nil && ep.Key != "" && strings.Contains(err.Error(), ep.Key) {
			t.Errorf("%s: key in error %q", name, err)
		}
	}
	for _, o := range []billing.Option{billing.WithMaxRetryWait(-1), billing.WithRetryBackoff(-1), billing.WithClock(nil)} {
		if _, err := billing.NewClient(billing.Endpoint{Provider: "p", BaseURL: "https://x", Key: "k", AuthHeader: "A"}, o); !errors.Is(err, billing.ErrConfig) {
			t.Errorf("bad option: %v", err)
		}
	}
}

func TestGetJSONPathAndMessage(t *testing.T) {
	const key = "sk-very-secret-key"
	var gotPath, gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
		w.WriteHeader(400)
		// The key split by control characters and a long message.
		w.Write([]byte(`{"error":"bad: sk-very-\u0007secret-key ` + strings.Repeat("x", 500) + `"}`))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL+"/api/v1/", key)
	err := c.GetJSON(context.Background(), "/activity", map[string][]string{"date": {"2025-08-24"}}, new(struct{}))
	var se *billing.StatusError
	if !errors.As(err, &se) || !errors.Is(err, billing.ErrRejected) || se.StatusCode != 400 {
		t.Fatalf("want a 400 StatusError, got %v", err)
	}
	if strings.Contains(err.Error(), key) || !strings.HasPrefix(se.Message, "bad: [key] x") || len(se.Message) > 210 {
		t.Errorf("message %q", se.Message)
	}
	if gotPath != "/api/v1/activity" || gotQuery != "date=2025-08-24" {
		t.Errorf("request %s?%s", gotPath, gotQuery)
	}
}

func TestRetryAfterCapAndCount(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(429)
	}))
	defer srv.Close()
	// The wait asked for (2s) exceeds the cap (1s): no retry.
	c := newClient(t, srv.URL, "k", billing.WithMaxRetryWait(time.Second))
	err := c.GetJSON(context.Background(), "/x", nil, new(struct{}))
	var rl *billing.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second || rl.Attempts != 1 || n != 1 {
		t.Errorf("got %v (%+v), %d requests", err, rl, n)
	}
	if !strings.Contains(err.Error(), "retry after 2s") {
		t.Errorf("error %q", err)
	}
}

func TestStatusErrorIs(t *testing.T) {
	for code, want := range map[int]error{
		401: billing.ErrUnauthorized, 403: billing.ErrForbidden, 429: billing.ErrRateLimited,
		500: billing.ErrUpstream, 599: billing.ErrUpstream, 400: billing.ErrRejected, 404: billing.ErrRejected, 1113: billing.ErrRejected,
	} {
		err := error(&billing.StatusError{Provider: "p", StatusCode: code})
		if !errors.Is(err, want) {
			t.Errorf("%d: does not match %v", code, want)
		}
	}
}

// TestClientRefusesRedirects: a redirect, to another host or the same one,
// is not followed, whatever header carries the key and whichever client
// the caller gives; the answer is ErrRejected and the key reaches nobody
// else.
func TestClientRefusesRedirects(t *testing.T) {
	const key = "sk-secret-redirect-key"
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = append(leaked, r.Header.Get("X-Api-Key")+r.Header.Get("Authorization"))
		w.Write([]byte(`{}`))
	}))
	defer other.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/elsewhere", status)
		}))
		for _, header := range []string{"X-Api-Key", "Authorization"} {
			for _, hc := range []*http.Client{nil, {}, {CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}} {
				opts := []billing.Option{billing.WithBaseURL(api.URL)}
				if hc != nil {
					opts = append(opts, billing.WithHTTPClient(hc))
				}
				c, err := billing.NewClient(billing.Endpoint{Provider: "test", BaseURL: api.URL, Key: key, AuthHeader: header}, opts...)
				if err != nil {
					t.Fatal(err)
				}
				var out struct{}
				err = c.GetJSON(context.Background(), "/v1/usage", nil, &out)
				if !errors.Is(err, billing.ErrRejected) || strings.Contains(err.Error(), key) {
					t.Errorf("HTTP %d, key in %s: %v; want ErrRejected without the key", status, header, err)
				}
				if hc != nil && hc.CheckRedirect != nil && hc.CheckRedirect(nil, nil) != nil {
					t.Errorf("the caller's client was changed")
				}
			}
		}
		api.Close()
	}
	if len(leaked) != 0 {
		t.Fatalf("the redirect target received %d requests (headers %q)", len(leaked), leaked)
	}
}
