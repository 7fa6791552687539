package anthropic_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/anthropic"
)

// The cost report's amounts are cents: "123.78912" is $1.2378912. The test
// server stands in for https://api.anthropic.com.
func ExampleFetcher_FetchUsageNanos() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"starting_at":"2025-08-01T00:00:00Z","ending_at":"2025-08-02T00:00:00Z",
			"results":[{"amount":"123.78912","currency":"USD"}]}],"has_more":false,"next_page":null}`)
	}))
	defer srv.Close()

	f, err := anthropic.New("sk-ant-admin01-example", billing.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	nanos, err := f.FetchUsageNanos(context.Background(), start, start.AddDate(0, 0, 1))
	fmt.Println(nanos, err)

	// Half a day cannot be answered from daily buckets.
	_, err = f.FetchUsageNanos(context.Background(), start, start.Add(12*time.Hour))
	fmt.Println(errors.Is(err, billing.ErrUnsupported))
	// Output:
	// 1237891200 <nil>
	// true
}
