package transcript

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/pricing"
)

// fuzzParse parses data as one file of the format: it must not panic, and
// either fail with a LineError naming a line of data or give batches a
// store can take (keys within abi.MaxBatchKey, sessions and kinds not
// empty, payloads JSON, attempts with a price snapshot and counts that
// add up to the stats).
func fuzzParse(t *testing.T, data []byte, parse parseFunc) {
	lines, err := readLines(context.Background(), "f.jsonl", bytes.NewReader(data), &progress{})
	if err != nil {
		if !errors.Is(err, ErrLineTooLong) {
			t.Fatalf("readLines: %v", err)
		}
		return
	}
	b := &builder{path: "f.jsonl", prices: pricing.Default(), sessions: make(map[abi.SessionID]bool)}
	if err := parse(context.Background(), b, lines); err != nil {
		le, ok := errors.AsType[*LineError](err)
		if !ok || le.Line < 1 || le.Line > bytes.Count(data, []byte("\n"))+1 || !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is not a LineError for a line of the input", err)
		}
		return
	}
	var events, attempts int
	var out int64
	for _, bt := range b.batches {
		if len(bt.Key) == 0 || len(bt.Key) > abi.MaxBatchKey || bt.Empty() {
			t.Fatalf("batch with key %q (%d bytes), empty %v", bt.Key, len(bt.Key), bt.Empty())
		}
		for _, e := range bt.Events {
			if e.Session == "" || e.Kind == "" || !utf8.Valid(e.Payload) && len(e.Payload) > 0 {
				t.Fatalf("event %+v", e)
			}
		}
		for _, a := range bt.Attempts {
			if a.Session == "" || a.Provider == "" || a.Model == "" || a.Price == nil || a.EndedAt.Before(a.StartedAt) {
				t.Fatalf("attempt %+v", a)
			}
			out += int64(a.OutputTokens)
		}
		events += len(bt.Events)
		attempts += len(bt.Attempts)
	}
	if events != b.stats.Events || attempts != b.stats.Attempts || out != b.stats.OutputTokens {
		t.Fatalf("stats %+v for %d events and %d attempts with %d output tokens", b.stats, events, attempts, out)
	}
}

func addSeeds(f *testing.F, dir string) {
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

func FuzzClaudeCode(f *testing.F) {
	addSeeds(f, filepath.Join("testdata", "claude"))
	f.Add([]byte(`{"type":"assistant","sessionId":"s","timestamp":"2026-01-01T00:00:00Z","message":{"model":"m","usage":{"output_tokens":-1}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, data, parseClaudeCode) })
}

func FuzzCodex(f *testing.F) {
	addSeeds(f, filepath.Join("testdata", "codex"))
	f.Add([]byte(`{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s"}}` + "\n" +
		`{"timestamp":"2026-01-01T00:00:01Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5,"cached_input_tokens":9}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, data, parseCodex) })
}
