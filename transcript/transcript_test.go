package transcript_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/pricing"
	"github.com/gofastr/store/transcript"
)

// Fixture sessions (transcript/testdata, written by hand in the shapes of
// Claude Code 2.1 and Codex CLI 0.125).
const (
	fixA     = abi.SessionID("11111111-1111-4111-8111-111111111111")
	fixB     = abi.SessionID("22222222-2222-4222-8222-222222222222")
	fixAgent = abi.SessionID("11111111-1111-4111-8111-111111111111/agent-abc1234")
	fixCodex = abi.SessionID("33333333-3333-4333-8333-333333333333")
)

var (
	claudeDir  = filepath.Join("testdata", "claude")
	claudeMain = filepath.Join(claudeDir, "projects", "-work-demo", string(fixA)+".jsonl")
	claudeSub  = filepath.Join(claudeDir, "projects", "-work-demo", string(fixA), "subagents", "agent-abc1234.jsonl")
	codexDir   = filepath.Join("testdata", "codex")
	codexFile  = filepath.Join(codexDir, "sessions", "2026", "05", "11", "rollout-2026-05-11T08-00-00-"+string(fixCodex)+".jsonl")
)

// memWriter is a Writer in memory that skips batches whose key it has
// written, as a store does.
type memWriter struct {
	calls   int
	keys    map[string]bool
	batches []abi.Batch
	err     error
}

func (w *memWriter) WriteBatches(_ context.Context, batches ...abi.Batch) (int, error) {
	w.calls++
	if w.err != nil {
		return 0, w.err
	}
	if w.keys == nil {
		w.keys = make(map[string]bool)
	}
	n := 0
	for _, b := range batches {
		if b.Key != "" && w.keys[b.Key] {
			continue
		}
		w.keys[b.Key] = true
		w.batches = append(w.batches, b)
		n++
	}
	return n, nil
}

func (w *memWriter) events(sess abi.SessionID) []abi.EventEnvelope {
	var out []abi.EventEnvelope
	for _, b := range w.batches {
		for _, e := range b.Events {
			if e.Session == sess {
				out = append(out, e)
			}
		}
	}
	return out
}

func (w *memWriter) attempts() []abi.ProviderAttempt {
	var out []abi.ProviderAttempt
	for _, b := range w.batches {
		out = append(out, b.Attempts...)
	}
	return out
}

func (w *memWriter) outcomes() map[string]abi.ToolOutcome {
	out := make(map[string]abi.ToolOutcome)
	for _, b := range w.batches {
		for _, o := range b.Outcomes {
			out[o.CallID] = o
		}
	}
	return out
}

func statsOf(t *testing.T, st []transcript.FileStats, path string) transcript.FileStats {
	t.Helper()
	for _, s := range st {
		if s.Path == path {
			return s
		}
	}
	t.Fatalf("no stats for %s in %+v", path, st)
	return transcript.FileStats{}
}

// estimate is the embedded table's price of a, for the expected totals.
func estimate(t *testing.T, a abi.ProviderAttempt) abi.NanoUSD {
	t.Helper()
	e, err := pricing.Default().Estimate(a.Provider, a.Model, pricing.Usage{Input: int64(a.InputTokens), Output: int64(a.OutputTokens),
		CacheRead: int64(a.CacheReadTokens), CacheWrite5m: int64(a.CacheWriteTokens), CacheWrite1h: int64(a.CacheWrite1hTokens)}, a.StartedAt)
	if err != nil {
		t.Fatalf("estimate %s %s: %v", a.Provider, a.Model, err)
	}
	return abi.NanoUSD(e.NanoUSD)
}

func TestClaudeCodeFixture(t *testing.T) {
	ctx := context.Background()
	w := &memWriter{}
	var progress []int64
	st, err := transcript.ImportClaudeCode(ctx, w, []string{claudeDir}, transcript.WithSettle(0), transcript.WithProgress(func(done, total int64) {
		progress = append(progress, done, total)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || w.calls != 2 {
		t.Fatalf("%d files imported in %d calls, want the session and its sub-agent in 2", len(st), w.calls)
	}
	fi1, _ := os.Stat(claudeMain)
	fi2, _ := os.Stat(claudeSub)
	if n := len(progress); n == 0 || progress[n-2] != fi1.Size()+fi2.Size() || progress[n-1] != progress[n-2] {
		t.Errorf("progress calls %v, want to end at the total size %d", progress, fi1.Size()+fi2.Size())
	}

	m := statsOf(t, st, claudeMain)
	want := transcript.FileStats{Path: claudeMain, Format: transcript.FormatClaudeCode, Sessions: []abi.SessionID{fixA, fixB},
		Lines: 25, Duplicates: 1, Ignored: 5, Batches: 26, Events: 19, ToolCalls: 4, Outcomes: 4, Attempts: 7,
		InputTokens: 28, OutputTokens: 107, CacheReadTokens: 2500, CacheWriteTokens: 200, CacheWrite1hTokens: 300, Unpriced: 2}
	mainCost := m.Cost
	m.Cost = 0
	if !equalStats(m, want) {
		t.Errorf("main file stats\n got %+v\nwant %+v", m, want)
	}

	// Attempts: one per response, with the last line's counts.
	byReq := make(map[string]abi.ProviderAttempt)
	var cost abi.NanoUSD
	for _, a := range w.attempts() {
		byReq[a.RequestID] = a
		if !a.Price.Unpriced() {
			if got, want := abi.NanoUSD(a.EstimatedUSD*1e9+0.5), estimate(t, a); got != want {
				t.Errorf("attempt %s costs %d, the table says %d", a.RequestID, got, want)
			}
			cost += estimate(t, a)
		}
	}
	a := byReq["req_A"]
	if a.OutputTokens != 42 || a.InputTokens != 10 || a.CacheReadTokens != 1000 || a.CacheWriteTokens != 200 || a.CacheWrite1hTokens != 300 ||
		a.Turn != 1 || a.Session != string(fixA) || a.Model != "claude-opus-4-6" || a.Provider != "anthropic" ||
		!a.StartedAt.Equal(time.Date(2026, 2, 12, 10, 0, 2, 0, time.UTC)) || !a.EndedAt.Equal(time.Date(2026, 2, 12, 10, 0, 4, 0, time.UTC)) {
		t.Errorf("response A recorded as %+v", a)
	}
	if a.Price == nil || a.Price.CacheWrite1h == nil || a.Price.Input == nil || *a.Price.CacheWrite1h != 2**a.Price.Input {
		t.Errorf("response A's 1-hour cache writes not priced at twice the input price: %+v", a.Price)
	}
	for req, why := range map[string]string{"req_E": "unknown model", "req_F": "no token usage"} {
		if p := byReq[req].Price; !p.Unpriced() || !strings.Contains(p.Source, why) || byReq[req].EstimatedUSD != 0 {
			t.Errorf("%s: price %+v, want unpriced for %s", req, p, why)
		}
	}
	if byReq["req_E"].Turn != 2 || byReq["req_G"].Session != string(fixB) || byReq["req_G"].Turn != 1 {
		t.Errorf("turns and sessions: E %+v, G %+v", byReq["req_E"], byReq["req_G"])
	}
	if _, ok := byReq[""]; ok {
		t.Error("Claude Code's <synthetic> message recorded as an attempt")
	}
	sub := statsOf(t, st, claudeSub)
	if got := mainCost + sub.Cost; got != cost || cost == 0 {
		t.Errorf("stats cost %d + %d, the attempts' estimates sum to %d", mainCost, sub.Cost, cost)
	}

	// Outcomes: error, denied, ok.
	oc := w.outcomes()
	if o := oc["toolu_2"]; o.Status != abi.StatusError || o.Error != "Exit code 1" {
		t.Errorf("failed call recorded as %+v", o)
	}
	if o := oc["toolu_4"]; o.Status != abi.StatusDenied {
		t.Errorf("rejected call recorded as %+v", o)
	}
	if o := oc["toolu_1"]; o.Status != abi.StatusOK || string(o.Result) != `"a.go\nb.go"` {
		t.Errorf("call recorded as %+v", o)
	}

	// Events: kinds in order; the Task result links the sub-agent's session.
	var kinds []string
	var link string
	for _, e := range w.events(fixA) {
		kinds = append(kinds, e.Kind)
		if e.Kind == abi.KindToolResult && strings.Contains(string(e.Payload), "agent_session") {
			var p struct {
				AgentSession string `json:"agent_session"`
			}
			json.Unmarshal(e.Payload, &p)
			link = p.AgentSession
		}
	}
	wantKinds := []string{"user_message", transcript.KindThinking, "assistant_message", "tool_call", "tool_result", "tool_call", "tool_result",
		"tool_call", "tool_result", "tool_call", "tool_result", "system", "system", "user_message", "assistant_message", "assistant_message", "assistant_message"}
	if strings.Join(kinds, " ") != strings.Join(wantKinds, " ") {
		t.Errorf("events of session A\n got %v\nwant %v", kinds, wantKinds)
	}
	if link != string(fixAgent) {
		t.Errorf("Task result links %q, want %q", link, fixAgent)
	}
	if ev := w.events(fixA); strings.Contains(string(ev[1].Payload), "signature") {
		t.Errorf("thinking event keeps the signature: %s", ev[1].Payload)
	}

	// The sub-agent: its own session.
	wantSub := transcript.FileStats{Path: claudeSub, Format: transcript.FormatClaudeCode, Sessions: []abi.SessionID{fixAgent},
		Lines: 4, Batches: 6, Events: 4, ToolCalls: 1, Outcomes: 1, Attempts: 2,
		InputTokens: 4, OutputTokens: 8, CacheReadTokens: 800, CacheWriteTokens: 800}
	sub.Cost = 0
	if !equalStats(sub, wantSub) {
		t.Errorf("sub-agent stats\n got %+v\nwant %+v", sub, wantSub)
	}

	// Importing again adds nothing.
	n := len(w.batches)
	st2, err := transcript.ImportClaudeCode(ctx, w, []string{claudeMain, claudeSub, claudeDir}, transcript.WithSettle(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(st2) != 2 || len(w.batches) != n {
		t.Fatalf("re-import: %d files (want 2: each once), %d batches written (want none)", len(st2), len(w.batches)-n)
	}
	for _, s := range st2 {
		if s.Skipped != s.Batches {
			t.Errorf("re-import of %s: %d of %d batches skipped, want all", s.Path, s.Skipped, s.Batches)
		}
	}
}

func equalStats(a, b transcript.FileStats) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestCodexFixture(t *testing.T) {
	ctx := context.Background()
	w := &memWriter{}
	st, err := transcript.ImportCodex(ctx, w, []string{codexDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 {
		t.Fatalf("%d files, want 1", len(st))
	}
	s := st[0]
	var cost abi.NanoUSD
	for _, a := range w.attempts() {
		cost += estimate(t, a)
	}
	want := transcript.FileStats{Path: codexFile, Format: transcript.FormatCodex, Sessions: []abi.SessionID{fixCodex},
		Lines: 26, Duplicates: 1, Ignored: 11, Batches: 14, Events: 11, ToolCalls: 3, Outcomes: 3, Attempts: 3,
		InputTokens: 1500, OutputTokens: 100, CacheReadTokens: 2000, Cost: cost}
	if !equalStats(s, want) {
		t.Errorf("stats\n got %+v\nwant %+v", s, want)
	}
	at := w.attempts()
	if len(at) != 3 || at[1].InputTokens != 300 || at[1].CacheReadTokens != 900 || at[1].OutputTokens != 30 ||
		at[1].Model != "gpt-5.5" || at[1].Provider != "openai" || at[1].Turn != 1 {
		t.Errorf("attempts %+v: want the second with 1200 input of which 900 cached as 300 input and 900 cache reads", at)
	}
	oc := w.outcomes()
	if o := oc["call_1"]; o.Status != abi.StatusError || o.Error != "exit code 1" {
		t.Errorf("failed command recorded as %+v", o)
	}
	if o := oc["call_2"]; o.Status != abi.StatusOK {
		t.Errorf("applied patch recorded as %+v", o)
	}
	if o := oc["ws_1"]; o.Status != abi.StatusOK {
		t.Errorf("web search recorded as %+v", o)
	}
	var kinds []string
	for _, e := range w.events(fixCodex) {
		kinds = append(kinds, e.Kind)
		if strings.Contains(string(e.Payload), "You are Codex") || strings.Contains(string(e.Payload), "gAAAAB") {
			t.Errorf("event keeps built-in instructions or encrypted reasoning: %s", e.Payload)
		}
	}
	wantKinds := []string{"system", "system", "system", "user_message", "tool_call", "tool_result", transcript.KindThinking,
		"tool_call", "tool_result", "tool_call", "assistant_message"}
	if strings.Join(kinds, " ") != strings.Join(wantKinds, " ") {
		t.Errorf("events\n got %v\nwant %v", kinds, wantKinds)
	}
}

// writeFile writes lines to a new file under a temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTruncated cuts the fixtures at several points inside their last
// line: the import fails naming the file and the line, and writes
// nothing of the file.
func TestTruncated(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src string
		imp func(context.Context, transcript.Writer, []string, ...transcript.Option) ([]transcript.FileStats, error)
	}{{claudeMain, transcript.ImportClaudeCode}, {codexFile, transcript.ImportCodex}} {
		data, err := os.ReadFile(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(string(data), "\n")
		last := strings.LastIndexByte(strings.TrimSuffix(string(data), "\n"), '\n') + 1
		for _, cut := range []int{last + 1, last + 10, (last + len(data)) / 2, len(data) - 2} {
			p := writeFile(t, filepath.Base(tc.src), data[:cut])
			w := &memWriter{}
			_, err := tc.imp(ctx, w, []string{p})
			le, ok := errors.AsType[*transcript.LineError](err)
			if !ok || le.Path != p || le.Line != lines || !errors.Is(err, transcript.ErrMalformed) {
				t.Errorf("%s cut at %d of %d: err %v, want a LineError for line %d of %s", tc.src, cut, len(data), err, lines, p)
			}
			if w.calls != 0 {
				t.Errorf("%s cut at %d: %d writes, want none", tc.src, cut, w.calls)
			}
		}
	}
}

// TestErrorsHideLines: a malformed line holding a secret gives an error
// without it.
func TestErrorsHideLines(t *testing.T) {
	secret := "sk-" + strings.Repeat("Q7", 24)
	for _, bad := range []string{
		`{"type":"user","sessionId":"s","uuid":"u","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"` + secret,
		`{"type":"user","sessionId":"s","uuid":"u","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":42}}` + "\n",
		`{"type":"assistant","sessionId":"s","uuid":"u","timestamp":"` + secret + `","message":{}}` + "\n",
		`{"type":"user","sessionId":"s","uuid":"u","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":1,"content":"` + secret + `"}]}}` + "\n",
	} {
		p := writeFile(t, "s.jsonl", []byte(bad))
		_, err := transcript.ImportClaudeCode(context.Background(), &memWriter{}, []string{p}, transcript.WithSettle(0))
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Q7Q7") {
			t.Errorf("error %v: want one without the line's text", err)
		}
	}
	for _, bad := range []string{
		`{"timestamp":"` + secret + `","type":"` + secret + `","payload":{}}` + "\n",
		`{"timestamp":"2026-01-01T00:00:00Z","type":"` + secret + `","payload":{}}` + "\n",
		`{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s"}}` + "\n" +
			`{"timestamp":"2026-01-01T00:00:00Z","type":"response_item","payload":{"type":"message","role":"user","content":{"text":"` + secret + `"}}}` + "\n",
		`{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s"}}` + "\n" +
			`{"timestamp":"2026-01-01T00:00:00Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":"` + secret + `"}}}}` + "\n",
	} {
		p := writeFile(t, "s.jsonl", []byte(bad))
		_, err := transcript.ImportCodex(context.Background(), &memWriter{}, []string{p})
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Q7Q7") {
			t.Errorf("codex: error %v: want one without the line's text", err)
		}
	}
}

// TestMalformedStops: a file with a malformed line in its middle is not
// written; the files before it are, and a rerun after the fix completes.
func TestMalformedStops(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(claudeSub)
	bad, _ := os.ReadFile(claudeMain)
	ls := strings.SplitAfter(string(bad), "\n")
	broken := strings.Join(ls[:5], "") + "{not json\n" + strings.Join(ls[5:], "")
	os.WriteFile(filepath.Join(dir, "a.jsonl"), good, 0o600)
	os.WriteFile(filepath.Join(dir, "b.jsonl"), []byte(broken), 0o600)
	w := &memWriter{}
	st, err := transcript.ImportClaudeCode(context.Background(), w, []string{dir}, transcript.WithSettle(0))
	le, ok := errors.AsType[*transcript.LineError](err)
	if !ok || le.Line != 6 || filepath.Base(le.Path) != "b.jsonl" {
		t.Fatalf("err %v, want a LineError for b.jsonl line 6", err)
	}
	if len(st) != 1 || w.calls != 1 || len(w.events(fixAgent)) != 4 || len(w.events(fixA)) != 0 {
		t.Fatalf("stats %+v, %d calls, %d and %d events: want a.jsonl only", st, w.calls, len(w.events(fixAgent)), len(w.events(fixA)))
	}
	os.WriteFile(filepath.Join(dir, "b.jsonl"), bad, 0o600)
	st, err = transcript.ImportClaudeCode(context.Background(), w, []string{dir}, transcript.WithSettle(0))
	if err != nil || len(st) != 2 || st[0].Skipped != st[0].Batches || st[1].Skipped != 0 {
		t.Fatalf("rerun: %+v, %v", st, err)
	}
}

func TestWriterError(t *testing.T) {
	boom := errors.New("disk full")
	_, err := transcript.ImportCodex(context.Background(), &memWriter{err: boom}, []string{codexFile})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), codexFile) {
		t.Fatalf("err %v, want the writer's error naming the file", err)
	}
}

func TestBadArguments(t *testing.T) {
	ctx := context.Background()
	if _, err := transcript.ImportClaudeCode(ctx, nil, []string{claudeDir}, transcript.WithSettle(0)); !errors.Is(err, transcript.ErrInvalidOption) {
		t.Errorf("nil writer: %v", err)
	}
	if _, err := transcript.ImportClaudeCode(ctx, &memWriter{}, []string{claudeDir}, transcript.WithPricing(nil)); !errors.Is(err, transcript.ErrInvalidOption) {
		t.Errorf("nil table: %v", err)
	}
	if _, err := transcript.ImportClaudeCode(ctx, &memWriter{}, []string{t.TempDir()}, transcript.WithSettle(0)); !errors.Is(err, transcript.ErrNoTranscripts) {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := transcript.ImportCodex(ctx, &memWriter{}, []string{filepath.Join(t.TempDir(), "none")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
	long := `{"type":"user","sessionId":"s","uuid":"u","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"` +
		strings.Repeat("x", transcript.MaxLineSize) + `"}}` + "\n"
	p := writeFile(t, "long.jsonl", []byte(long))
	if _, err := transcript.ImportClaudeCode(ctx, &memWriter{}, []string{p}, transcript.WithSettle(0)); !errors.Is(err, transcript.ErrLineTooLong) {
		t.Errorf("line over MaxLineSize: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	w := &memWriter{}
	if _, err := transcript.ImportClaudeCode(canceled, w, []string{claudeDir}, transcript.WithSettle(0)); !errors.Is(err, context.Canceled) || w.calls != 0 {
		t.Errorf("canceled: %v after %d writes", err, w.calls)
	}
}

// TestCodexWithoutMeta: a rollout without session_meta takes its session
// from its file name; elsewhere it is an error.
func TestCodexWithoutMeta(t *testing.T) {
	line := `{"timestamp":"2026-05-11T08:00:02.000Z","type":"event_msg","payload":{"type":"user_message","message":"hi"}}` + "\n"
	id := "019e1695-0522-7c83-8b39-0dd379793f80"
	p := writeFile(t, "rollout-2026-05-11T08-00-00-"+id+".jsonl", []byte(line))
	_, s, err := transcript.ParseCodex(context.Background(), p)
	if err != nil || len(s.Sessions) != 1 || s.Sessions[0] != abi.SessionID(id) {
		t.Fatalf("%+v, %v", s, err)
	}
	p = writeFile(t, "other.jsonl", []byte(line))
	if _, _, err := transcript.ParseCodex(context.Background(), p); !errors.Is(err, transcript.ErrMalformed) {
		t.Fatalf("no session: %v", err)
	}
}

// TestCopiedHistory: lines copied into another session's file (a resumed
// session) are events of both sessions; their API response is one
// attempt.
func TestCopiedHistory(t *testing.T) {
	line := func(sess, typ, uuid, rest string) string {
		return `{"type":"` + typ + `","sessionId":"` + sess + `","uuid":"` + uuid + `","timestamp":"2026-02-12T10:00:00Z",` + rest + "}\n"
	}
	user := `"message":{"role":"user","content":"hello"}`
	asst := `"requestId":"req_1","message":{"id":"msg_1","model":"claude-opus-4-6","role":"assistant","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":3,"output_tokens":5}}`
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s1.jsonl"), []byte(line("s1", "user", "u1", user)+line("s1", "assistant", "u2", asst)), 0o600)
	os.WriteFile(filepath.Join(dir, "s2.jsonl"), []byte(line("s2", "user", "u1", user)+line("s2", "assistant", "u2", asst)+
		line("s2", "user", "u3", `"message":{"role":"user","content":"again"}`)), 0o600)
	w := &memWriter{}
	st, err := transcript.ImportClaudeCode(context.Background(), w, []string{dir}, transcript.WithSettle(0))
	if err != nil {
		t.Fatal(err)
	}
	if n1, n2, na := len(w.events("s1")), len(w.events("s2")), len(w.attempts()); n1 != 2 || n2 != 3 || na != 1 {
		t.Fatalf("%d and %d events, %d attempts; want 2 and 3, 1", n1, n2, na)
	}
	if st[1].Skipped != 1 || st[1].Attempts != 1 {
		t.Fatalf("second file %+v: want its attempt counted and skipped as already written", st[1])
	}
}
