package anthropic

import (
	"testing"
	"time"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/internal/billingtest"
)

// FuzzParse feeds arbitrary bodies to the cost report parser and the
// bucket sum: no panic, and every failure is ErrMalformed or ErrCurrency.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"data":[{"starting_at":"2025-08-01T00:00:00Z","ending_at":"2025-08-02T00:00:00Z","results":[{"amount":"123.78912","currency":"USD"}]}],"has_more":true,"next_page":"p"}`,
		`{"data":[],"has_more":false,"next_page":null}`,
		`{"data":[{"starting_at":"2025-08-01T00:00:00Z","ending_at":"2025-08-02T00:00:00Z","results":[{"amount":"-1e-40","currency":"EUR"}]}],"has_more":false}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	c, err := billing.NewClient(billing.Endpoint{Provider: Name, BaseURL: DefaultBaseURL, Key: "k", AuthHeader: "X-Api-Key"})
	if err != nil {
		f.Fatal(err)
	}
	start := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		billingtest.FuzzReport(t, body, (*reportResponse).parse, func(b []Bucket) error {
			_, err := sumBuckets(c, b, start, start.AddDate(0, 0, 3))
			return err
		})
	})
}
