package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/anthropic"
	"github.com/gofastr/store/billing/openai"
	"github.com/gofastr/store/host"
)

// demoBillingKey is the made-up key the demo's fetchers send to the local
// billing server, which checks it as the real APIs check theirs.
const demoBillingKey = "demo-billing-key-not-a-secret"

// demoBilling is a recorded billing response of one provider, replayed by
// a local HTTP server for the real fetcher.
type demoBilling struct {
	provider string
	// file is the response body, under testdata/billing.
	file string
	// path is the API's endpoint.
	path string
	// auth checks the request's credentials as the provider does.
	auth func(r *http.Request) bool
	// fetcher returns the provider's fetcher for the server at url.
	fetcher func(url string) (host.UpstreamUsageFetcher, error)
}

var demoBillings = []demoBilling{
	{
		provider: anthropic.Name, file: "anthropic-cost_report.json", path: "/v1/organizations/cost_report",
		auth: func(r *http.Request) bool { return r.Header.Get("x-api-key") == demoBillingKey },
		fetcher: func(url string) (host.UpstreamUsageFetcher, error) {
			return anthropic.New(demoBillingKey, billing.WithBaseURL(url), billing.WithRetries(0))
		},
	},
	{
		provider: openai.Name, file: "openai-costs.json", path: "/v1/organization/costs",
		auth: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+demoBillingKey },
		fetcher: func(url string) (host.UpstreamUsageFetcher, error) {
			return openai.New(demoBillingKey, billing.WithBaseURL(url+"/v1"), billing.WithRetries(0))
		},
	},
}

// demoReconcile reconciles each provider of demoBillings over [start, end)
// against the store, through its real fetcher talking to a local server
// that answers with the recorded response in dir, and saves the results.
func demoReconcile(ctx context.Context, s *host.Store, dir string, start, end time.Time) ([]reconcileOut, error) {
	mux := http.NewServeMux()
	for _, b := range demoBillings {
		body, err := os.ReadFile(filepath.Join(dir, b.file))
		if err != nil {
			return nil, err
		}
		mux.HandleFunc("GET "+b.path, func(w http.ResponseWriter, r *http.Request) {
			if !b.auth(r) {
				http.Error(w, `{"error":{"type":"authentication_error","message":"invalid key"}}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		})
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var out []reconcileOut
	for _, b := range demoBillings {
		f, err := b.fetcher(srv.URL)
		if err != nil {
			return nil, err
		}
		r, err := host.Reconcile(ctx, s, f, start, end, time.Now())
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		id, err := s.SaveReconciliation(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, newReconcileOut(id, r))
	}
	return out, nil
}
