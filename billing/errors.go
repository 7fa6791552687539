package billing

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

var (
	// ErrUnauthorized means the API refused the key (HTTP 401, or the
	// same code in a body): a missing, wrong or revoked key.
	ErrUnauthorized = errors.New("billing: unauthorized")
	// ErrForbidden means the key is valid but may not read billing data
	// (HTTP 403), for example an inference key where an admin or
	// management key is required.
	ErrForbidden = errors.New("billing: forbidden")
	// ErrRateLimited means the API kept answering 429 after the allowed
	// retries, or asked to wait longer than the retry cap. errors.As to
	// *RateLimitError gives the wait the API asked for.
	ErrRateLimited = errors.New("billing: rate limited")
	// ErrUpstream means the API failed on its side (HTTP 5xx) after the
	// allowed retries, or the connection failed.
	ErrUpstream = errors.New("billing: upstream error")
	// ErrRejected means the API refused the request with a 4xx status
	// other than 401, 403 and 429 (a bad parameter, an unknown path).
	ErrRejected = errors.New("billing: request rejected")
	// ErrMalformed means a response body is not the documented shape:
	// not JSON, a missing or mistyped field, an amount that is not a
	// decimal number or is out of range, or a body over the size limit.
	ErrMalformed = errors.New("billing: malformed response")
	// ErrCurrency means an amount is not in US dollars.
	ErrCurrency = errors.New("billing: amount not in USD")
	// ErrUnsupported means the API cannot answer for the period asked:
	// bounds not on its bucket boundaries, a period outside what it
	// retains, or no spending data at all.
	ErrUnsupported = errors.New("billing: period not supported")
	// ErrConfig means a fetcher was configured wrongly: an empty key, a
	// base URL that is not an absolute http or https URL, a negative
	// limit.
	ErrConfig = errors.New("billing: invalid configuration")
)

// StatusError is an HTTP error status from a billing API, or the error
// code of a body that reports errors with HTTP 200. It matches
// ErrUnauthorized (401), ErrForbidden (403), ErrRateLimited (429),
// ErrUpstream (500-599) or, for any other code, ErrRejected.
type StatusError struct {
	// Provider is the fetcher's provider name.
	Provider string
	// StatusCode is the HTTP status, or the error code of a body that
	// reports errors with HTTP 200.
	StatusCode int
	// Message is the API's error message, shortened, with control
	// characters removed and the API key scrubbed.
	Message string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("billing: %s: status %d", e.Provider, e.StatusCode)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is reports whether target is the sentinel error of e's status.
func (e *StatusError) Is(target error) bool {
	return target == sentinelForStatus(e.StatusCode)
}

func sentinelForStatus(code int) error {
	switch {
	case code == 401:
		return ErrUnauthorized
	case code == 403:
		return ErrForbidden
	case code == 429:
		return ErrRateLimited
	case code >= 500 && code < 600:
		return ErrUpstream
	default:
		return ErrRejected
	}
}

// RateLimitError is returned when a billing API keeps answering 429. It
// matches ErrRateLimited.
type RateLimitError struct {
	// Provider is the fetcher's provider name.
	Provider string
	// RetryAfter is the wait the last response asked for (its
	// Retry-After header), zero when it gave none.
	RetryAfter time.Duration
	// Attempts is the number of requests sent.
	Attempts int
}

func (e *RateLimitError) Error() string {
	s := fmt.Sprintf("billing: %s: rate limited after %d attempts", e.Provider, e.Attempts)
	if e.RetryAfter > 0 {
		s += "; retry after " + strconv.FormatFloat(e.RetryAfter.Seconds(), 'f', -1, 64) + "s"
	}
	return s
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }
