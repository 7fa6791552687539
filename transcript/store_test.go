package transcript_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/transcript"
)

func init() { proc.Dispatch() }

// Both kinds of store take imports.
var (
	_ transcript.Writer = (*host.Store)(nil)
	_ transcript.Writer = (*host.MonthlyRollover)(nil)
)

var testKEK = bytes.Repeat([]byte{0x5a}, 32)

func openKEK(path string) (*host.Store, error) { return host.OpenWithKEK(path, testKEK) }

func openStore(t *testing.T, path string) *host.Store {
	t.Helper()
	s, err := openKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// importFixtures imports the Claude Code and Codex fixtures into w.
func importFixtures(ctx context.Context, w transcript.Writer) ([]transcript.FileStats, error) {
	a, err := transcript.ImportClaudeCode(ctx, w, []string{claudeDir}, transcript.WithSettle(0))
	if err != nil {
		return a, err
	}
	b, err := transcript.ImportCodex(ctx, w, []string{codexDir})
	return append(a, b...), err
}

// storeCounts is what a store holds of the fixtures' sessions.
type storeCounts struct {
	Events, Intents, Outcomes, Orphans int
	Anthropic, OpenAI                  abi.NanoUSD
	Unpriced                           int
}

var allTime = [2]time.Time{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}

func countStore(t *testing.T, s *host.Store) storeCounts {
	t.Helper()
	return countSessions(t, s, []abi.SessionID{fixA, fixB, fixAgent, fixCodex})
}

// corpusCounts is what s holds of the sessions of st.
func corpusCounts(t *testing.T, s *host.Store, st []transcript.FileStats) storeCounts {
	t.Helper()
	seen := make(map[abi.SessionID]bool)
	var sessions []abi.SessionID
	for _, f := range st {
		for _, id := range f.Sessions {
			if !seen[id] {
				seen[id] = true
				sessions = append(sessions, id)
			}
		}
	}
	return countSessions(t, s, sessions)
}

func countSessions(t *testing.T, s *host.Store, sessions []abi.SessionID) storeCounts {
	t.Helper()
	ctx := context.Background()
	var c storeCounts
	for _, sess := range sessions {
		ev, err := s.EventsSince(ctx, sess, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		in, err := s.ToolIntents(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.ToolOutcomes(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		orph, err := s.OrphanIntents(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		c.Events, c.Intents, c.Outcomes, c.Orphans = c.Events+len(ev), c.Intents+len(in), c.Outcomes+len(out), c.Orphans+len(orph)
	}
	var err error
	if c.Anthropic, err = s.LocalCostNanosInPeriod(ctx, "anthropic", allTime[0], allTime[1]); err != nil {
		t.Fatal(err)
	}
	if c.OpenAI, err = s.LocalCostNanosInPeriod(ctx, "openai", allTime[0], allTime[1]); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"anthropic", "openai"} {
		n, err := s.UnpricedAttemptsInPeriod(ctx, p, allTime[0], allTime[1])
		if err != nil {
			t.Fatal(err)
		}
		c.Unpriced += n
	}
	return c
}

// wantCounts is what the stats say the store should hold.
func wantCounts(st []transcript.FileStats) storeCounts {
	var c storeCounts
	for _, s := range st {
		c.Events += s.Events
		c.Intents += s.ToolCalls
		c.Outcomes += s.Outcomes
		c.Unpriced += s.Unpriced
		if s.Format == transcript.FormatCodex {
			c.OpenAI += s.Cost
		} else {
			c.Anthropic += s.Cost
		}
	}
	return c
}

// TestStoreImport imports the fixtures into an encrypted store: it holds
// what the stats say, to the nano-dollar, and a second import adds
// nothing.
func TestStoreImport(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "sessions.db"))
	st, err := importFixtures(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	want := wantCounts(st)
	if got := countStore(t, s); got != want || want.Anthropic == 0 || want.OpenAI == 0 {
		t.Fatalf("store holds %+v, stats say %+v", got, want)
	}
	list, err := s.ListPastSessions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	first := make(map[abi.SessionID]string)
	for _, p := range list {
		first[p.ID] = p.FirstUserMessage
	}
	if first[fixA] != "List the files, then run the tests." || first[fixCodex] != "run the tests" || first[fixAgent] != "Find where x is defined." {
		t.Errorf("first user messages %q", first)
	}
	at, err := s.AttemptsForTurn(ctx, string(fixA), 1)
	if err != nil || len(at) != 4 {
		t.Fatalf("turn 1 of session A: %d attempts, %v; want 4", len(at), err)
	}

	st2, err := importFixtures(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range st2 {
		if f.Skipped != f.Batches {
			t.Errorf("re-import of %s: %d of %d batches skipped, want all", f.Path, f.Skipped, f.Batches)
		}
	}
	if got := countStore(t, s); got != want {
		t.Fatalf("after re-import the store holds %+v, want %+v", got, want)
	}
}

// TestStoreRedacts: secrets in a transcript's messages, tool arguments and
// results are removed by the store's redactor; on an encrypted store no
// file holds a marker planted in the transcript, nor a batch key.
func TestStoreRedacts(t *testing.T) {
	ctx := context.Background()
	secret := "sk-ant-api03-" + strings.Repeat("Zq4", 14)
	marker := string(storefiles.NewMarker())
	sess := "44444444-4444-4444-8444-444444444444"
	lines := []map[string]any{
		{"type": "user", "sessionId": sess, "uuid": "u1-" + marker, "timestamp": "2026-02-12T10:00:00Z",
			"message": map[string]any{"role": "user", "content": "my key is " + secret + " " + marker}},
		{"type": "assistant", "sessionId": sess, "uuid": "u2", "timestamp": "2026-02-12T10:00:01Z", "requestId": "req_" + marker,
			"message": map[string]any{"id": "msg_1", "model": "claude-opus-4-6", "role": "assistant",
				"content": []any{map[string]any{"type": "tool_use", "id": "toolu_x", "name": "Bash", "input": map[string]any{"command": "export KEY=" + secret}}},
				"usage":   map[string]any{"input_tokens": 3, "output_tokens": 4}}},
		{"type": "user", "sessionId": sess, "uuid": "u3", "timestamp": "2026-02-12T10:00:02Z",
			"message": map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_x", "content": "echo " + secret, "is_error": true}}}},
	}
	var buf bytes.Buffer
	for _, l := range lines {
		b, _ := json.Marshal(l)
		buf.Write(append(b, '\n'))
	}
	dir := t.TempDir()
	src := writeFile(t, sess+".jsonl", buf.Bytes())

	plain, err := host.Open(filepath.Join(dir, "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := transcript.ImportClaudeCode(ctx, plain, []string{src}, transcript.WithSettle(0)); err != nil {
		t.Fatal(err)
	}
	ev, _ := plain.EventsSince(ctx, abi.SessionID(sess), 0, 0)
	in, _ := plain.ToolIntents(ctx, abi.SessionID(sess))
	out, _ := plain.ToolOutcomes(ctx, abi.SessionID(sess))
	all, _ := json.Marshal([]any{ev, in, out})
	if len(ev) != 3 || len(in) != 1 || len(out) != 1 || strings.Contains(string(all), secret) || strings.Contains(string(all), "Zq4Zq4") {
		t.Fatalf("the store holds %d events, %d intents, %d outcomes: %s", len(ev), len(in), len(out), all)
	}

	encDir := t.TempDir()
	enc := openStore(t, filepath.Join(encDir, "enc.db"))
	if _, err := transcript.ImportClaudeCode(ctx, enc, []string{src}, transcript.WithSettle(0)); err != nil {
		t.Fatal(err)
	}
	if hits, scanned := storefiles.Scan(t, []byte(marker), encDir); len(hits) > 0 || len(scanned) == 0 {
		t.Fatalf("marker found in %v (scanned %v)", hits, scanned)
	}
}

// TestStoreConcurrentHandles: two handles on one store import the same
// files at once; every batch is written once.
func TestStoreConcurrentHandles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s1 := openStore(t, path)
	s2 := openStore(t, path)
	var wg sync.WaitGroup
	res := make([][]transcript.FileStats, 2)
	errs := make([]error, 2)
	for i, s := range []*host.Store{s1, s2} {
		wg.Go(func() { res[i], errs[i] = importFixtures(ctx, s) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	written := 0
	for i := range res[0] {
		written += 2*res[0][i].Batches - res[0][i].Skipped - res[1][i].Skipped
	}
	if written != total(res[0], func(f transcript.FileStats) int { return f.Batches }) {
		t.Errorf("%d batches written by the two handles, want each once", written)
	}
	if got, want := countStore(t, s1), wantCounts(res[0]); got != want {
		t.Fatalf("store holds %+v, want %+v", got, want)
	}
}

func total(st []transcript.FileStats, f func(transcript.FileStats) int) int {
	n := 0
	for _, s := range st {
		n += f(s)
	}
	return n
}

type importArgs struct{ Path string }

var _ = proc.Role("transcript-import", func() int {
	var a importArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenWithKEK(a.Path, testKEK)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	st, err := importFixtures(context.Background(), s)
	if err != nil {
		proc.Fail("import: %v", err)
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	for _, f := range st {
		fmt.Printf("%d %d\n", f.Batches, f.Skipped)
	}
	return 0
})

// TestStoreProcesses: two processes import the same files into one store
// at once; every batch is written once.
func TestStoreProcesses(t *testing.T) {
	proc.Skip(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	cache := engine.CacheDir()
	if cache == "" {
		cache = filepath.Join(dir, "cache")
	}
	// Create the store (and its key) before the children race to.
	s := openStore(t, path)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Go(func() {
			outs[i], errs[i] = proc.Run(t, proc.Spec{Role: "transcript-import", Args: importArgs{Path: path},
				Env: []string{engine.EnvCacheDir + "=" + cache}})
		})
	}
	wg.Wait()
	batches, skipped := 0, 0
	for i, out := range outs {
		if errs[i] != nil {
			t.Fatalf("child %d: %v", i, errs[i])
		}
		var b, k int
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if _, err := fmt.Sscanf(l, "%d %d", &b, &k); err != nil {
				t.Fatalf("child %d: output %q", i, out)
			}
			batches += b
			skipped += k
		}
	}
	st, err := importFixtures(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	one := total(st, func(f transcript.FileStats) int { return f.Batches })
	if batches != 2*one || batches-skipped != one || total(st, func(f transcript.FileStats) int { return f.Skipped }) != one {
		t.Fatalf("children wrote %d of %d batches, want each of %d once", batches-skipped, batches, one)
	}
	if got, want := countStore(t, s), wantCounts(st); got != want {
		t.Fatalf("store holds %+v, want %+v", got, want)
	}
}
