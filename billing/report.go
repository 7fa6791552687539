package billing

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/gofastr/store/abi"
)

// Paginate reads every page of a paginated report. It calls page with an
// empty cursor, then with each cursor that page returns, until page
// returns an empty one; page's own errors are returned as they are.
//
// A report of more than maxPages pages, or a cursor equal to one already
// followed, is an error matching ErrMalformed that names report ("cost
// report"), so that an API that keeps answering has_more cannot make the
// caller loop forever. The cursor is the next_page field of the APIs
// that use it; page typically sends it as a query parameter, and holds
// the caller's context.
func (c *Client) Paginate(report string, maxPages int, page func(cursor string) (next string, err error)) error {
	seen := map[string]bool{}
	cursor := ""
	for n := 0; ; n++ {
		if n >= maxPages {
			return c.Malformed(fmt.Errorf("%s: more than %d pages", report, maxPages))
		}
		next, err := page(cursor)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if seen[next] {
			return c.Malformed(fmt.Errorf("%s: next_page repeats a page already read", report))
		}
		seen[next] = true
		cursor = next
	}
}

// GetPages reads a report that pages with a cursor in the query: it GETs
// path with query (as Client.GetJSON), decodes the answer into a new P and
// has parse return the page's items and the next cursor, then GETs again
// with the query parameter "page" set to that cursor, until parse returns
// an empty one. It returns the items of every page, in order. parse's
// errors are returned matching ErrMalformed; the bounds and errors of the
// pages are those of Paginate.
func GetPages[P, T any](ctx context.Context, c *Client, report, path string, query url.Values, maxPages int, parse func(*P) ([]T, string, error)) ([]T, error) {
	var all []T
	err := c.Paginate(report, maxPages, func(cursor string) (string, error) {
		if cursor != "" {
			query.Set("page", cursor)
		}
		var p P
		if err := c.GetJSON(ctx, path, query, &p); err != nil {
			return "", err
		}
		items, next, err := parse(&p)
		if err != nil {
			return "", c.Malformed(err)
		}
		all = append(all, items...)
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// Amount is one amount of a DayBucket: its decimal text, in the unit of
// the report (see BucketFormat), and its currency code as the API wrote
// it.
type Amount struct {
	Text     string
	Currency string
}

// DayBucket is one time bucket [Start, End) of a report, with the amounts
// the API gives for it.
type DayBucket struct {
	Start, End time.Time
	Amounts    []Amount
}

// BucketFormat says how SumBuckets reads the amounts of a report.
type BucketFormat struct {
	// Unit is the unit of the amounts' text: Dollars or Cents.
	Unit Unit
	// USD reports whether a currency code means US dollars.
	USD func(currency string) bool
	// Noun names one amount in a currency error: "an item", "a result".
	Noun string
}

// maxCurrencyLen bounds how much of an unexpected currency code an error
// quotes.
const maxCurrencyLen = 8

// SumBuckets returns the exact sum, in nano-dollars, of the amounts of the
// buckets that lie within [start, end). A bucket that does not overlap the
// period is skipped; one that overlaps it only in part is an error
// matching ErrMalformed, since its amounts cannot be split. An amount of a
// bucket in the period whose currency is not US dollars (f.USD) is an
// error matching ErrCurrency that quotes the start of the currency code,
// scrubbed of the key; an amount whose text is not a decimal number, or a
// sum outside the range of abi.NanoUSD, matches ErrMalformed.
func (c *Client) SumBuckets(buckets []DayBucket, start, end time.Time, f BucketFormat) (abi.NanoUSD, error) {
	var sum Sum
	for _, b := range buckets {
		if !b.End.After(start) || !b.Start.Before(end) {
			continue // outside the period
		}
		if b.Start.Before(start) || b.End.After(end) {
			return 0, c.Malformed(fmt.Errorf("bucket [%s, %s) straddles the period [%s, %s)",
				b.Start.UTC().Format(time.RFC3339), b.End.UTC().Format(time.RFC3339),
				start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)))
		}
		for _, a := range b.Amounts {
			if f.USD == nil || !f.USD(a.Currency) {
				cur := c.Scrub(a.Currency)
				if len(cur) > maxCurrencyLen {
					cur = cur[:maxCurrencyLen] + "…"
				}
				return 0, fmt.Errorf("%w: %s: %s of %s is in %q", ErrCurrency, c.ep.Provider, f.Noun, b.Start.UTC().Format(time.DateOnly), cur)
			}
			if err := sum.Add(a.Text, f.Unit); err != nil {
				return 0, c.Malformed(err)
			}
		}
	}
	n, err := sum.Nanos()
	if err != nil {
		return 0, c.Malformed(err)
	}
	return n, nil
}
