package transcript_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/transcript"
)

type importDirArgs struct{ Path, Dir string }

var _ = proc.Role("transcript-import-dir", func() int {
	var a importDirArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := openKEK(a.Path)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	fmt.Println("open")
	if _, err := transcript.ImportClaudeCode(context.Background(), s, []string{a.Dir}, transcript.WithSettle(0)); err != nil {
		proc.Fail("import: %v", err)
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	fmt.Println("done")
	return 0
})

// copies writes n copies of the Claude Code fixture's main file under dir,
// each with its own sessions, responses and file name, and returns the
// sessions of each copy.
func copies(t *testing.T, dir string, n int) [][2]abi.SessionID {
	t.Helper()
	data, err := os.ReadFile(claudeMain)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][2]abi.SessionID, n)
	for i := range n {
		a, b := fmt.Sprintf("copy%03d-a", i), fmt.Sprintf("copy%03d-b", i)
		r := strings.NewReplacer(string(fixA), a, string(fixB), b, `"msg_`, fmt.Sprintf(`"msg_%03d`, i), `"req_`, fmt.Sprintf(`"req_%03d`, i))
		if err := os.WriteFile(filepath.Join(dir, a+".jsonl"), []byte(r.Replace(string(data))), 0o600); err != nil {
			t.Fatal(err)
		}
		out[i] = [2]abi.SessionID{abi.SessionID(a), abi.SessionID(b)}
	}
	return out
}

// TestCrashLoop kills an import at a random moment, into a fresh store
// each round: after the kill every file is in the store whole or not at
// all, and the import run again completes, the store then holding exactly
// what the stats say.
func TestCrashLoop(t *testing.T) {
	proc.Skip(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "transcripts")
	os.Mkdir(src, 0o700)
	sessions := copies(t, src, 60)
	var all []abi.SessionID
	for _, sess := range sessions {
		all = append(all, sess[0], sess[1])
	}
	cache := engine.CacheDir()
	if cache == "" {
		cache = filepath.Join(dir, "cache")
	}
	const perFile = 19 // events of one copy
	ctx := context.Background()
	partial := 0
	proc.Loop(t, 8, 3, func(rng *rand.Rand, round int) {
		path := filepath.Join(dir, fmt.Sprintf("sessions-%d.db", round))
		openStore(t, path).Close() // the store and its key exist before the kill
		p := proc.Start(t, proc.Spec{Role: "transcript-import-dir", Args: importDirArgs{Path: path, Dir: src},
			Env: []string{engine.EnvCacheDir + "=" + cache}})
		delay := time.Duration(rng.IntN(250)) * time.Millisecond
		var out strings.Builder
		killed := make(chan struct{})
		p.Lines(func(l string) {
			if l == "open" { // importing from now on
				go func() { p.KillAfter(delay); close(killed) }()
			}
			out.WriteString(l + " ")
		})
		if strings.HasPrefix(out.String(), "open") {
			<-killed // Kill before Wait
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		s := openStore(t, path)
		defer s.Close()
		whole := 0
		for i, sess := range sessions {
			a, _ := s.EventsSince(ctx, sess[0], 0, 0)
			b, _ := s.EventsSince(ctx, sess[1], 0, 0)
			switch len(a) + len(b) {
			case perFile:
				whole++
			case 0:
			default:
				t.Fatalf("copy %d has %d events after the kill, want %d or none", i, len(a)+len(b), perFile)
			}
		}
		if whole < len(sessions) {
			partial++
		}
		st, err := transcript.ImportClaudeCode(ctx, s, []string{src}, transcript.WithSettle(0))
		if err != nil {
			t.Fatal(err)
		}
		skipped := total(st, func(f transcript.FileStats) int { return f.Skipped })
		if got, want := countSessions(t, s, all), wantCounts(st); got != want {
			t.Fatalf("after the rerun the store holds %+v, want %+v", got, want)
		}
		t.Logf("round %d: killed after %v, %d of %d files in the store (child said %q); the rerun skipped %d batches",
			round, delay, whole, len(sessions), strings.TrimSpace(out.String()), skipped)
	})
	t.Logf("%d rounds killed the import before its end", partial)
}
