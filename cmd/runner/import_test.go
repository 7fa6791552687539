package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/transcript"
)

func init() {
	scriptCmds["cpdir"] = cmdCpdir
}

// cmdCpdir copies a directory tree (regular files and directories):
//
//	cpdir SRC DST
func cmdCpdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: cpdir SRC DST")
	}
	src, dst := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	ts.Check(filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	}))
}

// TestImportCorpus imports the real Claude Code and Codex transcripts of
// $GOFASTR_TRANSCRIPTS with "runner import --from" and checks that the
// per-file totals it prints are what the store holds: the token counts of
// its attempts and, through "runner cost", their cost to the nano-dollar;
// and that importing again adds nothing.
func TestImportCorpus(t *testing.T) {
	root := os.Getenv("GOFASTR_TRANSCRIPTS")
	if root == "" {
		t.Skip("GOFASTR_TRANSCRIPTS is not set: no transcript corpus to import (make test sets it when ../shared/data/sessions exists)")
	}
	// SQLite is set up once per process, with one cache directory: the
	// one the scripts use.
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	t.Setenv("GOFASTR_CACHE_DIR", cacheDir)
	db := filepath.Join(t.TempDir(), "s.db")
	run := func(args ...string) []byte {
		t.Helper()
		var stdout, stderr bytes.Buffer
		a := newApp(strings.NewReader(""), &stdout, &stderr, os.Getenv)
		if code := a.main(context.Background(), append([]string{"--db", db}, args...)); code != 0 {
			t.Fatalf("runner %s: exit status %d\n%s", strings.Join(args, " "), code, stderr.Bytes())
		}
		return stdout.Bytes()
	}
	type totals struct {
		Attempts                                           int
		Input, Output, CacheRead, CacheWrite, CacheWrite1h int64
	}
	var want totals
	var wantCost abi.NanoUSD
	for _, f := range []struct{ format, dir string }{
		{transcript.FormatClaudeCode, "claude"},
		{transcript.FormatCodex, "codex"},
	} {
		dir := filepath.Join(root, f.dir)
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("corpus: %v", err)
		}
		for pass := 0; pass < 2; pass++ {
			var stats []transcript.FileStats
			if err := json.Unmarshal(run("import", "--plaintext", "--json", "--settle", "0", "--from", f.format, dir), &stats); err != nil {
				t.Fatal(err)
			}
			if len(stats) == 0 {
				t.Fatalf("%s: no files imported", dir)
			}
			for _, st := range stats {
				if pass == 1 && st.Skipped != st.Batches {
					t.Errorf("%s: imported again, %d of %d batches skipped, want all", st.Path, st.Skipped, st.Batches)
				}
				if pass == 0 {
					want.Attempts += st.Attempts
					want.Input += st.InputTokens
					want.Output += st.OutputTokens
					want.CacheRead += st.CacheReadTokens
					want.CacheWrite += st.CacheWriteTokens
					want.CacheWrite1h += st.CacheWrite1hTokens
					wantCost += st.Cost
				}
			}
		}
	}
	var rep costReport
	if err := json.Unmarshal(run("cost", "--json"), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.TotalNanos != wantCost {
		t.Errorf("cost ledger total %s, the import's tables say %s", fmtNanoUSD(rep.TotalNanos), fmtNanoUSD(wantCost))
	}
	var got totals
	s, err := host.OpenWithConfig(db, host.NewConfig().WithCacheDir(cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := eachAttempt(context.Background(), s, func(a abi.ProviderAttempt) bool {
		got.Attempts++
		got.Input += int64(a.InputTokens)
		got.Output += int64(a.OutputTokens)
		got.CacheRead += int64(a.CacheReadTokens)
		got.CacheWrite += int64(a.CacheWriteTokens)
		got.CacheWrite1h += int64(a.CacheWrite1hTokens)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("the store's attempts total\n%+v\nthe import's tables say\n%+v", got, want)
	}
	t.Logf("%d attempts, %d input, %d output, %d cache read, %d cache write, %d 1-hour cache write tokens, %s",
		want.Attempts, want.Input, want.Output, want.CacheRead, want.CacheWrite, want.CacheWrite1h, fmtNanoUSD(rep.TotalNanos))
}
