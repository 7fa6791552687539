package transcript_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/transcript"
)

// corpusDir returns the directory of real transcripts named by
// $GOFASTR_TRANSCRIPTS (claude/ and codex/ under it), skipping tb, saying
// why, when it is not there. The corpus is public data kept outside the
// repository; make test sets the variable when it finds it.
func corpusDir(tb testing.TB, sub string) string {
	tb.Helper()
	root := os.Getenv("GOFASTR_TRANSCRIPTS")
	if root == "" {
		tb.Skip("transcript corpus not configured: set GOFASTR_TRANSCRIPTS to a directory with claude/ and codex/ transcripts")
	}
	dir := filepath.Join(root, sub)
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("corpus %s not available: %v", dir, err)
	}
	return dir
}

// eachLine calls fn with every line of path.
func eachLine(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, transcript.MaxLineSize)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// claudeResponses counts a Claude Code file's API responses and sums the
// output tokens of their first and of their last lines, independently of
// the importer.
func claudeResponses(t *testing.T, path string) (n int, first, last int64) {
	type rec struct{ first, last int64 }
	resp := make(map[string]*rec)
	eachLine(t, path, func(b []byte) {
		var l struct {
			Type      string `json:"type"`
			RequestID string `json:"requestId"`
			Message   struct {
				ID    string `json:"id"`
				Model string `json:"model"`
				Usage *struct {
					OutputTokens  int64 `json:"output_tokens"`
					CacheCreation int64 `json:"cache_creation_input_tokens"`
					Split         *struct {
						Ephemeral5m int64 `json:"ephemeral_5m_input_tokens"`
						Ephemeral1h int64 `json:"ephemeral_1h_input_tokens"`
					} `json:"cache_creation"`
				} `json:"usage"`
			} `json:"message"`
		}
		if json.Unmarshal(b, &l) != nil || l.Type != "assistant" || l.Message.ID == "" || l.Message.Model == "<synthetic>" {
			return
		}
		k := l.Message.ID + " " + l.RequestID
		r := resp[k]
		if r == nil {
			r = &rec{first: -1}
			resp[k] = r
		}
		if u := l.Message.Usage; u != nil {
			// The importer splits cache writes by this breakdown only when
			// it adds up; in the corpus it always does.
			if c := u.Split; c != nil && c.Ephemeral5m+c.Ephemeral1h != u.CacheCreation {
				t.Errorf("%s: cache_creation breakdown %d + %d is not cache_creation_input_tokens %d",
					path, c.Ephemeral5m, c.Ephemeral1h, u.CacheCreation)
			}
			if r.first < 0 {
				r.first = u.OutputTokens
			}
			r.last = u.OutputTokens
		}
	})
	for _, r := range resp {
		first += max(r.first, 0)
		last += r.last
	}
	return len(resp), first, last
}

// codexTotals returns the last total_token_usage of a rollout.
func codexTotals(t *testing.T, path string) (input, cached, output int64) {
	eachLine(t, path, func(b []byte) {
		var l struct {
			Payload struct {
				Type string `json:"type"`
				Info *struct {
					Total struct {
						Input  int64 `json:"input_tokens"`
						Cached int64 `json:"cached_input_tokens"`
						Output int64 `json:"output_tokens"`
					} `json:"total_token_usage"`
				} `json:"info"`
			} `json:"payload"`
		}
		if json.Unmarshal(b, &l) == nil && l.Payload.Type == "token_count" && l.Payload.Info != nil {
			input, cached, output = l.Payload.Info.Total.Input, l.Payload.Info.Total.Cached, l.Payload.Info.Total.Output
		}
	})
	return input, cached, output
}

// TestCorpus imports the real transcripts into an encrypted store: the
// store holds what the stats say (events, tool calls, cost to the
// nano-dollar, unpriced attempts), each Claude Code response is one
// attempt with its last line's output count, each Codex rollout's
// attempts add up to its final total_token_usage, and a second import adds
// nothing.
func TestCorpus(t *testing.T) {
	claude, codex := corpusDir(t, "claude"), corpusDir(t, "codex")
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "sessions.db"))
	a, err := transcript.ImportClaudeCode(ctx, s, []string{claude}, transcript.WithSettle(0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := transcript.ImportCodex(ctx, s, []string{codex})
	if err != nil {
		t.Fatal(err)
	}
	var sumFirst, sumLast int64
	for _, f := range a {
		n, first, last := claudeResponses(t, f.Path)
		if f.Attempts != n || f.OutputTokens != last {
			t.Errorf("%s: %d attempts with %d output tokens; the file has %d responses with %d output tokens on their last lines",
				f.Path, f.Attempts, f.OutputTokens, n, last)
		}
		sumFirst, sumLast = sumFirst+first, sumLast+last
	}
	if sumLast <= sumFirst {
		t.Errorf("output tokens of last lines %d not above those of first lines %d: the corpus does not show streaming counts", sumLast, sumFirst)
	}
	for _, f := range b {
		in, cached, out := codexTotals(t, f.Path)
		if f.InputTokens+f.CacheReadTokens != in || f.CacheReadTokens != cached || f.OutputTokens != out {
			t.Errorf("%s: input %d + cached %d, output %d; the rollout's totals are input %d (cached %d), output %d",
				f.Path, f.InputTokens, f.CacheReadTokens, f.OutputTokens, in, cached, out)
		}
	}
	st := append(a, b...)
	got := corpusCounts(t, s, st)
	if want := wantCounts(st); got != want {
		t.Fatalf("store holds %+v, stats say %+v", got, want)
	}
	st2, err := transcript.ImportClaudeCode(ctx, s, []string{claude}, transcript.WithSettle(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range st2 {
		if f.Skipped != f.Batches {
			t.Errorf("re-import of %s: %d of %d batches skipped", f.Path, f.Skipped, f.Batches)
		}
	}
	for _, f := range st {
		rel, _ := filepath.Rel(filepath.Dir(claude), f.Path)
		t.Logf("%s: %d events, %d tool calls, %d attempts (%d unpriced), in %d out %d cache read %d write %d+%d (1h), $%.6f",
			rel, f.Events, f.ToolCalls, f.Attempts, f.Unpriced, f.InputTokens, f.OutputTokens, f.CacheReadTokens,
			f.CacheWriteTokens, f.CacheWrite1hTokens, f.Cost.USD())
	}
	t.Logf("Claude Code output tokens: %d on the responses' last lines, %d on their first", sumLast, sumFirst)
}

// BenchmarkParseCorpus parses the real transcripts without writing them
// (bytes per second of input).
func BenchmarkParseCorpus(b *testing.B) {
	type file struct {
		path  string
		parse func(context.Context, string, ...transcript.Option) ([]abi.Batch, transcript.FileStats, error)
	}
	var files []file
	var size int64
	for sub, parse := range map[string]func(context.Context, string, ...transcript.Option) ([]abi.Batch, transcript.FileStats, error){
		"claude": transcript.ParseClaudeCode, "codex": transcript.ParseCodex} {
		err := filepath.WalkDir(corpusDir(b, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Ext(p) != ".jsonl" {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, file{p, parse})
			size += fi.Size()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	ctx := context.Background()
	for b.Loop() {
		for _, f := range files {
			if _, _, err := f.parse(ctx, f.path); err != nil {
				b.Fatal(err)
			}
		}
	}
}
