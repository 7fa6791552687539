package abi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
)

// TestAttemptJSON pins the JSON encoding of provider attempts, which is
// part of the ABI.
func TestAttemptJSON(t *testing.T) {
	ts := time.Date(2026, 7, 24, 10, 0, 0, 0, time.UTC)
	in, cr, cw1h := abi.NanoUSD(3_000_000_000), abi.NanoUSD(300_000_000), abi.NanoUSD(6_000_000_000)
	tests := []struct {
		v    any
		want string
	}{
		{abi.ProviderAttempt{ID: 4, Session: "s1", Turn: 2, Provider: "anthropic", Model: "m", RequestID: "req_1",
			StartedAt: ts, EndedAt: ts.Add(time.Second), TerminatedReason: abi.AttemptEOF,
			InputTokens: 10, OutputTokens: 20, CacheReadTokens: 30, CacheWriteTokens: 40, CacheWrite1hTokens: 50, EstimatedUSD: 0.25,
			Price: &abi.AttemptPrice{Source: "genai-prices 2026-07-24", Input: &in, CacheRead: &cr, CacheWrite1h: &cw1h}},
			`{"id":4,"session":"s1","turn":2,"provider":"anthropic","model":"m","request_id":"req_1","started_at":"2026-07-24T10:00:00Z","ended_at":"2026-07-24T10:00:01Z","terminated_reason":"eof","input_tokens":10,"output_tokens":20,"cache_read_tokens":30,"cache_write_tokens":40,"cache_write_1h_tokens":50,"estimated_usd":0.25,"price":{"source":"genai-prices 2026-07-24","input_per_mtok":3000000000,"cache_read_per_mtok":300000000,"cache_write_1h_per_mtok":6000000000}}`},
		{abi.ProviderAttempt{Session: "s1", Provider: "p", Model: "m", StartedAt: ts, EndedAt: ts, TerminatedReason: abi.AttemptComplete},
			`{"id":0,"session":"s1","turn":0,"provider":"p","model":"m","started_at":"2026-07-24T10:00:00Z","ended_at":"2026-07-24T10:00:00Z","terminated_reason":"complete","input_tokens":0,"output_tokens":0,"cache_read_tokens":0,"cache_write_tokens":0,"cache_write_1h_tokens":0,"estimated_usd":0}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("json.Marshal(%T)\n got %s\nwant %s", tt.v, got, tt.want)
		}
	}
}

func TestNanoUSD(t *testing.T) {
	for _, tt := range []struct {
		n    abi.NanoUSD
		want float64
	}{{0, 0}, {1, 1e-9}, {1_500_000_000, 1.5}, {-2_000_000_000, -2}} {
		if got := tt.n.USD(); got != tt.want {
			t.Errorf("NanoUSD(%d).USD() = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestAttemptPriceUnpriced(t *testing.T) {
	for _, tt := range []struct {
		p    *abi.AttemptPrice
		want bool
	}{
		{nil, false},
		{&abi.AttemptPrice{Source: "genai-prices 2026-08-21"}, false},
		{&abi.AttemptPrice{Source: abi.UnpricedPrefix + "unknown model (t 2026-08-21)"}, true},
		{&abi.AttemptPrice{Source: "unpriced"}, false},
	} {
		if got := tt.p.Unpriced(); got != tt.want {
			t.Errorf("%+v.Unpriced() = %v, want %v", tt.p, got, tt.want)
		}
	}
}
