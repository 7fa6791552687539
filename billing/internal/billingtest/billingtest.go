// Package billingtest holds what the billing fetchers' tests share: the
// scripted test server (one page or two), the shared error suite, and
// small helpers for dates and testdata fixtures.
package billingtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing"
)

// Reply is one scripted answer of a Server.
type Reply struct {
	Status int
	Header map[string]string
	Body   string
	// Delay holds the answer back (until the client gives up, if sooner).
	Delay time.Duration
}

// Request is what a Server saw of one request.
type Request struct {
	Path   string
	Query  url.Values
	Header http.Header
	URL    string
}

// Server answers the n-th request with the n-th reply of its script (the
// last reply repeats), or with its handler.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	replies []Reply
	reqs    []Request
	handler func(n int, r *http.Request) Reply
}

// NewServer starts a Server answering with replies in order.
func NewServer(t testing.TB, replies ...Reply) *Server {
	return start(t, &Server{replies: replies})
}

// NewServerFunc starts a Server answering request n (from 0) with h's
// reply.
func NewServerFunc(t testing.TB, h func(n int, r *http.Request) Reply) *Server {
	return start(t, &Server{handler: h})
}

func start(t testing.TB, s *Server) *Server {
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, Request{Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), URL: r.URL.String()})
	var rep Reply
	if s.handler != nil {
		s.mu.Unlock()
		rep = s.handler(n, r)
	} else {
		i := n
		if i >= len(s.replies) {
			i = len(s.replies) - 1
		}
		rep = s.replies[i]
		s.mu.Unlock()
	}
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	if rep.Status == 0 {
		rep.Status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.Status)
	fmt.Fprint(w, rep.Body)
}

// Pages starts a Server for a paginated report: a request without the
// page query parameter gets first, one with page=cursor gets second, and
// any other page an HTTP 400 with errBody.
func Pages(t testing.TB, cursor, first, second, errBody string) *Server {
	return NewServerFunc(t, func(n int, r *http.Request) Reply {
		switch r.URL.Query().Get("page") {
		case "":
			return Reply{Body: first}
		case cursor:
			return Reply{Body: second}
		}
		return Reply{Status: http.StatusBadRequest, Body: errBody}
	})
}

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Options are the options of a fast test fetcher against s.
func (s *Server) Options(extra ...billing.Option) []billing.Option {
	return append([]billing.Option{
		billing.WithBaseURL(s.URL),
		billing.WithRetryBackoff(time.Millisecond),
		billing.WithMaxRetryWait(2 * time.Second),
	}, extra...)
}

// NoKey fails t if the key appears in err's text, its %+v form or the
// text of any error it wraps.
func NoKey(t testing.TB, err error, key string) {
	t.Helper()
	if err == nil {
		return
	}
	var walk func(e error)
	walk = func(e error) {
		if e == nil {
			return
		}
		for _, s := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			if strings.Contains(s, key) {
				t.Errorf("error text contains the API key: %s", s)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
}

// Call makes the fetcher under test with opts and runs one fetch of it.
type Call func(ctx context.Context, opts ...billing.Option) error

// NanoFetcher is a fetcher with FetchUsageNanos.
type NanoFetcher interface {
	FetchUsageNanos(ctx context.Context, start, end time.Time) (abi.NanoUSD, error)
}

// FetchCall returns the Call of a Suite that makes a fetcher with
// newFetcher(key, opts...) and fetches [start, end) with FetchUsageNanos.
func FetchCall[F NanoFetcher](key string, newFetcher func(key string, opts ...billing.Option) (F, error), start, end time.Time) Call {
	return func(ctx context.Context, opts ...billing.Option) error {
		f, err := newFetcher(key, opts...)
		if err != nil {
			return err
		}
		_, err = f.FetchUsageNanos(ctx, start, end)
		return err
	}
}

// FuzzReport checks one fuzzed body of a paged report: body is decoded
// into a P and parsed by parse, either failing only with an error matching
// billing.ErrMalformed; the parsed items are then summed by sum, failing
// only with ErrMalformed or ErrCurrency. Nothing may panic.
func FuzzReport[P, T any](t *testing.T, body []byte, parse func(*P) ([]T, string, error), sum func([]T) error) {
	t.Helper()
	var p P
	if err := billing.DecodeJSON(body, &p); err != nil {
		if !errors.Is(err, billing.ErrMalformed) {
			t.Fatal(err)
		}
		return
	}
	items, _, err := parse(&p)
	if err != nil {
		if !errors.Is(err, billing.ErrMalformed) {
			t.Fatal(err)
		}
		return
	}
	if err := sum(items); err != nil && !errors.Is(err, billing.ErrMalformed) && !errors.Is(err, billing.ErrCurrency) {
		t.Fatal(err)
	}
}

// Suite is the shared error-handling test of a fetcher.
type Suite struct {
	// Key is the API key the fetcher is made with; it is echoed in the
	// servers' error bodies to check that it never reaches an error.
	Key string
	// OK is a body the fetch accepts.
	OK string
	// Call runs the fetch.
	Call Call
	// AuthHeader and AuthValue are the header the key must arrive in.
	AuthHeader, AuthValue string
	// StatusInBody wraps an error status as the provider does when it
	// reports errors with HTTP 200 (Z.ai); nil for none.
	StatusInBody func(code int, msg string) string
}

// Run runs every case of the suite.
func (s Suite) Run(t *testing.T) {
	echo := func(code int) string {
		return fmt.Sprintf(`{"error":{"code":%d,"message":"bad key %s\u0000 given"}}`, code, s.Key)
	}
	type tc struct {
		name     string
		replies  []Reply
		opts     []billing.Option
		ctx      func() (context.Context, context.CancelFunc)
		want     error
		requests int
		minTime  time.Duration
		check    func(t *testing.T, err error)
	}
	cases := []tc{
		{name: "ok", replies: []Reply{{Body: s.OK}}, requests: 1},
		{name: "401", replies: []Reply{{Status: 401, Body: echo(401)}}, want: billing.ErrUnauthorized, requests: 1,
			check: func(t *testing.T, err error) {
				var se *billing.StatusError
				if !errors.As(err, &se) || se.StatusCode != 401 {
					t.Errorf("want *StatusError 401, got %v", err)
				} else if !strings.Contains(se.Message, "bad key [key]") {
					t.Errorf("message %q: want the echoed key scrubbed", se.Message)
				}
			}},
		{name: "403", replies: []Reply{{Status: 403, Body: echo(403)}}, want: billing.ErrForbidden, requests: 1},
		{name: "404", replies: []Reply{{Status: 404, Body: echo(404)}}, want: billing.ErrRejected, requests: 1},
		{name: "429-retry-after-then-ok", replies: []Reply{
			{Status: 429, Header: map[string]string{"Retry-After": "1"}, Body: echo(429)},
			{Body: s.OK}}, requests: 2, minTime: time.Second},
		{name: "429-retry-after-over-cap", replies: []Reply{{Status: 429, Header: map[string]string{"Retry-After": "3600"}, Body: echo(429)}},
			want: billing.ErrRateLimited, requests: 1,
			check: func(t *testing.T, err error) {
				var rl *billing.RateLimitError
				if !errors.As(err, &rl) || rl.RetryAfter != time.Hour || rl.Attempts != 1 {
					t.Errorf("want *RateLimitError{RetryAfter: 1h, Attempts: 1}, got %#v", rl)
				}
			}},
		{name: "429-retries-exhausted", replies: []Reply{{Status: 429, Body: echo(429)}},
			opts: []billing.Option{billing.WithRetries(2)}, want: billing.ErrRateLimited, requests: 3},
		{name: "429-http-date", replies: []Reply{
			{Status: 429, Header: map[string]string{"Retry-After": time.Now().Add(-time.Second).UTC().Format(http.TimeFormat)}},
			{Body: s.OK}}, requests: 2},
		{name: "5xx-then-ok", replies: []Reply{{Status: 502, Body: "<html>bad gateway</html>"}, {Body: s.OK}}, requests: 2},
		{name: "5xx-exhausted", replies: []Reply{{Status: 503, Body: echo(503)}},
			opts: []billing.Option{billing.WithRetries(1)}, want: billing.ErrUpstream, requests: 2},
		{name: "5xx-no-retry", replies: []Reply{{Status: 500, Body: echo(500)}},
			opts: []billing.Option{billing.WithRetries(0)}, want: billing.ErrUpstream, requests: 1},
		{name: "malformed-json", replies: []Reply{{Body: `{"data": [` + s.Key}}, want: billing.ErrMalformed, requests: 1},
		{name: "empty-object", replies: []Reply{{Body: `{}`}}, want: billing.ErrMalformed, requests: 1},
		{name: "not-json", replies: []Reply{{Body: `<html>` + s.Key + `</html>`}}, want: billing.ErrMalformed, requests: 1},
		{name: "too-large", replies: []Reply{{Body: s.OK}}, opts: []billing.Option{billing.WithMaxResponseBytes(8)},
			want: billing.ErrMalformed, requests: 1},
		{name: "client-timeout", replies: []Reply{{Body: s.OK, Delay: 2 * time.Second}},
			opts: []billing.Option{billing.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond})},
			want: context.DeadlineExceeded, requests: 1},
		{name: "context-deadline", replies: []Reply{{Body: s.OK, Delay: 2 * time.Second}},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			},
			want: context.DeadlineExceeded, requests: 1},
		{name: "context-deadline-in-retry-wait", replies: []Reply{{Status: 429, Header: map[string]string{"Retry-After": "1"}}, {Body: s.OK}},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: context.DeadlineExceeded, requests: 1},
	}
	if s.StatusInBody != nil {
		cases = append(cases,
			tc{name: "401-in-body", replies: []Reply{{Body: s.StatusInBody(401, "token expired "+s.Key)}}, want: billing.ErrUnauthorized, requests: 1},
			tc{name: "500-in-body", replies: []Reply{{Body: s.StatusInBody(500, "busy")}}, want: billing.ErrUpstream, requests: 1})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := NewServer(t, c.replies...)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if c.ctx != nil {
				ctx, cancel = c.ctx()
			}
			defer cancel()
			t0 := time.Now()
			err := s.Call(ctx, srv.Options(c.opts...)...)
			elapsed := time.Since(t0)
			if c.want == nil && err != nil {
				t.Fatalf("want success, got %v", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("want an error matching %v, got %v", c.want, err)
			}
			NoKey(t, err, s.Key)
			reqs := srv.Requests()
			if len(reqs) != c.requests {
				t.Errorf("server saw %d requests, want %d", len(reqs), c.requests)
			}
			if elapsed < c.minTime {
				t.Errorf("took %v, want at least %v (Retry-After honoured)", elapsed, c.minTime)
			}
			for _, r := range reqs {
				if got := r.Header.Get(s.AuthHeader); got != s.AuthValue {
					t.Errorf("header %s = %q, want the key in it", s.AuthHeader, got)
				}
				if strings.Contains(r.URL, s.Key) {
					t.Errorf("the key is in the URL %s", r.URL)
				}
			}
			if c.check != nil {
				c.check(t, err)
			}
		})
	}
	t.Run("connection-refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		err := s.Call(context.Background(), billing.WithBaseURL(u), billing.WithRetries(0))
		if !errors.Is(err, billing.ErrUpstream) {
			t.Fatalf("want ErrUpstream, got %v", err)
		}
		NoKey(t, err, s.Key)
	})
	t.Run("config", func(t *testing.T) {
		for _, o := range []billing.Option{
			billing.WithBaseURL("ftp://example.com"), billing.WithBaseURL("/relative"),
			billing.WithBaseURL("https://user:" + s.Key + "@example.com"),
			billing.WithRetries(-1), billing.WithMaxResponseBytes(0), billing.WithHTTPClient(nil),
		} {
			err := s.Call(context.Background(), o)
			if !errors.Is(err, billing.ErrConfig) {
				t.Errorf("want ErrConfig, got %v", err)
			}
			NoKey(t, err, s.Key)
		}
	})
}

// UsageFetcher is the shape a reconciliation job takes of a fetcher;
// every fetcher satisfies it.
type UsageFetcher interface {
	Name() string
	FetchUsageUSD(ctx context.Context, start, end time.Time) (float64, error)
}

// Day returns 00:00 UTC of the date s (YYYY-MM-DD). A date that does not
// parse is a mistake in the test's own text, and panics.
func Day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Fixture returns the contents of testdata/name of the package under
// test, failing t if it cannot be read.
func Fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// SharedData returns the contents of name under the directory of
// $GOFASTR_BILLING_TESTDATA (the documented example bodies of the billing
// APIs, kept outside the repository), or skips t saying why.
func SharedData(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("GOFASTR_BILLING_TESTDATA")
	if dir == "" {
		t.Skip("GOFASTR_BILLING_TESTDATA is not set: no documented example bodies to check the parser against (point it at a billing-api directory)")
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Skipf("documented example %s not readable: %v", name, err)
	}
	return string(b)
}
