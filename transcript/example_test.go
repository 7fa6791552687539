package transcript_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/transcript"
)

// Import a folder of Claude Code transcripts into a store, twice: the
// second import finds every batch already there.
func ExampleImportClaudeCode() {
	dir, err := os.MkdirTemp("", "example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := host.Open(filepath.Join(dir, "sessions.db"))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	ctx := context.Background()
	for range 2 {
		// WithSettle(0): these files are complete, however recently they
		// were written (by default, the last response of a file modified
		// in the last two minutes waits for a later import).
		stats, err := transcript.ImportClaudeCode(ctx, s, []string{filepath.Join("testdata", "claude")}, transcript.WithSettle(0))
		if err != nil {
			panic(err)
		}
		for _, f := range stats {
			fmt.Printf("%s: %d sessions, %d events, %d tool calls, %d attempts (%d unpriced), $%.6f; %d of %d batches already there\n",
				filepath.Base(f.Path), len(f.Sessions), f.Events, f.ToolCalls, f.Attempts, f.Unpriced, f.Cost.USD(), f.Skipped, f.Batches)
		}
	}
	// Output:
	// agent-abc1234.jsonl: 1 sessions, 4 events, 1 tool calls, 2 attempts (0 unpriced), $0.003372; 0 of 6 batches already there
	// 11111111-1111-4111-8111-111111111111.jsonl: 2 sessions, 19 events, 4 tool calls, 7 attempts (2 unpriced), $0.008161; 0 of 26 batches already there
	// agent-abc1234.jsonl: 1 sessions, 4 events, 1 tool calls, 2 attempts (0 unpriced), $0.003372; 6 of 6 batches already there
	// 11111111-1111-4111-8111-111111111111.jsonl: 2 sessions, 19 events, 4 tool calls, 7 attempts (2 unpriced), $0.008161; 26 of 26 batches already there
}
