package transcript_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/transcript"
)

// A Claude Code transcript as a running session writes it: a response's
// first streamed line carries output_tokens 1, its last one the final
// count, and a tool's result comes between its lines.
const (
	settleSess = "55555555-5555-4555-8555-555555555555"
	settleHead = `{"type":"user","sessionId":"` + settleSess + `","uuid":"s-u1","timestamp":"2026-02-12T10:00:00Z","message":{"role":"user","content":"fix it"}}
{"type":"assistant","sessionId":"` + settleSess + `","uuid":"s-a1","timestamp":"2026-02-12T10:00:01Z","requestId":"req_s1","message":{"id":"msg_s1","model":"claude-opus-4-6","role":"assistant","content":[{"type":"tool_use","id":"toolu_s1","name":"Read","input":{"file_path":"a.go"}}],"stop_reason":null,"usage":{"input_tokens":4,"output_tokens":1}}}
`
	settleTail = `{"type":"user","sessionId":"` + settleSess + `","uuid":"s-u2","timestamp":"2026-02-12T10:00:02Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_s1","content":"package a"}]}}
{"type":"progress","sessionId":"` + settleSess + `","uuid":"s-p1","timestamp":"2026-02-12T10:00:02Z"}
{"type":"assistant","sessionId":"` + settleSess + `","uuid":"s-a2","timestamp":"2026-02-12T10:00:03Z","requestId":"req_s1","message":{"id":"msg_s1","model":"claude-opus-4-6","role":"assistant","content":[{"type":"text","text":"done"}],"stop_reason":null,"usage":{"input_tokens":4,"output_tokens":2152}}}
`
)

// TestSettleStreamingResponse: a file modified within the settle time
// keeps its last response's attempt for a later import, which stores the
// final usage; its events are written at once.
func TestSettleStreamingResponse(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, filepath.Join(dir, "s.db"))
	path := filepath.Join(dir, settleSess+".jsonl")
	if err := os.WriteFile(path, []byte(settleHead), 0o600); err != nil {
		t.Fatal(err)
	}

	// Just written: the response may still be streaming.
	st, err := transcript.ImportClaudeCode(ctx, s, []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if f := st[0]; f.Deferred != 1 || f.Attempts != 0 || f.OutputTokens != 0 || f.Cost != 0 || f.Events != 2 || f.ToolCalls != 1 {
		t.Fatalf("recent file: %+v; want 1 attempt deferred, none counted, its 2 events and tool call written", f)
	}
	if at, err := s.AttemptsForTurn(ctx, settleSess, 1); err != nil || len(at) != 0 {
		t.Fatalf("recent file: %d attempts stored, %v; want none", len(at), err)
	}
	if c := countSessions(t, s, st[0].Sessions); c.Events != 2 || c.Intents != 1 {
		t.Fatalf("recent file: store holds %+v; want 2 events and 1 tool call", c)
	}

	// The response completes; the file is still being written to.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(settleTail); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = transcript.ImportClaudeCode(ctx, s, []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if f := st[0]; f.Deferred != 1 || f.Attempts != 0 {
		t.Fatalf("recent grown file: %+v; want its response still deferred", f)
	}

	// Settled: the attempt is written with its final counts.
	old := time.Now().Add(-10 * time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	st, err = transcript.ImportClaudeCode(ctx, s, []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if f := st[0]; f.Deferred != 0 || f.Attempts != 1 || f.OutputTokens != 2152 || f.Skipped != 4 || f.Batches != 5 {
		t.Fatalf("settled file: %+v; want its attempt written with 2152 output tokens, the 4 line batches skipped", f)
	}
	at, err := s.AttemptsForTurn(ctx, settleSess, 1)
	if err != nil || len(at) != 1 {
		t.Fatalf("settled file: %d attempts stored, %v; want 1", len(at), err)
	}
	if at[0].OutputTokens != 2152 || at[0].InputTokens != 4 {
		t.Fatalf("stored attempt %d input, %d output tokens; want the final 4 and 2152", at[0].InputTokens, at[0].OutputTokens)
	}
	c := countSessions(t, s, st[0].Sessions)
	if c.Anthropic != st[0].Cost || st[0].Cost == 0 {
		t.Fatalf("store's cost %d, file's %d; want them equal and not zero", c.Anthropic, st[0].Cost)
	}
}

// TestSettleOldFile: a file modified before the settle time, or any file
// with WithSettle(0), is imported whole at once; only Claude Code's last
// response is held back.
func TestSettleOldFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, settleSess+".jsonl")
	if err := os.WriteFile(path, []byte(settleHead+settleTail), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(what string, wantDeferred int, opts ...transcript.Option) {
		t.Helper()
		w := &memWriter{}
		st, err := transcript.ImportClaudeCode(ctx, w, []string{path}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		want := 1 - wantDeferred
		if f := st[0]; f.Deferred != wantDeferred || f.Attempts != want || len(w.attempts()) != want {
			t.Fatalf("%s: %+v, %d attempts written; want %d deferred", what, f, len(w.attempts()), wantDeferred)
		}
		_, ps, err := transcript.ParseClaudeCode(ctx, path, opts...)
		if err != nil || ps.Deferred != wantDeferred {
			t.Fatalf("%s: ParseClaudeCode %+v, %v; want %d deferred", what, ps, err, wantDeferred)
		}
	}
	check("recent file", 1)
	check("recent file, WithSettle(0)", 0, transcript.WithSettle(0))
	check("recent file, WithSettle(1ns)", 0, transcript.WithSettle(time.Nanosecond))
	old := time.Now().Add(-transcript.DefaultSettle - time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	check("old file", 0)
	check("old file, WithSettle(1h)", 1, transcript.WithSettle(time.Hour))

	// Codex writes a token_count line once a request has completed: its
	// counts are final, and a recent rollout (here: any) defers nothing.
	st, err := transcript.ImportCodex(ctx, &memWriter{}, []string{codexDir}, transcript.WithSettle(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range st {
		if f.Deferred != 0 {
			t.Fatalf("codex %s: %d deferred", f.Path, f.Deferred)
		}
	}

	if _, err := transcript.ImportClaudeCode(ctx, &memWriter{}, []string{path}, transcript.WithSettle(-time.Second)); !errors.Is(err, transcript.ErrInvalidOption) ||
		!strings.Contains(err.Error(), "WithSettle") {
		t.Fatalf("WithSettle(-1s): %v; want ErrInvalidOption", err)
	}
}
