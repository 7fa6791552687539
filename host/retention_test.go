package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
)

func TestPinPersists(t *testing.T) {
	path := tempStorePath(t)
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A session may be pinned before it has events; pinning is idempotent
	// and unpinning an unpinned session is not an error.
	for _, step := range []struct {
		pin  bool
		sess abi.SessionID
	}{{true, "a"}, {true, "b"}, {true, "a"}, {true, "c"}, {false, "b"}, {false, "never-pinned"}} {
		if step.pin {
			err = s.Pin(ctx, step.sess)
		} else {
			err = s.Unpin(ctx, step.sess)
		}
		if err != nil {
			t.Fatalf("pin=%v %s: %v", step.pin, step.sess, err)
		}
	}
	checkPins := func(s *host.Store, want ...abi.SessionID) {
		t.Helper()
		got, err := s.Pinned(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Pinned() = %v, want %v", got, want)
		}
	}
	checkPins(s, "a", "c")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkPins(s, "a", "c")
	if err := s.Unpin(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	checkPins(s, "c")

	if err := s.Pin(ctx, ""); !errors.Is(err, host.ErrEmptySession) {
		t.Errorf("Pin(\"\"): %v, want ErrEmptySession", err)
	}
	if err := s.Unpin(ctx, ""); !errors.Is(err, host.ErrEmptySession) {
		t.Errorf("Unpin(\"\"): %v, want ErrEmptySession", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Pin(canceled, "d"); !errors.Is(err, context.Canceled) {
		t.Errorf("Pin(canceled): %v, want context.Canceled", err)
	}
	checkPins(s, "c")
}

// retentionFixture fills a store with old and recent events, and tool
// intents, in four sessions: "old" (old events and one recent), "pinned"
// (old, pinned), "recent" and "exempt" (old).
type retentionFixture struct {
	oldIDs, recentIDs map[abi.SessionID][]uint64
}

func fillRetention(t *testing.T, s *host.Store, age time.Duration) retentionFixture {
	t.Helper()
	ctx := context.Background()
	f := retentionFixture{oldIDs: map[abi.SessionID][]uint64{}, recentIDs: map[abi.SessionID][]uint64{}}
	add := func(sess abi.SessionID, turn int, kind string, ts time.Time, payload string) {
		e := storeEvent(sess, turn, kind, payload)
		e.TS = ts
		id := mustAppend(t, s, e)
		if ts.Before(time.Now().Add(-age / 2)) {
			f.oldIDs[sess] = append(f.oldIDs[sess], id)
		} else {
			f.recentIDs[sess] = append(f.recentIDs[sess], id)
		}
	}
	old := oldTS(2 * age)
	for _, sess := range []abi.SessionID{"old", "pinned", "exempt"} {
		add(sess, 1, abi.KindUserMessage, old, fmt.Sprintf(`{"text":"first message of %s"}`, sess))
		add(sess, 2, abi.KindToolCall, old.Add(time.Second), `{"name":"ls"}`)
		add(sess, 3, abi.KindAssistantMessage, old.Add(2*time.Second), `{"text":"done"}`)
		intent := abi.ToolIntent{Session: sess, CallID: "old-call", Tool: "ls", Args: json.RawMessage(`{"dir":"/"}`), StartedAt: old}
		if err := s.RecordToolIntent(ctx, intent); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Truncate(time.Second)
	add("old", 4, abi.KindAssistantMessage, now, `{"text":"still here"}`)
	add("recent", 1, abi.KindUserMessage, now, `{"text":"recent question"}`)
	add("recent", 2, abi.KindToolCall, now, `{"name":"cat"}`)
	if err := s.RecordToolIntent(ctx, abi.ToolIntent{Session: "recent", CallID: "new-call", Tool: "cat", Args: json.RawMessage(`{"f":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, "pinned"); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestApplyRetention(t *testing.T) {
	const ttl = 24 * time.Hour
	path := tempStorePath(t)
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := fillRetention(t, s, ttl)
	before, err := s.ListPastSessions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}

	n, err := s.ApplyRetention(ctx, ttl)
	if err != nil {
		t.Fatal(err)
	}
	// "old" and "exempt" lose 3 payloads each; ApplyRetention has no
	// exemption list, only pins.
	if n != 6 {
		t.Errorf("ApplyRetention dropped %d payloads, want 6", n)
	}

	check := func(s *host.Store) {
		t.Helper()
		for _, sess := range []abi.SessionID{"old", "pinned", "recent", "exempt"} {
			evs := allEvents(t, s, sess)
			if got, want := len(evs), len(f.oldIDs[sess])+len(f.recentIDs[sess]); got != want {
				t.Errorf("%s: %d events after retention, want %d (rows stay)", sess, got, want)
			}
			for _, e := range evs {
				dropped := slices.Contains(f.oldIDs[sess], e.ID) && sess != "pinned"
				if dropped && e.Payload != nil {
					t.Errorf("%s event %d (old): payload %s, want nil", sess, e.ID, e.Payload)
				}
				if !dropped && e.Payload == nil {
					t.Errorf("%s event %d: payload dropped, want kept", sess, e.ID)
				}
				if e.Kind == "" || e.Turn == 0 || e.TS.IsZero() {
					t.Errorf("%s event %d: metadata lost: %+v", sess, e.ID, e)
				}
			}
		}
		after, err := s.ListPastSessions(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range before {
			a := after[i]
			if a.ID != b.ID || a.Events != b.Events || a.ToolCalls != b.ToolCalls || !a.FirstSeen.Equal(b.FirstSeen) || !a.LastSeen.Equal(b.LastSeen) {
				t.Errorf("summary of %s changed beyond the preview: %+v -> %+v", b.ID, b, a)
			}
			wantMsg := b.FirstUserMessage
			if b.ID == "old" || b.ID == "exempt" {
				wantMsg = ""
			}
			if a.FirstUserMessage != wantMsg {
				t.Errorf("%s FirstUserMessage = %q, want %q", a.ID, a.FirstUserMessage, wantMsg)
			}
		}
		orphans, err := s.OrphanIntents(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(orphans) != 4 {
			t.Fatalf("%d orphan intents after retention, want 4 (rows stay)", len(orphans))
		}
		for _, in := range orphans {
			dropped := in.CallID == "old-call" && in.Session != "pinned"
			if dropped != (in.Args == nil) {
				t.Errorf("intent %s/%s args = %s, want dropped=%v", in.Session, in.CallID, in.Args, dropped)
			}
			if in.ArgsHash == "" {
				t.Errorf("intent %s/%s lost its hash", in.Session, in.CallID)
			}
		}
	}
	check(s)

	// Idempotent.
	if n, err := s.ApplyRetention(ctx, ttl); err != nil || n != 0 {
		t.Errorf("second ApplyRetention = %d, %v; want 0, nil", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)

	// Unpinning exposes the pinned session to the next run.
	if err := s.Unpin(ctx, "pinned"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ApplyRetention(ctx, ttl); err != nil || n != 3 {
		t.Errorf("ApplyRetention after Unpin = %d, %v; want 3, nil", n, err)
	}

	for _, bad := range []time.Duration{0, -time.Hour} {
		if _, err := s.ApplyRetention(ctx, bad); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("ApplyRetention(%v): %v, want ErrInvalidArgument", bad, err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ApplyRetention(canceled, ttl); !errors.Is(err, context.Canceled) {
		t.Errorf("ApplyRetention(canceled): %v, want context.Canceled", err)
	}
}

func TestDropMetadata(t *testing.T) {
	const age = 24 * time.Hour
	s, _ := openEncStore(t)
	ctx := context.Background()
	f := fillRetention(t, s, age)
	recentOld := findSession(t, s, "old")

	n, err := s.DropMetadata(ctx, age, []string{"exempt", "not-a-session"})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("DropMetadata deleted %d events, want 3 (the old events of \"old\")", n)
	}

	// "old" keeps only its recent event, and its summary is recomputed.
	evs := allEvents(t, s, "old")
	if len(evs) != 1 || evs[0].ID != f.recentIDs["old"][0] {
		t.Fatalf("old: events after DropMetadata = %+v, want only the recent one", evs)
	}
	ps := findSession(t, s, "old")
	if ps.Events != 1 || ps.ToolCalls != 0 || ps.LastTurn != 4 || !ps.FirstSeen.Equal(evs[0].TS) || !ps.LastSeen.Equal(recentOld.LastSeen) {
		t.Errorf("old: summary after DropMetadata = %+v, want 1 event, 0 tool calls, turn 4, first seen %v", ps, evs[0].TS)
	}
	if ps.FirstUserMessage != "" {
		t.Errorf("old: FirstUserMessage = %q after its event was deleted", ps.FirstUserMessage)
	}
	// Pinned and exempt sessions are untouched.
	for _, sess := range []abi.SessionID{"pinned", "exempt", "recent"} {
		if got, want := len(allEvents(t, s, sess)), len(f.oldIDs[sess])+len(f.recentIDs[sess]); got != want {
			t.Errorf("%s: %d events after DropMetadata, want %d", sess, got, want)
		}
		if ps := findSession(t, s, sess); ps.FirstUserMessage == "" {
			t.Errorf("%s: FirstUserMessage lost", sess)
		}
	}
	// Old intents of unprotected sessions are gone, the others stay.
	orphans, err := s.OrphanIntents(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := callIDs(orphans); fmt.Sprint(slices.Sorted(slices.Values(got))) != "[exempt/old-call pinned/old-call recent/new-call]" {
		t.Errorf("orphan intents after DropMetadata = %v", got)
	}

	// Without the exemption, "exempt" goes entirely: no rows, no summary.
	n, err = s.DropMetadata(ctx, age, nil)
	if err != nil || n != 3 {
		t.Fatalf("second DropMetadata = %d, %v; want 3, nil", n, err)
	}
	if _, ok := lookupSession(t, s, "exempt"); ok {
		t.Error("exempt: still listed with no events left")
	}
	if got := len(allEvents(t, s, "exempt")); got != 0 {
		t.Errorf("exempt: %d events left", got)
	}
	if _, ok := lookupSession(t, s, "pinned"); !ok {
		t.Error("pinned: no longer listed")
	}

	// IDs are never reused, even after the highest ones were deleted.
	var maxID uint64
	for _, ids := range f.oldIDs {
		maxID = max(maxID, slices.Max(ids))
	}
	for _, ids := range f.recentIDs {
		maxID = max(maxID, slices.Max(ids))
	}
	if id := mustAppend(t, s, storeEvent("exempt", 9, abi.KindSystem, `{}`)); id <= maxID {
		t.Errorf("ID after deletes = %d, want > %d", id, maxID)
	}

	for _, bad := range []time.Duration{0, -time.Minute} {
		if _, err := s.DropMetadata(ctx, bad, nil); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("DropMetadata(%v): %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// TestDropMetadataRemovesWholeSession deletes every event of a session,
// including its newest, so it leaves the listing.
func TestDropMetadataRemovesWholeSession(t *testing.T) {
	s, _ := openPlainStore(t)
	ctx := context.Background()
	for i := range 5 {
		e := storeEvent("gone", i+1, abi.KindUserMessage, `{"text":"bye"}`)
		e.TS = oldTS(72*time.Hour + time.Duration(i)*time.Minute)
		mustAppend(t, s, e)
	}
	mustAppend(t, s, storeEvent("stays", 1, abi.KindUserMessage, `{"text":"hi"}`))
	n, err := s.DropMetadata(ctx, time.Hour, nil)
	if err != nil || n != 5 {
		t.Fatalf("DropMetadata = %d, %v; want 5, nil", n, err)
	}
	list, err := s.ListPastSessions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sessionIDs(list)) != "[stays]" {
		t.Fatalf("sessions after DropMetadata = %v, want [stays]", sessionIDs(list))
	}
}

// markerPayloads appends n old events whose payloads carry marker, small
// enough to be stored raw (uncompressed), plus an old tool intent with the
// marker in its arguments, and a recent event with keep.
func markerPayloads(t *testing.T, s *host.Store, sess abi.SessionID, marker, keep string, n int) {
	t.Helper()
	old := oldTS(10 * 24 * time.Hour)
	for i := range n {
		kind := abi.KindAssistantMessage
		if i == 0 {
			kind = abi.KindUserMessage // the preview holds the marker too
		}
		e := storeEvent(sess, i+1, kind, fmt.Sprintf(`{"text":"%s #%d"}`, marker, i))
		if len(e.Payload) >= 128 {
			t.Fatalf("marker payload is %d bytes; keep it under 128 so it is stored raw", len(e.Payload))
		}
		e.TS = old.Add(time.Duration(i) * time.Second)
		mustAppend(t, s, e)
	}
	if err := s.RecordToolIntent(context.Background(), abi.ToolIntent{Session: sess, CallID: "m", Tool: "echo",
		Args: json.RawMessage(`{"arg":"` + marker + `"}`), StartedAt: old}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, storeEvent("keeper", 1, abi.KindAssistantMessage, `{"text":"`+keep+`"}`))
}

// TestRetentionMarkerScan proves dropped content leaves the files: markers
// written to a plaintext store are found by a byte scan, and after
// ApplyRetention or DropMetadata no byte of them is left in the database,
// WAL or shared-memory file.
func TestRetentionMarkerScan(t *testing.T) {
	ops := []struct {
		name string
		drop func(s *host.Store) (int64, error)
	}{
		{"ApplyRetention", func(s *host.Store) (int64, error) { return s.ApplyRetention(context.Background(), 24*time.Hour) }},
		{"DropMetadata", func(s *host.Store) (int64, error) {
			return s.DropMetadata(context.Background(), 24*time.Hour, nil)
		}},
	}
	const n = 40
	for _, op := range ops {
		for _, reopen := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/reopen=%v", op.name, reopen), func(t *testing.T) {
				marker := "MARKER-" + strings.ToUpper(incompressible(uint64(len(op.name)), 12))
				keep := "KEEP-" + strings.ToUpper(incompressible(99, 12))
				path := tempStorePath(t)
				s, err := host.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { s.Close() }()
				markerPayloads(t, s, "secret-session", marker, keep, n)
				if reopen {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
				}
				// The scan can fail: the markers are in the files now (in
				// the database after a clean close, else in the WAL).
				counts := countInStoreFiles(t, path, []byte(marker))
				if total(counts) < n {
					t.Fatalf("before %s: marker found %v times, want >= %d: the scan would prove nothing", op.name, counts, n)
				}
				if reopen {
					if s, err = host.Open(path); err != nil {
						t.Fatal(err)
					}
				}
				dropped, err := op.drop(s)
				if err != nil {
					t.Fatal(err)
				}
				if dropped != n {
					t.Errorf("%s dropped %d events, want %d", op.name, dropped, n)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if counts := countInStoreFiles(t, path, []byte(marker)); total(counts) != 0 {
					t.Errorf("after %s: marker still in the files: %v", op.name, counts)
				}
				// Prefixes too: no partial copy of a marker payload is left.
				if counts := countInStoreFiles(t, path, []byte(marker[:10])); total(counts) != 0 {
					t.Errorf("after %s: marker prefix still in the files: %v", op.name, counts)
				}
				if counts := countInStoreFiles(t, path, []byte(keep)); total(counts) == 0 {
					t.Errorf("after %s: the recent event's content is gone too", op.name)
				}
			})
		}
	}
}

// countDicts returns the number of trained compression dictionaries in the
// plaintext store at path, read through a separate read-only connection.
// It looks at the schema (table dicts) because the API does not expose
// dictionaries.
func countDicts(t *testing.T, path string) int {
	t.Helper()
	c, err := engine.Open(path, engine.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, _, err := c.Prepare(`SELECT count(*) FROM dicts`)
	if err != nil {
		t.Fatalf("count dictionaries (schema changed?): %v", err)
	}
	defer st.Close()
	if !st.Step() {
		t.Fatal(st.Err())
	}
	return st.ColumnInt(0)
}

// TestRetentionMarkerScanTrainedDictionary is TestRetentionMarkerScan on a
// store that has trained its compression dictionary from old payloads. A
// zstd dictionary is made of substrings of its training samples, so the
// content retention drops must not live on in the dictionary either.
func TestRetentionMarkerScanTrainedDictionary(t *testing.T) {
	ops := []struct {
		name string
		drop func(s *host.Store) (int64, error)
	}{
		{"ApplyRetention", func(s *host.Store) (int64, error) { return s.ApplyRetention(context.Background(), 24*time.Hour) }},
		{"DropMetadata", func(s *host.Store) (int64, error) {
			return s.DropMetadata(context.Background(), 24*time.Hour, nil)
		}},
	}
	n := 2500
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			marker := "MARKER-" + strings.ToUpper(incompressible(7, 12))
			path := tempStorePath(t)
			s, err := host.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			old := oldTS(10 * 24 * time.Hour)
			r := rand.New(rand.NewPCG(3, 4))
			events := make(chan abi.EventEnvelope)
			var wg sync.WaitGroup
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for e := range events {
						mustAppend(t, s, e)
					}
				}()
			}
			for i := range n {
				w := make([]string, 90) // over 512 bytes: compressed, so sampled for the dictionary
				for j := range w {
					w[j] = benchWords[r.IntN(len(benchWords))]
				}
				e := storeEvent("old-session", i, abi.KindAssistantMessage,
					fmt.Sprintf(`{"text":"%s note %d: %s"}`, marker, i, strings.Join(w, " ")))
				e.TS = old.Add(time.Duration(i) * time.Millisecond)
				events <- e
			}
			close(events)
			wg.Wait()
			deadline := time.Now().Add(time.Minute)
			for countDicts(t, path) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no compression dictionary trained after %d payloads: this test exercises nothing", n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Payloads compressed with the dictionary.
			for i := range 50 {
				e := storeEvent("old-session", n+i, abi.KindAssistantMessage,
					fmt.Sprintf(`{"text":"%s late note %d: %s"}`, marker, i, strings.Repeat("parser fix ", 10)))
				e.TS = old.Add(time.Hour)
				mustAppend(t, s, e)
			}
			if got := len(allEvents(t, s, "old-session")); got != n+50 {
				t.Fatalf("%d events, want %d", got, n+50)
			}
			if total(countInStoreFiles(t, path, []byte(marker))) == 0 {
				t.Fatal("marker not in the files before retention: the scan proves nothing")
			}
			if _, err := op.drop(s); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if counts := countInStoreFiles(t, path, []byte(marker)); total(counts) != 0 {
				t.Errorf("after %s of every event that held it: marker still in the files %v (the trained dictionary keeps it)", op.name, counts)
			}
		})
	}
}
