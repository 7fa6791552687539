package openai

import (
	"testing"
	"time"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/internal/billingtest"
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
		billingtest.FuzzReport(t, body, (*costsResponse).parse, func(b []Bucket) error {
			_, err := sumBuckets(c, b, start, start.AddDate(0, 0, 3))
			return err
		})
	})
}
