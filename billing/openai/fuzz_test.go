package openai

import (
	"errors"
	"testing"
	"time"

	"github.com/gofastr/store/billing"
)

// FuzzParse feeds arbitrary bodies to the costs parser and the bucket
// sum: no panic, and every failure is ErrMalformed or ErrCurrency.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"object":"page","data":[{"object":"bucket","start_time":1730419200,"end_time":1730505600,"results":[{"amount":{"value":0.06,"currency":"usd"}}]}],"has_more":false,"next_page":null}`,
		`{"data":[],"has_more":true,"next_page":"p"}`,
		`{"data":[{"start_time":1730419200,"end_time":1730505600,"results":[{"amount":{"value":-1e-40,"currency":"EUR"}}]}],"has_more":false}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	c, err := billing.NewClient(billing.Endpoint{Provider: Name, BaseURL: DefaultBaseURL, Key: "k", AuthHeader: "Authorization"})
	if err != nil {
		f.Fatal(err)
	}
	start := time.Unix(1730419200, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		var r costsResponse
		if err := billing.DecodeJSON(body, &r); err != nil {
			if !errors.Is(err, billing.ErrMalformed) {
				t.Fatal(err)
			}
			return
		}
		buckets, _, err := r.parse()
		if err != nil {
			if !errors.Is(err, billing.ErrMalformed) {
				t.Fatal(err)
			}
			return
		}
		_, err = sumBuckets(c, buckets, start, start.AddDate(0, 0, 3))
		if err != nil && !errors.Is(err, billing.ErrMalformed) && !errors.Is(err, billing.ErrCurrency) {
			t.Fatal(err)
		}
	})
}
