package host_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/pricing"
)

// claudeLine is what a Claude Code transcript line says about the API
// response it belongs to.
type claudeLine struct {
	Type      string    `json:"type"`
	SessionID string    `json:"sessionId"`
	RequestID string    `json:"requestId"`
	Timestamp time.Time `json:"timestamp"`
	Message   struct {
		ID    string `json:"id"`
		Model string `json:"model"`
		Usage *struct {
			InputTokens              int `json:"input_tokens"`
			OutputTokens             int `json:"output_tokens"`
			CacheReadInputTokens     int `json:"cache_read_input_tokens"`
			CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
			CacheCreation            *struct {
				Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
				Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
			} `json:"cache_creation"`
		} `json:"usage"`
	} `json:"message"`
}

// claudeAttempts returns one attempt per API response of the Claude Code
// transcripts in the corpus, with the usage of the response's last line
// (the earlier lines of a streamed response report partial output
// counts), its 5-minute and 1-hour cache writes apart.
func claudeAttempts(t *testing.T) []abi.ProviderAttempt {
	t.Helper()
	files := host.ReadJSONL(t, filepath.Join(host.TranscriptsDir, "claude"))
	var out []abi.ProviderAttempt
	index := make(map[string]int)
	for _, f := range files {
		for _, line := range f.Lines {
			var l claudeLine
			if json.Unmarshal([]byte(line), &l) != nil || l.Type != "assistant" || l.Message.Usage == nil || l.Message.ID == "" {
				continue
			}
			u := l.Message.Usage
			a := abi.ProviderAttempt{
				Session: l.SessionID, Provider: "anthropic", Model: l.Message.Model, RequestID: l.RequestID,
				StartedAt: l.Timestamp, EndedAt: l.Timestamp, TerminatedReason: abi.AttemptComplete,
				InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CacheReadTokens: u.CacheReadInputTokens,
				CacheWriteTokens: u.CacheCreationInputTokens,
			}
			if c := u.CacheCreation; c != nil {
				if c.Ephemeral5m+c.Ephemeral1h != u.CacheCreationInputTokens {
					t.Fatalf("%s: cache_creation breakdown %d + %d is not cache_creation_input_tokens %d",
						f.Name, c.Ephemeral5m, c.Ephemeral1h, u.CacheCreationInputTokens)
				}
				a.CacheWriteTokens, a.CacheWrite1hTokens = c.Ephemeral5m, c.Ephemeral1h
			}
			key := l.Message.ID + " " + l.RequestID
			if i, ok := index[key]; ok {
				a.StartedAt = out[i].StartedAt // the response's first line
				out[i] = a
				continue
			}
			index[key] = len(out)
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		t.Skip("the corpus has no Claude Code responses with usage")
	}
	return out
}

// TestAttemptsClaudeCode records every API response of the real Claude
// Code transcripts as an attempt in a store priced by the embedded table:
// each is stored at pricing's estimate of its split usage to the
// nano-dollar, the 1-hour cache writes at twice the input price, so the
// total is above what the same usage costs with every cache write taken
// as a 5-minute one; the responses the table cannot price, if any, are
// counted in a reconciliation.
func TestAttemptsClaudeCode(t *testing.T) {
	attempts := claudeAttempts(t)
	tab := pricing.Default()
	s := openPricedStore(t, tempStorePath(t), tab)
	ctx := context.Background()
	var want, lumped abi.NanoUSD
	var unpriced, with1h int
	first, last := attempts[0].StartedAt, attempts[0].StartedAt
	for i, a := range attempts {
		a.Turn = i
		e, err := tab.Estimate(a.Provider, a.Model, usageOf(a), a.StartedAt)
		if err != nil {
			unpriced++
		} else {
			want += abi.NanoUSD(e.NanoUSD)
			u := usageOf(a)
			u.CacheWrite5m, u.CacheWrite1h = u.CacheWrite5m+u.CacheWrite1h, 0
			e5, err := tab.Estimate(a.Provider, a.Model, u, a.StartedAt)
			if err != nil {
				t.Fatal(err)
			}
			lumped += abi.NanoUSD(e5.NanoUSD)
		}
		if a.CacheWrite1hTokens > 0 {
			with1h++
		}
		mustRecord(t, s, a)
		got := readAttempt(t, s, a.Session, i)
		if err == nil && (abi.NanoUSD(e.NanoUSD).USD() != got.EstimatedUSD || got.CacheWrite1hTokens != a.CacheWrite1hTokens ||
			(a.CacheWrite1hTokens > 0) != (got.Price.CacheWrite1h != nil) ||
			(got.Price.CacheWrite1h != nil && int64(*got.Price.CacheWrite1h) != e.Prices.CacheWrite1h)) {
			t.Fatalf("response %d stored as %s; want estimate %+v", i, describe(got), e)
		}
		if err != nil && !got.Price.Unpriced() {
			t.Fatalf("response %d (%v) stored as %s, want unpriced", i, err, describe(got))
		}
		if a.StartedAt.Before(first) {
			first = a.StartedAt
		}
		if a.StartedAt.After(last) {
			last = a.StartedAt
		}
	}
	if with1h == 0 {
		t.Fatal("no response in the corpus reports 1-hour cache writes: the test proves nothing about them")
	}
	start, end := first, last.Add(time.Nanosecond)
	if n, err := s.LocalCostNanosInPeriod(ctx, "anthropic", start, end); err != nil || n != want {
		t.Fatalf("LocalCostNanosInPeriod = %d, %v; want exactly %d", n, err, want)
	}
	if want <= lumped {
		t.Fatalf("cost with 1-hour writes apart %d, not above %d with every write as 5-minute", want, lumped)
	}
	r, err := host.Reconcile(ctx, s, &fakeFetcher{name: "anthropic", usd: want.USD()}, start, end, end)
	if err != nil || r.LocalNanos != want || r.LocalUnpriced != unpriced {
		t.Fatalf("Reconcile = %+v, %v; want local %d with %d unpriced", r, err, want, unpriced)
	}
	t.Logf("%d responses (%d with 1-hour cache writes, %d unpriced): $%.6f, $%.6f if every cache write were 5-minute",
		len(attempts), with1h, unpriced, want.USD(), lumped.USD())
}
