package openrouter

import (
	"errors"
	"testing"

	"github.com/gofastr/store/billing"
)

// FuzzParse feeds arbitrary bodies to the parsers of the three endpoints:
// none may panic, and every failure is ErrMalformed.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"data":[{"date":"2025-08-24","usage":0.015,"byok_usage_inference":0.012}]}`,
		`{"data":{"total_credits":100.5,"total_usage":25.75}}`,
		`{"data":{"usage":25.5,"limit":null}}`,
		`{"data":[{"date":"2025-08-24","usage":1e-40}]}`,
		`{}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err != nil && !errors.Is(err, billing.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
		}
		var a activityResponse
		if err := billing.DecodeJSON(body, &a); err == nil {
			rows, err := a.rows()
			check(err)
			var s billing.Sum
			for _, r := range rows {
				check(s.Add(r.usage, billing.Dollars))
			}
			_, err = s.Nanos()
			check(err)
		} else {
			check(err)
		}
		var c creditsResponse
		if billing.DecodeJSON(body, &c) == nil {
			_, err := c.credits()
			check(err)
		}
		var k keyResponse
		if billing.DecodeJSON(body, &k) == nil {
			_, err := k.usage()
			check(err)
		}
	})
}
