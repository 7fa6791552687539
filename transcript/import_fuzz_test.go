package transcript

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// fuzzMarker is planted in a seed of FuzzImportStore and looked for in
// the store's files.
const fuzzMarker = "gofastr-marker-fuzz3c8d51e0b7a4"

// fuzzKey is the fixed data key of the fuzz store; a test constant, not
// a secret.
var fuzzKey = bytes.Repeat([]byte{0x6b}, 32)

// FuzzImportStore imports arbitrary input, as a Claude Code or a Codex
// transcript file, into one encrypted store (kept for the whole run, as a
// long-lived store is). Invariants: the import fails only with a
// *LineError of the input (ErrMalformed or ErrLineTooLong), never because
// the store refused what the parser made of an accepted file; a file
// imported again writes nothing (every batch is skipped under its key) and
// reports the same counts; an input carrying fuzzMarker (a seed does)
// leaves no trace of it, raw, reversed or in hex, in any file of the
// store.
func FuzzImportStore(f *testing.F) {
	for _, codex := range []bool{false, true} {
		dir := filepath.Join("testdata", "claude")
		if codex {
			dir = filepath.Join("testdata", "codex")
		}
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			f.Add(data, codex)
			return nil
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	f.Add([]byte(`{"type":"assistant","sessionId":"s","timestamp":"2026-01-01T00:00:00Z","message":{"model":"m","usage":{"output_tokens":-1}}}`), false)
	f.Add([]byte(`{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s"}}`+"\n"+
		`{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5,"cached_input_tokens":9}}}}`), true)
	f.Add([]byte(`{"type":"user","sessionId":"m","uuid":"u1","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"`+fuzzMarker+`"}}`+"\n"+
		`{"type":"assistant","sessionId":"m","uuid":"u2","timestamp":"2026-01-01T00:00:01Z","message":{"id":"r1","model":"claude-sonnet-4-5","role":"assistant","content":[{"type":"tool_use","id":"`+fuzzMarker+`","name":"Bash","input":{"command":"`+fuzzMarker+`"}}],"usage":{"input_tokens":3,"output_tokens":5}}}`), false)
	dir := f.TempDir()
	s, err := host.OpenEncrypted(filepath.Join(dir, "sessions.db"), host.EncryptionAtRest, fuzzKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()
	// One file, rewritten by every iteration.
	path := filepath.Join(f.TempDir(), "f.jsonl")
	f.Fuzz(func(t *testing.T, data []byte, codex bool) {
		if len(data) > 1<<20 {
			t.Skip("input over 1 MiB: too large to be cheap")
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		imp := ImportClaudeCode
		if codex {
			imp = ImportCodex
		}
		first, err := imp(ctx, s, []string{path}, WithSettle(0))
		if err != nil {
			le, ok := errors.AsType[*LineError](err)
			if !ok || !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLineTooLong) {
				t.Fatalf("import failed, not on a line of the input: %v", err)
			}
			if le.Line < 1 || le.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("LineError names line %d of a %d-line input", le.Line, bytes.Count(data, []byte("\n"))+1)
			}
			return
		}
		if bytes.Contains(data, []byte(fuzzMarker)) {
			if hits, _ := storefiles.Scan(t, []byte(fuzzMarker), dir); len(hits) > 0 {
				t.Fatalf("plaintext of the input in the store's files: %q", hits)
			}
		}
		again, err := imp(ctx, s, []string{path}, WithSettle(0))
		if err != nil {
			t.Fatalf("second import of an accepted file: %v", err)
		}
		if len(first) != 1 || len(again) != 1 {
			t.Fatalf("%d and %d file stats for one file", len(first), len(again))
		}
		a, b := first[0], again[0]
		if b.Skipped != b.Batches {
			t.Fatalf("second import wrote %d of %d batches", b.Batches-b.Skipped, b.Batches)
		}
		a.Skipped, b.Skipped = 0, 0
		if a.Events != b.Events || a.Attempts != b.Attempts || a.ToolCalls != b.ToolCalls || a.Outcomes != b.Outcomes ||
			a.Batches != b.Batches || a.Cost != b.Cost || a.OutputTokens != b.OutputTokens {
			t.Fatalf("counts differ between two imports of one file:\n%+v\n%+v", a, b)
		}
	})
}
