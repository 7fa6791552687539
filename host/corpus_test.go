package host

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Real transcripts for tests and benchmarks of both test packages; they are
// read, never copied into the repository.

// TranscriptsDir holds real Claude Code and Codex transcripts (*.jsonl),
// used as the benign corpus: the directory named by $GOFASTR_TRANSCRIPTS.
// The corpus is not part of the repository; tests that need it skip, saying
// so, where the variable is unset. make test sets it to
// ../shared/data/sessions beside the checkout when that exists.
var TranscriptsDir = os.Getenv("GOFASTR_TRANSCRIPTS")

// JSONLFile is one *.jsonl file of a corpus: its path under the corpus
// root and its lines.
type JSONLFile struct {
	Name  string
	Lines []string
}

// ReadJSONL returns the lines of every *.jsonl file under root (real
// transcripts, which live outside the repository), skipping tb if there are
// none.
func ReadJSONL(tb testing.TB, root string) []JSONLFile {
	tb.Helper()
	if TranscriptsDir == "" {
		tb.Skip("transcript corpus not configured: set GOFASTR_TRANSCRIPTS to a directory of *.jsonl transcripts")
	}
	if _, err := os.Stat(root); err != nil {
		tb.Skipf("corpus %s not available (it lives outside the repository): %v", root, err)
	}
	var files []JSONLFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f := JSONLFile{Name: strings.TrimPrefix(p, root+"/")}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, len(data)+1)
		for sc.Scan() {
			f.Lines = append(f.Lines, sc.Text())
		}
		files = append(files, f)
		return sc.Err()
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Skipf("corpus %s has no .jsonl files", root)
	}
	return files
}
