package main

import (
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["billingserver"] = cmdBillingServer
}

// cmdBillingServer starts a local HTTP server, for the rest of the script,
// that answers every GET carrying the key KEY (as x-api-key or a bearer
// token) with the contents of FILE, and any other request with 401; it
// sets $BILLING_URL to its address:
//
//	billingserver FILE KEY
func cmdBillingServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: billingserver FILE KEY")
	}
	body, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	key := args[1]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || (r.Header.Get("x-api-key") != key && r.Header.Get("Authorization") != "Bearer "+key) {
			http.Error(w, `{"error":{"type":"authentication_error","message":"invalid x-api-key"}}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	ts.Defer(srv.Close)
	ts.Setenv("BILLING_URL", srv.URL)
}
