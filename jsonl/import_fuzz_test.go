package jsonl_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/jsonl"
)

// fuzzMarker is planted in seeds of the store-backed fuzz target and
// looked for in the store's files.
const fuzzMarker = "gofastr-marker-fuzz5e1f0a7c93b2"

// FuzzImport imports arbitrary input into an encrypted store (one store
// for the whole run, as a long-lived destination is), through the keyed
// batch path. Invariants: Import returns nil or a *LineError with a line;
// when it fails, the sessions the input names are exactly as they were
// (the input is checked whole before anything is written); when it
// succeeds, its counts are the input's records, importing the same input
// again writes nothing (every record is skipped under its key) and leaves
// the sessions as they were, and what the store then holds exports in a
// form the Reader reads back. An input carrying fuzzMarker (the seeds do)
// leaves no trace of it, raw, reversed or in hex, in any file of the store:
// nothing is written in plaintext.
func FuzzImport(f *testing.F) {
	f.Add([]byte(header + goodEvent))
	f.Add([]byte(header + `{"type":"event","event":{"session":"m","turn":1,"kind":"user_message","ts":"2026-11-02T09:00:00Z","payload":{"text":"` + fuzzMarker + `"}}}` + "\n" +
		`{"type":"tool_intent","tool_intent":{"session":"m","turn":1,"call_id":"` + fuzzMarker + `","tool":"t","args_hash":"ab","args":{"cmd":"` + fuzzMarker + `"},"started_at":"2026-11-02T09:00:00Z"}}` + "\n"))
	f.Add([]byte(header + goodEvent + goodEvent))
	f.Add([]byte(header + `{"type":"pin","session":"s"}` + "\n"))
	f.Add([]byte(header + `{"type":"tool_intent","tool_intent":{"session":"s","turn":1,"call_id":"c","tool":"t","args_hash":"ab","args":{"cmd":"ls"},"started_at":"2026-11-02T09:00:00Z"}}` + "\n" +
		`{"type":"tool_outcome","tool_outcome":{"session":"s","call_id":"c","status":"ok","result":{"a":[1,2]},"ended_at":"2026-11-02T09:00:00.5+02:00"}}` + "\n"))
	f.Add([]byte(header + `{"type":"attempt","attempt":{"session":"s","turn":1,"provider":"p","model":"m","terminated_reason":"complete","started_at":"2026-11-02T09:00:00Z","ended_at":"2026-11-02T09:00:00Z","price":{"source":"x","input_per_mtok":3}}}` + "\n"))
	f.Add([]byte(header + `{"type":"event","event":{"session":"s2","turn":1,"kind":"tool_result","ts":"2026-11-02T09:00:00Z","payload":{"out":"Authorization: Bearer Zm9vYmFyMTIzNDU2Nzg5MGFi"}}}` + "\n"))
	f.Add([]byte(header + `{"type":"event","event":{"session":"","turn":-1,"kind":"","ts":"0001-01-01T00:00:00Z"}}` + "\n"))
	s, path := newStore(f)
	dir := filepath.Dir(path)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64<<10 {
			t.Skip("input over 64 KiB: too large to be cheap")
		}
		// What the input holds, as the Reader sees it.
		var want jsonl.Stats
		var sessions []abi.SessionID
		readErr := error(nil)
		rd := jsonl.NewReader(bytes.NewReader(in))
		for {
			rec, err := rd.Next()
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				break
			}
			switch rec.Type {
			case jsonl.TypeEvent:
				want.Events++
				sessions = append(sessions, rec.Event.Session)
			case jsonl.TypeToolIntent:
				want.ToolIntents++
				sessions = append(sessions, rec.Intent.Session)
			case jsonl.TypeToolOutcome:
				want.ToolOutcomes++
				sessions = append(sessions, rec.Outcome.Session)
			case jsonl.TypeAttempt:
				want.Attempts++
				sessions = append(sessions, abi.SessionID(rec.Attempt.Session))
			case jsonl.TypePin:
				want.Pins++
				sessions = append(sessions, rec.Session)
			}
		}
		slices.Sort(sessions)
		sessions = slices.Compact(sessions)
		snapshot := func() []byte {
			if len(sessions) == 0 {
				return nil
			}
			var buf bytes.Buffer
			if _, err := jsonl.Export(ctx, s, &buf, sessions...); err != nil {
				t.Fatalf("export of %q: %v", sessions, err)
			}
			return buf.Bytes()
		}
		before := snapshot()
		st, err := jsonl.Import(ctx, s, bytes.NewReader(in))
		if err != nil {
			var le *jsonl.LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("Import error %v (%T) is not a *LineError with a line", err, err)
			}
			if after := snapshot(); !bytes.Equal(before, after) {
				t.Fatalf("failed import (%v) changed the store:\nbefore:\n%s\nafter:\n%s", err, before, after)
			}
			return
		}
		if readErr != nil {
			t.Fatalf("Import accepted input the Reader refuses (%v)", readErr)
		}
		got := st
		got.Skipped, got.DroppedPayloads = 0, 0
		if got != want {
			t.Fatalf("Import stats %+v, input holds %+v", st, want)
		}
		if bytes.Contains(in, []byte(fuzzMarker)) {
			if hits, _ := storefiles.Scan(t, []byte(fuzzMarker), dir); len(hits) > 0 {
				t.Fatalf("plaintext of the input in the store's files: %q", hits)
			}
		}
		after := snapshot()
		again, err := jsonl.Import(ctx, s, bytes.NewReader(in))
		if err != nil {
			t.Fatalf("second import of accepted input: %v", err)
		}
		if n := want.Events + want.ToolIntents + want.ToolOutcomes + want.Attempts + want.Pins; again.Skipped != n {
			t.Fatalf("second import skipped %d of %d records (stats %+v)", again.Skipped, n, again)
		}
		if twice := snapshot(); !bytes.Equal(after, twice) {
			t.Fatalf("second import changed the store:\nafter one:\n%s\nafter two:\n%s", after, twice)
		}
		if len(sessions) == 0 {
			return
		}
		rd = jsonl.NewReader(bytes.NewReader(after))
		for {
			if _, err := rd.Next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("the store's export does not read back: %v\n%s", err, after)
			}
		}
	})
}
