package jsonl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/jsonl"
)

func init() { proc.Dispatch() }

// perRecord hides the WriteBatches method of a destination, so that
// Import writes into it record by record.
type perRecord struct{ jsonl.Destination }

var (
	_ jsonl.BatchDestination = (*host.Store)(nil)
	_ jsonl.BatchDestination = (*host.MonthlyRollover)(nil)
	_ jsonl.Destination      = (*host.Store)(nil)
	_ jsonl.Destination      = (*host.MonthlyRollover)(nil)
	_ jsonl.Source           = (*host.Store)(nil)
	_ jsonl.Source           = (*host.MonthlyRollover)(nil)
)

// testKey is the fixed data key of the encrypted stores in these tests;
// a test constant, not a secret.
var testKey = bytes.Repeat([]byte{0x3c}, 32)

func openStore(tb testing.TB, path string) *host.Store {
	tb.Helper()
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, testKey)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func newStore(tb testing.TB) (*host.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "sessions.db")
	return openStore(tb, path), path
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func nanos(n abi.NanoUSD) *abi.NanoUSD { return &n }

// record writes a small but complete session through the Store API:
// events of every kind (a payload that is not compact, a JSON null, HTML
// characters, a nanosecond timestamp), answered and orphaned tool calls,
// a retried provider call with a price snapshot, and a pin.
func record(tb testing.TB, s *host.Store, sess abi.SessionID) {
	tb.Helper()
	ctx := context.Background()
	evs := []abi.EventEnvelope{
		{Turn: 0, Kind: abi.KindSystem, TS: at(0), Payload: json.RawMessage(`{"text": "You are a coding agent.",  "tools": ["Read", "Bash"]}`)},
		{Turn: 1, Kind: abi.KindUserMessage, TS: at(time.Second + 7), Payload: json.RawMessage(`{"text":"fix <main.go> & run tests"}`)},
		{Turn: 1, Kind: abi.KindToolCall, TS: at(2 * time.Second), Payload: json.RawMessage(`{"call_id":"c1","tool":"Read","args":{"path":"main.go"}}`)},
		{Turn: 1, Kind: abi.KindToolResult, TS: at(3 * time.Second), Payload: json.RawMessage(`{"call_id":"c1","content":"package main\n"}`)},
		{Turn: 1, Kind: abi.KindToolCall, TS: at(4 * time.Second), Payload: json.RawMessage(`{"call_id":"c2","tool":"Bash","args":{"cmd":"go test ./..."}}`)},
		{Turn: 1, Kind: "harness_note", TS: at(5 * time.Second), Payload: json.RawMessage(`null`)},
		{Turn: 2, Kind: abi.KindAssistantMessage, TS: at(6 * time.Second), Payload: json.RawMessage(`"done"`)},
	}
	for _, e := range evs {
		e.Session = sess
		if _, err := s.Append(ctx, e); err != nil {
			tb.Fatal(err)
		}
	}
	for _, in := range []abi.ToolIntent{
		{Turn: 1, CallID: "c1", Tool: "Read", Args: json.RawMessage(`{"path":"main.go"}`), StartedAt: at(2 * time.Second)},
		{Turn: 1, CallID: "c2", Tool: "Bash", Args: json.RawMessage(`{"cmd":"go test ./..."}`), StartedAt: at(4 * time.Second)},
	} {
		in.Session = sess
		if err := s.RecordToolIntent(ctx, in); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: sess, CallID: "c1", Status: abi.StatusOK,
		Result: json.RawMessage(`{"content":"package main\n"}`), EndedAt: at(3 * time.Second)}); err != nil {
		tb.Fatal(err)
	}
	for _, a := range []abi.ProviderAttempt{
		{Turn: 1, Provider: "anthropic", Model: "claude-sonnet-4-5", StartedAt: at(time.Second), EndedAt: at(time.Second + 400*time.Millisecond),
			TerminatedReason: abi.AttemptHTTPError},
		{Turn: 1, Provider: "anthropic", Model: "claude-sonnet-4-5", RequestID: "req_011", StartedAt: at(1500 * time.Millisecond), EndedAt: at(2 * time.Second),
			TerminatedReason: abi.AttemptComplete, InputTokens: 1200, OutputTokens: 80, CacheReadTokens: 9000, CacheWriteTokens: 300, CacheWrite1hTokens: 2000,
			EstimatedUSD: 0.017313, Price: &abi.AttemptPrice{Source: "test prices 2026-11-01", Input: nanos(3e9), Output: nanos(15e9),
				CacheRead: nanos(3e8), CacheWrite: nanos(375e7), CacheWrite1h: nanos(6e9)}},
	} {
		a.Session = string(sess)
		if _, err := s.RecordAttempt(ctx, a); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Pin(ctx, sess); err != nil {
		tb.Fatal(err)
	}
}

func export(tb testing.TB, src jsonl.Source, sessions ...abi.SessionID) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := jsonl.Export(context.Background(), src, &buf, sessions...); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestRoundTrip exports two sessions, imports them into a fresh store and
// exports that: the two files are byte-identical, and the import stored
// what the file says.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, _ := newStore(t)
	// Another session first, so the exported IDs are renumbered.
	if _, err := a.Append(ctx, abi.EventEnvelope{Session: "noise", Kind: abi.KindSystem, TS: t0, Payload: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	record(t, a, "s2")
	record(t, a, "s1")
	first := export(t, a, "s2", "s1", "s2")
	lines := strings.Split(strings.TrimSuffix(string(first), "\n"), "\n")
	if lines[0] != `{"type":"header","format":"gofastr-jsonl","version":1}` {
		t.Fatalf("header %s", lines[0])
	}
	if want := 1 + 2*(7+2+1+2+1); len(lines) != want {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), want, first)
	}
	for _, want := range []string{
		`{"type":"event","event":{"id":1,"session":"s2","turn":0,"kind":"system","ts":"2026-11-02T09:00:00Z","payload":{"text":"You are a coding agent.","tools":["Read","Bash"]}}}`,
		`{"type":"event","event":{"id":2,"session":"s2","turn":1,"kind":"user_message","ts":"2026-11-02T09:00:01.000000007Z","payload":{"text":"fix <main.go> & run tests"}}}`,
		`{"type":"event","event":{"id":6,"session":"s2","turn":1,"kind":"harness_note","ts":"2026-11-02T09:00:05Z","payload":null}}`,
		`{"type":"attempt","attempt":{"id":3,"session":"s1",`,
		`{"type":"pin","session":"s1"}`,
	} {
		if !bytes.Contains(first, []byte(want)) {
			t.Errorf("export lacks %s\n%s", want, first)
		}
	}

	b, _ := newStore(t)
	st, err := jsonl.Import(ctx, b, bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if want := (jsonl.Stats{Events: 14, ToolIntents: 4, ToolOutcomes: 2, Attempts: 4, Pins: 2}); st != want {
		t.Errorf("import stats %+v, want %+v", st, want)
	}
	second := export(t, b, "s2", "s1")
	if !bytes.Equal(first, second) {
		t.Fatalf("export after import differs:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	// Exporting everything lists sessions by ID.
	all := export(t, b)
	if !strings.Contains(strings.SplitN(string(all), "\n", 3)[1], `"session":"s1"`) {
		t.Errorf("export of every session does not start with s1:\n%s", all)
	}
	orphans, err := b.OrphanIntents(ctx, "s1")
	if err != nil || len(orphans) != 1 || orphans[0].CallID != "c2" {
		t.Errorf("orphans after import %+v, %v; want c2", orphans, err)
	}
	atts, err := b.AttemptsForTurn(ctx, "s1", 1)
	if err != nil || len(atts) != 2 || atts[1].CacheWrite1hTokens != 2000 || atts[1].Price == nil || *atts[1].Price.CacheWrite1h != 6e9 {
		t.Errorf("attempts after import %+v, %v", atts, err)
	}
}

// TestDroppedPayload reads an event without a payload: Import stores it
// with a null payload and counts it; Export writes a nil payload without
// the field.
func TestDroppedPayload(t *testing.T) {
	in := "{\"type\":\"header\",\"format\":\"gofastr-jsonl\",\"version\":1}\r\n" +
		`{"type":"event","event":{"id":7,"session":"d","turn":3,"kind":"tool_result","ts":"2026-11-02T09:00:00Z"}}` // no final newline
	rd := jsonl.NewReader(strings.NewReader(in))
	rec, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if rec.Event == nil || rec.Event.Payload != nil {
		t.Fatalf("record %+v: want an event with a nil payload", rec)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
	var out bytes.Buffer
	w := jsonl.NewWriter(&out)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(in, "\r", "") + "\n"; out.String() != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", out.String(), want)
	}
	s, _ := newStore(t)
	st, err := jsonl.Import(context.Background(), s, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 1 || st.DroppedPayloads != 1 {
		t.Errorf("stats %+v, want one event with a dropped payload", st)
	}
	evs, err := s.EventsSince(context.Background(), "d", 0, 0)
	if err != nil || len(evs) != 1 || string(evs[0].Payload) != "null" || evs[0].Turn != 3 || evs[0].Kind != abi.KindToolResult {
		t.Errorf("stored %+v, %v; want the event with payload null", evs, err)
	}
}

// TestWriterRefuses checks that a Writer writes nothing a Reader would
// refuse, and that an empty Writer writes the header.
func TestWriterRefuses(t *testing.T) {
	ev := &abi.EventEnvelope{Session: "s", Kind: "k", TS: t0}
	for name, rec := range map[string]jsonl.Record{
		"unknown type":    {Type: "comment", Session: "s"},
		"zero ts":         {Type: jsonl.TypeEvent, Event: &abi.EventEnvelope{Session: "s", Kind: "k"}},
		"two fields":      {Type: jsonl.TypeEvent, Event: ev, Session: "s"},
		"missing field":   {Type: jsonl.TypeAttempt},
		"empty kind":      {Type: jsonl.TypeEvent, Event: &abi.EventEnvelope{Session: "s", TS: t0}},
		"intent no tool":  {Type: jsonl.TypeToolIntent, Intent: &abi.ToolIntent{Session: "s", CallID: "c", StartedAt: t0}},
		"outcome no time": {Type: jsonl.TypeToolOutcome, Outcome: &abi.ToolOutcome{Session: "s", CallID: "c", Status: "ok"}},
		"bad payload":     {Type: jsonl.TypeEvent, Event: &abi.EventEnvelope{Session: "s", Kind: "k", TS: t0, Payload: json.RawMessage(`{`)}},
	} {
		var out bytes.Buffer
		w := jsonl.NewWriter(&out)
		err := w.Write(rec)
		if !errors.Is(err, jsonl.ErrInvalidRecord) && !errors.Is(err, jsonl.ErrUnknownType) {
			t.Errorf("%s: Write = %v, want ErrInvalidRecord or ErrUnknownType", name, err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != `{"type":"header","format":"gofastr-jsonl","version":1}`+"\n" {
			t.Errorf("%s: wrote %q, want the header only", name, out.String())
		}
	}
}

const header = `{"type":"header","format":"gofastr-jsonl","version":1}` + "\n"

const goodEvent = `{"type":"event","event":{"id":1,"session":"s","turn":1,"kind":"user_message","ts":"2026-11-02T09:00:00Z","payload":"hi"}}` + "\n"

// TestReaderErrors feeds bad inputs and checks the error and the line it
// names.
func TestReaderErrors(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     error
		line     int
	}{
		{"empty", "", jsonl.ErrHeader, 1},
		{"no header", goodEvent, jsonl.ErrHeader, 1},
		{"wrong format", `{"type":"header","format":"other","version":1}` + "\n", jsonl.ErrHeader, 1},
		{"header without version", `{"type":"header","format":"gofastr-jsonl"}` + "\n", jsonl.ErrHeader, 1},
		{"version 2", `{"type":"header","format":"gofastr-jsonl","version":2}` + "\n", jsonl.ErrVersion, 1},
		{"header extra field", `{"type":"header","format":"gofastr-jsonl","version":1,"x":1}` + "\n", jsonl.ErrInvalidRecord, 1},
		{"second header", header + goodEvent + header, jsonl.ErrHeader, 3},
		{"blank line", header + "\n" + goodEvent, jsonl.ErrSyntax, 2},
		{"truncated", header + goodEvent[:40], jsonl.ErrSyntax, 2},
		{"trailing data", header + strings.TrimSuffix(goodEvent, "\n") + " {}\n", jsonl.ErrSyntax, 2},
		{"not an object", header + "[1]\n", jsonl.ErrInvalidRecord, 2},
		{"bad utf-8", header + `{"type":"pin","session":"` + "\xff" + `"}` + "\n", jsonl.ErrSyntax, 2},
		{"unknown type", header + `{"type":"comment"}` + "\n", jsonl.ErrUnknownType, 2},
		{"unknown field", header + `{"type":"pin","session":"s","note":1}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"unknown inner field", header + `{"type":"event","event":{"session":"s","kind":"k","ts":"2026-11-02T09:00:00Z","extra":1}}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"wrong field for type", header + `{"type":"pin","event":{"session":"s","kind":"k","ts":"2026-11-02T09:00:00Z"}}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"two record fields", header + `{"type":"pin","session":"s","attempt":{}}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"null event", header + `{"type":"event","event":null}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"zero ts", header + `{"type":"event","event":{"session":"s","kind":"k"}}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"bad ts", header + `{"type":"event","event":{"session":"s","kind":"k","ts":"yesterday"}}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"turn as string", header + `{"type":"event","event":{"session":"s","kind":"k","turn":"1","ts":"2026-11-02T09:00:00Z"}}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"empty pin", header + `{"type":"pin","session":""}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"version in record", header + `{"type":"pin","session":"s","version":1}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"attempt no model", header + `{"type":"attempt","attempt":{"session":"s","provider":"p","terminated_reason":"complete","started_at":"2026-11-02T09:00:00Z","ended_at":"2026-11-02T09:00:00Z"}}` + "\n", jsonl.ErrInvalidRecord, 2},
		{"long line", header + goodEvent + `{"type":"pin","session":"` + strings.Repeat("x", 300) + `"}` + "\n", jsonl.ErrLineTooLong, 3},
		{"long last line", header + `{"type":"pin","session":"` + strings.Repeat("x", 300) + `"}`, jsonl.ErrLineTooLong, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			rd := jsonl.NewReaderSize(strings.NewReader(c.in), 200)
			var err error
			for err == nil {
				_, err = rd.Next()
			}
			var le *jsonl.LineError
			if !errors.As(err, &le) || !errors.Is(err, c.want) || le.Line != c.line {
				t.Fatalf("error %v, want %v on line %d", err, c.want, c.line)
			}
			if !strings.HasPrefix(err.Error(), "jsonl: line ") {
				t.Errorf("message %q does not name the line first", err)
			}
			if _, again := rd.Next(); again != err {
				t.Errorf("next call returned %v, want the same error", again)
			}
		})
	}
}

// TestImportStopsAtBadLine imports the records before a bad line, none
// after, and names the line; a record the store refuses is reported the
// same way.
func TestImportStopsAtBadLine(t *testing.T) {
	ctx := context.Background()
	ev := func(turn int) string {
		return `{"type":"event","event":{"id":1,"session":"s","turn":` + string(rune('0'+turn)) + `,"kind":"user_message","ts":"2026-11-02T09:00:00Z","payload":"hi"}}` + "\n"
	}
	for _, c := range []struct {
		name, bad string
		want      error
	}{
		{"syntax", `{"type":"event",` + "\n", jsonl.ErrSyntax},
		{"store refuses", `{"type":"attempt","attempt":{"session":"s","provider":"p","model":"m","terminated_reason":"exploded","started_at":"2026-11-02T09:00:00Z","ended_at":"2026-11-02T09:00:00Z"}}` + "\n", host.ErrInvalidArgument},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newStore(t)
			in := header + ev(1) + ev(2) + c.bad + ev(3)
			st, err := jsonl.Import(ctx, perRecord{s}, strings.NewReader(in))
			var le *jsonl.LineError
			if !errors.Is(err, c.want) || !errors.As(err, &le) || le.Line != 4 {
				t.Fatalf("Import = %v, want %v on line 4", err, c.want)
			}
			if st.Events != 2 || st.Attempts != 0 {
				t.Errorf("stats %+v, want the 2 events before the bad line", st)
			}
			evs, err := s.EventsSince(ctx, "s", 0, 0)
			if err != nil || len(evs) != 2 || evs[1].Turn != 2 {
				t.Errorf("stored %+v, %v; want turns 1 and 2 only", evs, err)
			}
		})
		// Into a BatchDestination, in one transaction: nothing is
		// written, and the line is named all the same.
		t.Run(c.name+"/batched", func(t *testing.T) {
			s, _ := newStore(t)
			in := header + ev(1) + ev(2) + c.bad + ev(3)
			st, err := jsonl.Import(ctx, s, strings.NewReader(in))
			var le *jsonl.LineError
			if !errors.Is(err, c.want) || !errors.As(err, &le) || le.Line != 4 {
				t.Fatalf("Import = %v, want %v on line 4", err, c.want)
			}
			if st != (jsonl.Stats{}) {
				t.Errorf("stats %+v, want none", st)
			}
			if evs, err := s.EventsSince(ctx, "s", 0, 0); err != nil || len(evs) != 0 {
				t.Errorf("stored %+v, %v; want nothing", evs, err)
			}
		})
	}
	s, _ := newStore(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, dst := range []jsonl.Destination{s, perRecord{s}} {
		if _, err := jsonl.Import(cctx, dst, strings.NewReader(header+ev(1))); !errors.Is(err, context.Canceled) {
			t.Errorf("Import into %T with a canceled context = %v", dst, err)
		}
	}
}

// FuzzReader feeds arbitrary input to a Reader: it never panics, stops
// with io.EOF or a LineError, and every record it returns is written back
// by a Writer and read again as the same record.
func FuzzReader(f *testing.F) {
	f.Add([]byte(header + goodEvent))
	f.Add([]byte(header + `{"type":"pin","session":"s"}` + "\n"))
	f.Add([]byte(header + `{"type":"tool_outcome","tool_outcome":{"session":"s","call_id":"c","status":"ok","result":{"a":[1,2]},"ended_at":"2026-11-02T09:00:00.5+02:00"}}`))
	f.Add([]byte(header + `{"type":"attempt","attempt":{"session":"s","provider":"p","model":"m","terminated_reason":"complete","started_at":"2026-11-02T09:00:00Z","ended_at":"2026-11-02T09:00:00Z","price":{"source":"x","input_per_mtok":3}}}`))
	f.Add([]byte(header + `{"type":"tool_intent","tool_intent":{"session":"s","turn":1,"call_id":"c","tool":"t","args_hash":"ab","args":null,"started_at":"2026-11-02T09:00:00Z"}}`))
	f.Add([]byte("\xff\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := jsonl.NewReaderSize(bytes.NewReader(in), 4096)
		for n := 0; ; n++ {
			rec, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var le *jsonl.LineError
				if !errors.As(err, &le) || le.Line < 1 {
					t.Fatalf("error %v is not a LineError with a line", err)
				}
				return
			}
			var buf bytes.Buffer
			w := jsonl.NewWriter(&buf)
			if err := w.Write(rec); err != nil {
				t.Fatalf("record %d read but not written: %v", n, err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			again, err := jsonl.NewReader(bytes.NewReader(buf.Bytes())).Next()
			if err != nil {
				t.Fatalf("record %d written as %q, not read back: %v", n, buf.String(), err)
			}
			var b2 bytes.Buffer
			w2 := jsonl.NewWriter(&b2)
			if err := w2.Write(again); err != nil {
				t.Fatal(err)
			}
			w2.Flush()
			if !bytes.Equal(buf.Bytes(), b2.Bytes()) {
				t.Fatalf("record %d not stable:\n%s\n%s", n, buf.Bytes(), b2.Bytes())
			}
		}
	})
}

// TestDocExample imports the example of docs/JSONL.md, which must stay a
// valid file, and checks what it stored.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "JSONL.md"))
	if err != nil {
		t.Skipf("skipping: docs/JSONL.md not found beside the package: %v", err)
	}
	_, ex, ok := strings.Cut(string(doc), "## Example\n\n```json\n")
	if !ok {
		t.Fatal("docs/JSONL.md has no json block under ## Example")
	}
	ex, _, _ = strings.Cut(ex, "```")
	s, _ := newStore(t)
	st, err := jsonl.Import(context.Background(), s, strings.NewReader(ex))
	if err != nil {
		t.Fatal(err)
	}
	if want := (jsonl.Stats{Events: 3, ToolIntents: 1, ToolOutcomes: 1, Attempts: 1, Pins: 1}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if got := export(t, s); !bytes.Equal(got, []byte(ex)) {
		t.Errorf("the example is not in Export's form; export after import:\n%s", got)
	}
}

// TestWriterRefusesBadUTF8 checks that a record the JSON encoder would
// alter (invalid UTF-8 in a string or a payload) is refused.
func TestWriterRefusesBadUTF8(t *testing.T) {
	for name, rec := range map[string]jsonl.Record{
		"session": {Type: jsonl.TypePin, Session: "s\xff"},
		"tool":    {Type: jsonl.TypeToolIntent, Intent: &abi.ToolIntent{Session: "s", CallID: "c", Tool: "T\xfe", StartedAt: t0}},
		"source": {Type: jsonl.TypeAttempt, Attempt: &abi.ProviderAttempt{Session: "s", Provider: "p", Model: "m", TerminatedReason: "complete",
			StartedAt: t0, EndedAt: t0, Price: &abi.AttemptPrice{Source: "\xc3"}}},
		"payload": {Type: jsonl.TypeEvent, Event: &abi.EventEnvelope{Session: "s", Kind: "k", TS: t0, Payload: json.RawMessage("\"\xff\"")}},
	} {
		var out bytes.Buffer
		if err := jsonl.NewWriter(&out).Write(rec); !errors.Is(err, jsonl.ErrInvalidRecord) {
			t.Errorf("%s: Write = %v, want ErrInvalidRecord", name, err)
		}
	}
}

// TestRolloverRoundTrip imports into a MonthlyRollover and exports from
// it: the same bytes.
func TestRolloverRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, _ := newStore(t)
	record(t, a, "r")
	file := export(t, a, "r")
	m, err := host.NewMonthlyRolloverWithConfig(t.TempDir(), host.NewConfig().WithKey(testKey))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := jsonl.Import(ctx, m, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	if got := export(t, m, "r"); !bytes.Equal(got, file) {
		t.Fatalf("rollover export differs:\n%s\nwant:\n%s", got, file)
	}
}

// TestFieldSets pins the fields of every record's object: the form is
// versioned, and a field added to an abi type changes what a version 1
// reader accepts. When this test fails, document the field in
// docs/JSONL.md and decide whether the form needs a new Version.
func TestFieldSets(t *testing.T) {
	p := abi.NanoUSD(1)
	for name, c := range map[string]struct {
		v    any
		want string
	}{
		"event":        {abi.EventEnvelope{Payload: json.RawMessage(`1`)}, "id session turn kind ts payload"},
		"tool_intent":  {abi.ToolIntent{Args: json.RawMessage(`1`)}, "session turn call_id tool args_hash args started_at"},
		"tool_outcome": {abi.ToolOutcome{Result: json.RawMessage(`1`), Error: "e"}, "session call_id status result error ended_at"},
		"attempt": {abi.ProviderAttempt{RequestID: "r", Price: &abi.AttemptPrice{}}, "id session turn provider model request_id started_at ended_at terminated_reason " +
			"input_tokens output_tokens cache_read_tokens cache_write_tokens cache_write_1h_tokens estimated_usd price"},
		"price": {abi.AttemptPrice{Input: &p, Output: &p, CacheRead: &p, CacheWrite: &p, CacheWrite1h: &p},
			"source input_per_mtok output_per_mtok cache_read_per_mtok cache_write_per_mtok cache_write_1h_per_mtok"},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.Token() // {
		var keys []string
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		if got := strings.Join(keys, " "); got != c.want {
			t.Errorf("%s fields:\n got %s\nwant %s", name, got, c.want)
		}
	}
}
