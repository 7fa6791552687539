package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults of the options.
const (
	DefaultRetries          = 3
	DefaultMaxRetryWait     = 30 * time.Second
	DefaultRetryBackoff     = time.Second
	DefaultMaxResponseBytes = 8 << 20
	DefaultTimeout          = 60 * time.Second
)

// Option configures a fetcher of any sub-package.
type Option func(*settings)

type settings struct {
	baseURL      string
	httpClient   *http.Client
	retries      int
	maxRetryWait time.Duration
	retryBackoff time.Duration
	maxBody      int64
	now          func() time.Time
	err          error
}

// WithBaseURL sets the API's base URL (scheme, host and an optional path
// prefix) in place of the provider's public one: a proxy, a regional
// endpoint, a test server.
func WithBaseURL(u string) Option { return func(s *settings) { s.baseURL = u } }

// WithHTTPClient sets the HTTP client; its Timeout bounds each request.
// The default is a client with a 60-second timeout. The client is copied
// and the copy follows no redirect (a 3xx answer is an error matching
// ErrRejected), so that the key never goes to another URL.
func WithHTTPClient(c *http.Client) Option {
	return func(s *settings) {
		if c == nil {
			s.err = fmt.Errorf("%w: nil HTTP client", ErrConfig)
		}
		s.httpClient = c
	}
}

// WithRetries sets how many times a request is repeated after a 429 or a
// 5xx answer (default 3; 0 sends each request once).
func WithRetries(n int) Option {
	return func(s *settings) {
		if n < 0 {
			s.err = fmt.Errorf("%w: negative retry count", ErrConfig)
		}
		s.retries = n
	}
}

// WithMaxRetryWait caps one wait before a retry (default 30s). A 429 whose
// Retry-After asks for more fails at once with a *RateLimitError.
func WithMaxRetryWait(d time.Duration) Option {
	return func(s *settings) {
		if d < 0 {
			s.err = fmt.Errorf("%w: negative retry wait", ErrConfig)
		}
		s.maxRetryWait = d
	}
}

// WithRetryBackoff sets the first wait before retrying a 5xx, or a 429
// without Retry-After (default 1s); it doubles per retry, up to the cap of
// WithMaxRetryWait.
func WithRetryBackoff(d time.Duration) Option {
	return func(s *settings) {
		if d < 0 {
			s.err = fmt.Errorf("%w: negative retry backoff", ErrConfig)
		}
		s.retryBackoff = d
	}
}

// WithMaxResponseBytes bounds the size of one response body (default
// 8 MiB); a larger body is an error matching ErrMalformed.
func WithMaxResponseBytes(n int64) Option {
	return func(s *settings) {
		if n <= 0 {
			s.err = fmt.Errorf("%w: response limit must be positive", ErrConfig)
		}
		s.maxBody = n
	}
}

// WithClock sets the clock that decides which periods an API can still
// answer (for example OpenRouter's last 30 days). The default is
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *settings) {
		if now == nil {
			s.err = fmt.Errorf("%w: nil clock", ErrConfig)
		}
		s.now = now
	}
}

// Endpoint describes one provider's API for NewClient.
type Endpoint struct {
	// Provider is the provider name used in errors.
	Provider string
	// BaseURL is the public base URL, used unless WithBaseURL is given.
	BaseURL string
	// Key is the API key.
	Key string
	// AuthHeader is the header that carries the key ("Authorization",
	// "X-Api-Key"); AuthPrefix precedes the key in it ("Bearer ").
	AuthHeader string
	AuthPrefix string
	// Header holds fixed headers sent with every request
	// ("anthropic-version").
	Header http.Header
}

// Client sends authenticated GET requests to one billing API and decodes
// JSON answers, with the retry, size and error rules of the package. It is
// safe for concurrent use.
type Client struct {
	ep   Endpoint
	base *url.URL
	s    settings
}

// NewClient returns a Client for ep with opts applied. An empty key or an
// invalid base URL is an error matching ErrConfig (which never contains
// the key).
func NewClient(ep Endpoint, opts ...Option) (*Client, error) {
	s := settings{
		baseURL:      ep.BaseURL,
		retries:      DefaultRetries,
		maxRetryWait: DefaultMaxRetryWait,
		retryBackoff: DefaultRetryBackoff,
		maxBody:      DefaultMaxResponseBytes,
		now:          time.Now,
	}
	for _, o := range opts {
		o(&s)
	}
	if s.err != nil {
		return nil, s.err
	}
	if ep.Key == "" {
		return nil, fmt.Errorf("%w: %s: empty API key", ErrConfig, ep.Provider)
	}
	if strings.ContainsAny(ep.Key, "\r\n\x00") {
		return nil, fmt.Errorf("%w: %s: API key contains a line break or NUL", ErrConfig, ep.Provider)
	}
	u, err := url.Parse(s.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %s: base URL must be an absolute http or https URL without user, query or fragment", ErrConfig, ep.Provider)
	}
	if s.httpClient == nil {
		s.httpClient = &http.Client{Timeout: DefaultTimeout}
	}
	// Redirects are never followed: Go's client drops Authorization on a
	// redirect to another host but keeps other headers, such as
	// X-Api-Key, so following one could send the key elsewhere. The
	// caller's client is copied, not changed.
	hc := *s.httpClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.httpClient = &hc
	return &Client{ep: ep, base: u, s: s}, nil
}

// Now returns the current time of the client's clock (WithClock).
func (c *Client) Now() time.Time { return c.s.now() }

// GetJSON sends GET base+path?query and decodes a 2xx JSON answer into
// out. A 429 is retried after its Retry-After (or the backoff), at most
// WithRetries times and only while the wait is within WithMaxRetryWait; a
// 5xx is retried with the backoff. The error rules are those of the
// package documentation.
func (c *Client) GetJSON(ctx context.Context, path string, query url.Values, out any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(path, "/")
	u.RawPath = ""
	u.RawQuery = query.Encode()
	target := u.String()

	backoff := c.s.retryBackoff
	for attempt := 1; ; attempt++ {
		body, resp, err := c.do(ctx, target)
		if err != nil {
			return err
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if err := DecodeJSON(body, out); err != nil {
				return c.Malformed(err)
			}
			return nil
		case resp.StatusCode == http.StatusTooManyRequests:
			ra, hasRA := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			wait := ra
			if !hasRA {
				wait = backoff
				backoff = c.nextBackoff(backoff)
			}
			if attempt > c.s.retries || wait > c.s.maxRetryWait {
				return &RateLimitError{Provider: c.ep.Provider, RetryAfter: ra, Attempts: attempt}
			}
			if err := sleep(ctx, wait); err != nil {
				return c.ctxError(err)
			}
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			return c.StatusError(resp.StatusCode, "redirect not followed: the API key is sent to the configured base URL only")
		case resp.StatusCode >= 500 && attempt <= c.s.retries:
			if err := sleep(ctx, backoff); err != nil {
				return c.ctxError(err)
			}
			backoff = c.nextBackoff(backoff)
		default:
			return c.StatusError(resp.StatusCode, errorMessage(body))
		}
	}
}

// Malformed returns an error matching ErrMalformed that describes a body
// that did not parse (err), its text scrubbed of the key; err itself is
// not wrapped.
func (c *Client) Malformed(err error) error {
	detail := strings.ReplaceAll(err.Error(), ErrMalformed.Error()+": ", "")
	return fmt.Errorf("billing: %s: %w: %s", c.ep.Provider, ErrMalformed, c.clean(detail))
}

func (c *Client) nextBackoff(d time.Duration) time.Duration {
	d *= 2
	if d > c.s.maxRetryWait {
		d = c.s.maxRetryWait
	}
	return d
}

// do sends one request and reads its body within the size limit.
func (c *Client) do(ctx context.Context, target string) ([]byte, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: cannot build the request", ErrConfig, c.ep.Provider)
	}
	for k, vs := range c.ep.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "gofastr-store-billing")
	req.Header.Set(c.ep.AuthHeader, c.ep.AuthPrefix+c.ep.Key)
	resp, err := c.s.httpClient.Do(req)
	if err != nil {
		return nil, nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.s.maxBody+1))
	if err != nil {
		return nil, nil, c.transportError(ctx, err)
	}
	if int64(len(body)) > c.s.maxBody {
		return nil, nil, fmt.Errorf("%w: %s: HTTP %d body larger than %d bytes", ErrMalformed, c.ep.Provider, resp.StatusCode, c.s.maxBody)
	}
	return body, resp, nil
}

// transportError types an error of the HTTP client: the context's own
// error, a timeout (matching context.DeadlineExceeded), or ErrUpstream.
// The underlying error's text is scrubbed of the key and not wrapped.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return c.ctxError(ctx.Err())
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("billing: %s: request timed out: %w", c.ep.Provider, context.DeadlineExceeded)
	}
	return fmt.Errorf("billing: %s: %s: %w", c.ep.Provider, c.Scrub(err.Error()), ErrUpstream)
}

func (c *Client) ctxError(err error) error {
	return fmt.Errorf("billing: %s: %w", c.ep.Provider, err)
}

// StatusError returns the *StatusError of an HTTP status or a body's error
// code, with msg cleaned (see StatusError.Message).
func (c *Client) StatusError(code int, msg string) error {
	return &StatusError{Provider: c.ep.Provider, StatusCode: code, Message: c.clean(msg)}
}

// Scrub returns s with every occurrence of the client's key replaced.
func (c *Client) Scrub(s string) string {
	if c.ep.Key == "" {
		return s
	}
	return strings.ReplaceAll(s, c.ep.Key, "[key]")
}

const maxMessageLen = 200

// clean scrubs the key, drops control characters and invalid UTF-8 and
// shortens msg.
func (c *Client) clean(msg string) string {
	msg = c.Scrub(msg)
	var b strings.Builder
	for _, r := range msg {
		if r == utf8.RuneError || unicode.IsControl(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > maxMessageLen {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	// Removing characters can join the pieces of a key split by them.
	return c.Scrub(b.String())
}

// errorMessage extracts the message of the usual error bodies:
// {"error":{"message":…}}, {"error":"…"}, {"message":…}, {"msg":…}.
func errorMessage(body []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Msg     string          `json:"msg"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	if len(e.Error) > 0 {
		var inner struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &inner) == nil && inner.Message != "" {
			return inner.Message
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
	}
	if e.Message != "" {
		return e.Message
	}
	return e.Msg
}

// DecodeJSON decodes one JSON value from body into out, numbers as
// json.Number where out asks for them; any error, and trailing data after
// the value, match ErrMalformed.
func DecodeJSON(body []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	return nil
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. ok is false when the header is absent or invalid.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
