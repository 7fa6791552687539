package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun prints the table of the transcript package's fixtures and checks
// the store's cost.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, filepath.Join("..", "..", "..", "transcript", "testdata")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`claude/projects/-work-demo/11111111-1111-4111-8111-111111111111.jsonl` | claude-code | 19 | 4 | 7 | 2 |",
		"| codex | 11 | 3 | 3 | 0 | 1500 | 100 | 2000 |", "**total**", "the import's total to the nano-dollar"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(context.Background(), &out, t.TempDir()); err == nil {
		t.Error("a folder without transcripts: no error")
	}
}
