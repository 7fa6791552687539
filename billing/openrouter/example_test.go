package openrouter_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/openrouter"
)

// A reconciliation of two whole UTC days against OpenRouter's activity.
// The test server stands in for https://openrouter.ai/api/v1.
func ExampleFetcher_FetchUsageUSD() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[
			{"date":"2025-08-24","model":"openai/gpt-4.1","usage":0.1},
			{"date":"2025-08-24","model":"openai/gpt-4.1-mini","usage":0.2},
			{"date":"2025-08-25","model":"openai/gpt-4.1","usage":1.25}]}`)
	}))
	defer srv.Close()

	f, err := openrouter.New("sk-or-v1-example",
		billing.WithBaseURL(srv.URL),
		billing.WithClock(func() time.Time { return time.Date(2025, 8, 26, 9, 0, 0, 0, time.UTC) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2025, 8, 24, 0, 0, 0, 0, time.UTC)
	nanos, err := f.FetchUsageNanos(context.Background(), start, start.AddDate(0, 0, 2))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Name(), nanos, "nano-USD")

	// Today is not complete yet: the activity cannot answer.
	_, err = f.FetchUsageUSD(context.Background(), start.AddDate(0, 0, 2), start.AddDate(0, 0, 3))
	fmt.Println(err != nil)
	// Output:
	// openrouter 1550000000 nano-USD
	// true
}
