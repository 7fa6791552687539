package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

var batchT0 = time.Date(2026, 7, 2, 9, 0, 0, 0, time.UTC)

// testBatch is batch n of session sess: two events (a user message and a
// tool call), a tool intent and its outcome, an attempt costing
// attemptCost(0, n), and, for even n, a pin of sess.
func testBatch(key string, sess abi.SessionID, n int) abi.Batch {
	ts := batchT0.Add(time.Duration(n) * time.Second)
	call := fmt.Sprintf("call-%d", n)
	b := abi.Batch{
		Key: key,
		Events: []abi.EventEnvelope{
			{Session: sess, Turn: n, Kind: abi.KindUserMessage, TS: ts, Payload: json.RawMessage(fmt.Sprintf(`{"text":"message %d of %s"}`, n, sess))},
			{Session: sess, Turn: n, Kind: abi.KindToolCall, TS: ts.Add(time.Millisecond), Payload: json.RawMessage(fmt.Sprintf(`{"tool":"Read","n":%d}`, n))},
		},
		Intents:  []abi.ToolIntent{{Session: sess, Turn: n, CallID: call, Tool: "Read", Args: json.RawMessage(`{"path":"a.go"}`), StartedAt: ts}},
		Outcomes: []abi.ToolOutcome{{Session: sess, CallID: call, Status: "ok", Result: json.RawMessage(`"done"`), EndedAt: ts.Add(time.Second)}},
		Attempts: []abi.ProviderAttempt{testAttempt(string(sess), n, attemptCost(0, n), time.Duration(n)*time.Second)},
	}
	if n%2 == 0 {
		b.Pins = []abi.SessionID{sess}
	}
	return b
}

// batchCounts is what a store holds of one session.
type batchCounts struct{ events, intents, outcomes, attempts int }

func countSession(tb testing.TB, s *host.Store, sess abi.SessionID, turns int) batchCounts {
	tb.Helper()
	return countTurns(tb, s, sess, 0, turns)
}

// countTurns is countSession counting the attempts of turns from to
// to-1 only.
func countTurns(tb testing.TB, s *host.Store, sess abi.SessionID, from, to int) batchCounts {
	tb.Helper()
	ctx := context.Background()
	var c batchCounts
	c.events = len(allEvents(tb, s, sess))
	in, err := s.ToolIntents(ctx, sess)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := s.ToolOutcomes(ctx, sess)
	if err != nil {
		tb.Fatal(err)
	}
	c.intents, c.outcomes = len(in), len(out)
	for turn := from; turn < to; turn++ {
		as, err := s.AttemptsForTurn(ctx, string(sess), turn)
		if err != nil {
			tb.Fatal(err)
		}
		c.attempts += len(as)
	}
	return c
}

// TestWriteBatches writes batches of every kind of record, reads them
// back as the single-record methods store them, and writes them again:
// the keyed ones are skipped, the unkeyed one is written again.
func TestWriteBatches(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprint("encrypted=", enc), func(t *testing.T) {
			s, _ := openPlainStore(t)
			if enc {
				s, _ = openEncStore(t)
			}
			ctx := context.Background()
			batches := []abi.Batch{testBatch("k0", "a", 0), testBatch("k1", "a", 1), testBatch("", "b", 2), testBatch("k3", "b", 3)}
			n, err := s.WriteBatches(ctx, batches...)
			if err != nil || n != 4 {
				t.Fatalf("WriteBatches = %d, %v; want 4", n, err)
			}
			if got := countSession(t, s, "a", 4); got != (batchCounts{4, 2, 2, 2}) {
				t.Fatalf("session a holds %+v", got)
			}
			evs := allEvents(t, s, "a")
			for i, e := range evs {
				want := batches[i/2].Events[i%2]
				if e.Kind != want.Kind || e.Turn != want.Turn || !e.TS.Equal(want.TS) || string(e.Payload) != string(want.Payload) {
					t.Fatalf("event %d read back as %+v, want %+v", i, e, want)
				}
				if i > 0 && e.ID <= evs[i-1].ID {
					t.Fatalf("event IDs %d then %d: not in slice order", evs[i-1].ID, e.ID)
				}
			}
			ps := findSession(t, s, "a")
			if ps.Events != 4 || ps.ToolCalls != 2 || ps.FirstUserMessage != "message 0 of a" || !ps.Pinned {
				t.Fatalf("summary of a: %+v", ps)
			}
			in, err := s.ToolIntents(ctx, "a")
			if err != nil || len(in) != 2 || in[0].ArgsHash != host.HashArgs(json.RawMessage(`{"path":"a.go"}`)) {
				t.Fatalf("intents of a: %+v, %v", in, err)
			}
			got, err := s.AttemptsForTurn(ctx, "a", 1)
			if err != nil || len(got) != 1 || !sameAttempt(got[0], withID(batches[1].Attempts[0], got[0].ID)) {
				t.Fatalf("attempt of a/1: %+v, %v; want %+v", got, err, batches[1].Attempts[0])
			}

			// Again: the three keyed batches are skipped, the other is
			// written a second time.
			n, err = s.WriteBatches(ctx, batches...)
			if err != nil || n != 1 {
				t.Fatalf("WriteBatches again = %d, %v; want 1", n, err)
			}
			if got := countSession(t, s, "a", 4); got != (batchCounts{4, 2, 2, 2}) {
				t.Fatalf("session a holds %+v after a second write", got)
			}
			if got := countSession(t, s, "b", 4); got != (batchCounts{6, 2, 2, 3}) {
				t.Fatalf("session b holds %+v after a second write, want the unkeyed batch twice", got)
			}

			// The same key twice in one call: the second is skipped.
			n, err = s.WriteBatches(ctx, testBatch("k9", "c", 1), testBatch("k9", "c", 2), abi.Batch{Key: "empty"})
			if err != nil || n != 2 {
				t.Fatalf("WriteBatches with a repeated key = %d, %v; want 2", n, err)
			}
			if got := countSession(t, s, "c", 4); got != (batchCounts{2, 1, 1, 1}) {
				t.Fatalf("session c holds %+v", got)
			}
			if n, err := s.WriteBatches(ctx, abi.Batch{Key: "empty"}); err != nil || n != 0 {
				t.Fatalf("WriteBatches of a written empty batch = %d, %v; want 0", n, err)
			}
			if n, err := s.WriteBatches(ctx); err != nil || n != 0 {
				t.Fatalf("WriteBatches() = %d, %v", n, err)
			}
		})
	}
}

func withID(a abi.ProviderAttempt, id int64) abi.ProviderAttempt { a.ID = id; return a }

// TestWriteBatchesInvalid: a bad record or key anywhere in the call is a
// *BatchError naming it, matching ErrInvalidArgument and the record's own
// error, and nothing of the call is written; CheckBatches refuses the same
// call with the same error.
func TestWriteBatchesInvalid(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("x", 64)
	const small = 32 // the payload limit of the store of "payload too large"
	for _, tc := range []struct {
		name   string
		limit  int
		mutate func(b *abi.Batch)
		record string
		index  int
		is     error
	}{
		{"long key", 0, func(b *abi.Batch) { b.Key = strings.Repeat("k", abi.MaxBatchKey+1) }, "key", 0, host.ErrInvalidArgument},
		{"event session", 0, func(b *abi.Batch) { b.Events[1].Session = "" }, "event", 1, host.ErrEmptySession},
		{"event kind", 0, func(b *abi.Batch) { b.Events[0].Kind = "" }, "event", 0, host.ErrInvalidArgument},
		{"event payload", 0, func(b *abi.Batch) { b.Events[1].Payload = json.RawMessage(`{`) }, "event", 1, host.ErrInvalidPayload},
		{"payload too large", small, func(b *abi.Batch) { b.Events[0].Payload = json.RawMessage(`"` + big + `"`) }, "event", 0, host.ErrPayloadTooLarge},
		{"intent tool", 0, func(b *abi.Batch) { b.Intents[0].Tool = "" }, "intent", 0, host.ErrInvalidArgument},
		{"outcome status", 0, func(b *abi.Batch) { b.Outcomes[0].Status = "" }, "outcome", 0, host.ErrInvalidArgument},
		{"attempt reason", 0, func(b *abi.Batch) { b.Attempts[0].TerminatedReason = "nope" }, "attempt", 0, host.ErrInvalidArgument},
		{"attempt cost", 0, func(b *abi.Batch) { b.Attempts[0].EstimatedUSD = -1 }, "attempt", 0, host.ErrInvalidArgument},
		{"pin", 0, func(b *abi.Batch) { b.Pins = []abi.SessionID{"x", ""} }, "pin", 1, host.ErrEmptySession},
		{"event time", 0, func(b *abi.Batch) { b.Events[0].TS = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, "event", 0, host.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := host.Config{}
			if tc.limit > 0 {
				cfg = cfg.WithMaxPayloadSize(tc.limit)
			}
			s, err := host.OpenWithConfig(tempStorePath(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			bad := testBatch("bad", "bad", 1)
			tc.mutate(&bad)
			// CheckBatches refuses what WriteBatches refuses, with the same
			// error, and accepts the good batch.
			if err := s.CheckBatches(testBatch("good", "good", 0)); err != nil {
				t.Fatalf("CheckBatches of the good batch = %v", err)
			}
			cerr := s.CheckBatches(testBatch("good", "good", 0), bad)
			var ce *host.BatchError
			if !errors.As(cerr, &ce) || !errors.Is(cerr, tc.is) || ce.Batch != 1 || ce.Record != tc.record || ce.Index != tc.index {
				t.Fatalf("CheckBatches = %v; want a BatchError on batch 1, %s %d, matching %v", cerr, tc.record, tc.index, tc.is)
			}
			n, err := s.WriteBatches(ctx, testBatch("good", "good", 0), bad)
			var be *host.BatchError
			if n != 0 || !errors.As(err, &be) || !errors.Is(err, host.ErrInvalidArgument) || !errors.Is(err, tc.is) {
				t.Fatalf("WriteBatches = %d, %v; want a BatchError matching ErrInvalidArgument and %v", n, err, tc.is)
			}
			if be.Batch != 1 || be.Record != tc.record || be.Index != tc.index {
				t.Fatalf("BatchError names batch %d, %s %d; want batch 1, %s %d", be.Batch, be.Record, be.Index, tc.record, tc.index)
			}
			if !strings.Contains(err.Error(), "batch 1: "+tc.record) {
				t.Fatalf("error %q does not name batch 1 and the %s", err, tc.record)
			}
			for _, sess := range []abi.SessionID{"good", "bad"} {
				if got := countSession(t, s, sess, 2); got != (batchCounts{}) {
					t.Fatalf("session %s holds %+v after a refused call", sess, got)
				}
			}
			// The good batch's key was not recorded either.
			if n, err := s.WriteBatches(ctx, testBatch("good", "good", 0)); err != nil || n != 1 {
				t.Fatalf("WriteBatches of the good batch alone = %d, %v; want 1", n, err)
			}
		})
	}
}

// TestWriteBatchesCanceled: a canceled context writes nothing.
func TestWriteBatchesCanceled(t *testing.T) {
	s, _ := openPlainStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := s.WriteBatches(ctx, testBatch("k", "a", 0)); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteBatches = %d, %v; want context.Canceled", n, err)
	}
	if got := countSession(t, s, "a", 1); got != (batchCounts{}) {
		t.Fatalf("session holds %+v", got)
	}
	if n, err := s.WriteBatches(context.Background(), testBatch("k", "a", 0)); n != 1 || err != nil {
		t.Fatalf("WriteBatches after = %d, %v; want 1", n, err)
	}
}

// TestWriteBatchesClosed: a closed store returns ErrClosed.
func TestWriteBatchesClosed(t *testing.T) {
	s, err := host.Open(tempStorePath(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.WriteBatches(context.Background(), testBatch("k", "a", 0)); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("WriteBatches after Close: %v, want ErrClosed", err)
	}
}

// TestWriteBatchesSameAsSingle records the same records through the
// single-record methods and through WriteBatches, into a store that
// redacts (the default redactor) and prices (a price table): they read
// back the same, secrets redacted, large payloads compressed, attempts
// priced alike (one unpriced), and the session summaries agree.
func TestWriteBatchesSameAsSingle(t *testing.T) {
	ctx := context.Background()
	s := openPricedStore(t, tempStorePath(t), loadTestPrices(t))
	secret := fakeOpenAIKey(7)
	records := func(sess abi.SessionID) abi.Batch {
		ts := batchT0
		return abi.Batch{
			Events: []abi.EventEnvelope{
				{Session: sess, Turn: 1, Kind: abi.KindUserMessage, TS: ts, Payload: json.RawMessage(`{"text":"use ` + secret + ` please"}`)},
				{Session: sess, Turn: 1, Kind: abi.KindAssistantMessage, TS: ts.Add(time.Second), Payload: json.RawMessage(jsonString(strings.Repeat("compressible text ", 100)))},
				{Session: sess, Turn: 2, Kind: abi.KindToolCall, TS: ts.Add(2 * time.Second), Payload: nil},
			},
			Intents:  []abi.ToolIntent{{Session: sess, Turn: 2, CallID: "c1", Tool: "Bash", Args: json.RawMessage(`{"env":"KEY=` + secret + `"}`), StartedAt: ts}},
			Outcomes: []abi.ToolOutcome{{Session: sess, CallID: "c1", Status: "error", Result: json.RawMessage(`{"out":"` + secret + `"}`), Error: "bad " + secret, EndedAt: ts}},
			Attempts: []abi.ProviderAttempt{
				unpricedAttempt(string(sess), 1, "claude-sonnet-4-5", 1000, 500, 2000, 400),
				unpricedAttempt(string(sess), 2, "no-such-model", 10, 10, 0, 0),
			},
			Pins: []abi.SessionID{sess},
		}
	}
	one := records("one")
	for _, e := range one.Events {
		mustAppend(t, s, e)
	}
	if err := s.RecordToolIntent(ctx, one.Intents[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordToolOutcome(ctx, one.Outcomes[0]); err != nil {
		t.Fatal(err)
	}
	for _, a := range one.Attempts {
		mustRecord(t, s, a)
	}
	if err := s.Pin(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.WriteBatches(ctx, records("batch")); err != nil || n != 1 {
		t.Fatalf("WriteBatches = %d, %v", n, err)
	}

	type view struct {
		Events   []abi.EventEnvelope
		Intents  []abi.ToolIntent
		Outcomes []abi.ToolOutcome
		Attempts []abi.ProviderAttempt
		Summary  abi.PastSession
	}
	read := func(sess abi.SessionID) view {
		var v view
		v.Events = allEvents(t, s, sess)
		var err error
		if v.Intents, err = s.ToolIntents(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if v.Outcomes, err = s.ToolOutcomes(ctx, sess); err != nil {
			t.Fatal(err)
		}
		for turn := range 3 {
			as, err := s.AttemptsForTurn(ctx, string(sess), turn)
			if err != nil {
				t.Fatal(err)
			}
			v.Attempts = append(v.Attempts, as...)
		}
		v.Summary = findSession(t, s, sess)
		// What differs by construction: the session, and IDs.
		for i := range v.Events {
			v.Events[i].ID, v.Events[i].Session = 0, ""
		}
		for i := range v.Intents {
			v.Intents[i].Session = ""
		}
		for i := range v.Outcomes {
			v.Outcomes[i].Session = ""
		}
		for i := range v.Attempts {
			v.Attempts[i].ID, v.Attempts[i].Session = 0, ""
		}
		v.Summary.ID = ""
		return v
	}
	a, b := read("one"), read("batch")
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("WriteBatches stored\n%s\nthe single-record methods\n%s", jb, ja)
	}
	if strings.Contains(string(jb), secret) {
		t.Fatalf("the secret was not redacted: %s", jb)
	}
	if len(b.Attempts) != 2 || b.Attempts[0].Price == nil || b.Attempts[0].EstimatedUSD == 0 || !b.Attempts[1].Price.Unpriced() {
		t.Fatalf("attempts not priced as expected: %s", describe(b.Attempts[0]))
	}
	if !b.Summary.Pinned || b.Summary.Events != 3 || b.Summary.ToolCalls != 1 {
		t.Fatalf("summary %+v", b.Summary)
	}
}
