package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

func TestAppendIDsIncreaseAndRoundTrip(t *testing.T) {
	s, _ := openEncStore(t)
	base := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	var want []abi.EventEnvelope
	var last uint64
	for i := range 60 {
		env := abi.EventEnvelope{
			Session: abi.SessionID(fmt.Sprint("s", i%3)),
			Turn:    i / 3,
			Kind:    []string{abi.KindUserMessage, abi.KindAssistantMessage, abi.KindToolCall, "custom.kind"}[i%4],
			TS:      base.Add(time.Duration(i) * time.Millisecond),
			Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
		}
		id := mustAppend(t, s, env)
		if id <= last {
			t.Fatalf("append %d: ID %d, want > %d", i, id, last)
		}
		last = id
		env.ID = id
		want = append(want, env)
	}
	for _, sess := range []abi.SessionID{"s0", "s1", "s2"} {
		got := allEvents(t, s, sess)
		var wantS []abi.EventEnvelope
		for _, w := range want {
			if w.Session == sess {
				wantS = append(wantS, w)
			}
		}
		if len(got) != len(wantS) {
			t.Fatalf("%s: %d events, want %d", sess, len(got), len(wantS))
		}
		for i := range got {
			g, w := got[i], wantS[i]
			if g.ID != w.ID || g.Session != w.Session || g.Turn != w.Turn || g.Kind != w.Kind ||
				!g.TS.Equal(w.TS) || !bytes.Equal(g.Payload, w.Payload) {
				t.Errorf("%s event %d = %+v, want %+v", sess, i, g, w)
			}
		}
	}
}

func TestAppendEventStores(t *testing.T) {
	s, _ := openPlainStore(t)
	if err := s.AppendEvent(context.Background(), storeEvent("s", 1, abi.KindSystem, `{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, s, "s")
	if len(evs) != 1 || evs[0].ID == 0 || string(evs[0].Payload) != `{"a":1}` {
		t.Fatalf("EventsSince = %+v, want the appended event with a non-zero ID", evs)
	}
}

func TestAppendIgnoresCallerID(t *testing.T) {
	s, _ := openPlainStore(t)
	env := storeEvent("s", 1, abi.KindSystem, `{}`)
	env.ID = 1 << 40
	id := mustAppend(t, s, env)
	if id == env.ID {
		t.Fatalf("Append used the caller's ID %d", id)
	}
	if id2 := mustAppend(t, s, storeEvent("s", 2, abi.KindSystem, `{}`)); id2 != id+1 && id2 <= id {
		t.Fatalf("next ID = %d after %d", id2, id)
	}
}

func TestAppendZeroTSIsNow(t *testing.T) {
	s, _ := openPlainStore(t)
	before := time.Now()
	mustAppend(t, s, storeEvent("s", 1, abi.KindSystem, `{}`))
	after := time.Now()
	evs := allEvents(t, s, "s")
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	if ts := evs[0].TS; ts.Before(before) || ts.After(after) {
		t.Fatalf("TS = %v, want between %v and %v", ts, before, after)
	}
}

func TestEventsSincePaging(t *testing.T) {
	s, _ := openEncStore(t)
	ctx := context.Background()
	var ids []uint64
	for i := range 25 {
		ids = append(ids, mustAppend(t, s, storeEvent("paged", i, abi.KindSystem, fmt.Sprintf(`{"i":%d}`, i))))
		mustAppend(t, s, storeEvent("other", i, abi.KindSystem, `{}`)) // interleaved
	}

	var got []uint64
	since := uint64(0)
	var pages []int
	for {
		page, err := s.EventsSince(ctx, "paged", since, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, len(page))
		for _, e := range page {
			if e.Session != "paged" {
				t.Fatalf("event %d of session %q in a page of \"paged\"", e.ID, e.Session)
			}
			got = append(got, e.ID)
		}
		since = page[len(page)-1].ID
	}
	if fmt.Sprint(pages) != "[10 10 5]" {
		t.Errorf("page sizes = %v, want [10 10 5]", pages)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("paged IDs = %v, want %v", got, ids)
	}

	tests := []struct {
		name  string
		since uint64
		limit int
		want  []uint64
	}{
		{"all", 0, 0, ids},
		{"limit larger than rest", 0, 1000, ids},
		{"since middle", ids[11], 0, ids[12:]},
		{"since middle limited", ids[11], 3, ids[12:15]},
		{"since between IDs", ids[11] + 1, 2, ids[12:14]}, // ids[11]+1 is an "other" event
		{"since last", ids[24], 0, nil},
		{"since past the end", ids[24] + 1000, 0, nil},
		{"since max int64", math.MaxInt64, 0, nil},
		{"since max uint64", math.MaxUint64, 0, nil},
		{"since 1<<63", 1 << 63, 5, nil},
	}
	for _, tt := range tests {
		evs, err := s.EventsSince(ctx, "paged", tt.since, tt.limit)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var got []uint64
		for _, e := range evs {
			got = append(got, e.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: EventsSince(since=%d, limit=%d) IDs = %v, want %v", tt.name, tt.since, tt.limit, got, tt.want)
		}
	}

	if evs, err := s.EventsSince(ctx, "no-such-session", 0, 0); err != nil || len(evs) != 0 {
		t.Errorf("EventsSince(unknown session) = %v, %v; want none, nil", evs, err)
	}
	if _, err := s.EventsSince(ctx, "paged", 0, -1); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("EventsSince(limit -1): %v, want ErrInvalidArgument", err)
	}
	if _, err := s.EventsSince(ctx, "", 0, 0); !errors.Is(err, host.ErrEmptySession) {
		t.Errorf("EventsSince(empty session): %v, want ErrEmptySession", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.EventsSince(cctx, "paged", 0, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("EventsSince(canceled context): %v, want context.Canceled", err)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	large := strings.Repeat(`{"role":"assistant","text":"the quick brown fox jumps over the lazy dog"},`, 3000)
	tests := []struct {
		name    string
		payload string
	}{
		{"object", `{"a":1}`},
		{"whitespace and escapes kept", "{ \"k\" : \"caf\\u00e9 \\n\\t \\\"q\\\"\" ,\n \"n\": [1, 2 ,3.50, -0, 1e3] }"},
		{"utf-8", `{"text":"héllo wörld ✓ 日本語 🎉"}`},
		{"string", `"just a string"`},
		{"number", `42`},
		{"array", `[true,false,null]`},
		{"null", `null`},
		{"127 bytes", `{"p":"` + strings.Repeat("a", 127-8) + `"}`},
		{"128 bytes", `{"p":"` + strings.Repeat("a", 128-8) + `"}`},
		{"large compressible", `[` + large + `{}]`},
		{"large incompressible", `{"blob":"` + incompressible(7, 200_000) + `"}`},
		{"4 MiB", `{"big":"` + strings.Repeat("0123456789abcdef", 4<<20/16) + `"}`},
	}
	for _, o := range storeOpeners {
		t.Run(o.name, func(t *testing.T) {
			path := tempStorePath(t)
			s, err := o.open(path)
			if err != nil {
				t.Fatal(err)
			}
			ids := make(map[uint64]string)
			for i, tt := range tests {
				if !json.Valid([]byte(tt.payload)) {
					t.Fatalf("%s: test payload is not JSON", tt.name)
				}
				ids[mustAppend(t, s, storeEvent("rt", i, abi.KindToolResult, tt.payload))] = tt.name
			}
			check := func(s *host.Store) {
				evs := allEvents(t, s, "rt")
				if len(evs) != len(tests) {
					t.Fatalf("%d events, want %d", len(evs), len(tests))
				}
				for i, e := range evs {
					if want := tests[i].payload; string(e.Payload) != want {
						t.Errorf("%s: payload changed (got %d bytes, want %d)", ids[e.ID], len(e.Payload), len(want))
					}
				}
			}
			check(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = o.open(path); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			check(s)
		})
	}
}

// TestPayloadCompressed checks that large compressible payloads are stored
// compressed: 4 MiB of repetitive JSON must take far less than 4 MiB of
// file.
func TestPayloadCompressed(t *testing.T) {
	s, path := openPlainStore(t)
	p := `{"big":"` + strings.Repeat("compress me please ", 4<<20/19) + `"}`
	mustAppend(t, s, storeEvent("z", 1, abi.KindToolResult, p))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > int64(len(p))/8 {
		t.Fatalf("file is %d bytes for a %d-byte compressible payload; want < 1/8", fi.Size(), len(p))
	}
}

func TestAppendNilPayload(t *testing.T) {
	s, _ := openPlainStore(t)
	mustAppend(t, s, abi.EventEnvelope{Session: "n", Kind: abi.KindSystem})
	evs := allEvents(t, s, "n")
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	// A nil Payload on read means "dropped by retention", so a nil payload
	// must not read back nil.
	if evs[0].Payload == nil || !json.Valid(evs[0].Payload) {
		t.Fatalf("nil payload reads back as %q, want valid JSON (null)", evs[0].Payload)
	}
}

func TestAppendRedacts(t *testing.T) {
	key := fakeOpenAIKey(1)
	if out := (host.DefaultRedactor{}).Redact("key " + key); strings.Contains(out, key) || !strings.Contains(out, "«redacted:") {
		t.Fatalf("DefaultRedactor.Redact = %q, want the key replaced by «redacted:…»", out)
	}

	s, path := openPlainStore(t)
	payload := `{"text":"use ` + key + ` for the API","n":1}`
	mustAppend(t, s, storeEvent("r", 1, abi.KindUserMessage, payload))
	evs := allEvents(t, s, "r")
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	got := string(evs[0].Payload)
	if strings.Contains(got, key) || strings.Contains(got, key[8:30]) {
		t.Errorf("stored payload still holds the key: %s", got)
	}
	if !strings.Contains(got, "«redacted:") || !json.Valid(evs[0].Payload) {
		t.Errorf("stored payload = %s, want valid JSON with «redacted:…»", got)
	}
	if ps := findSession(t, s, "r"); strings.Contains(ps.FirstUserMessage, key) || !strings.Contains(ps.FirstUserMessage, "«redacted:") {
		t.Errorf("FirstUserMessage = %q, want it redacted", ps.FirstUserMessage)
	}

	// The key never reached the file.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := total(countInStoreFiles(t, path, []byte(key[8:40]))); n != 0 {
		t.Errorf("key found %d times in the store files", n)
	}
}

// replaceRedactor replaces every old with new.
type replaceRedactor struct{ old, new string }

func (r replaceRedactor) Redact(s string) string { return strings.ReplaceAll(s, r.old, r.new) }

func TestCustomRedactors(t *testing.T) {
	key := fakeOpenAIKey(2)
	payload := `{"text":"codename BLUEBIRD and ` + key + `"}`

	t.Run("replace defaults", func(t *testing.T) {
		s, _ := openPlainStore(t)
		s.Redactors = []host.Redactor{replaceRedactor{"BLUEBIRD", "[codename]"}}
		mustAppend(t, s, storeEvent("c", 1, abi.KindUserMessage, payload))
		got := string(allEvents(t, s, "c")[0].Payload)
		if strings.Contains(got, "BLUEBIRD") || !strings.Contains(got, "[codename]") {
			t.Errorf("payload = %s, want BLUEBIRD replaced by the custom redactor", got)
		}
		// Only the configured redactors run.
		if !strings.Contains(got, key) {
			t.Errorf("payload = %s, want the key kept (DefaultRedactor not configured)", got)
		}
	})
	t.Run("chain in order", func(t *testing.T) {
		s, _ := openPlainStore(t)
		s.Redactors = []host.Redactor{replaceRedactor{"BLUEBIRD", "REDBIRD"}, replaceRedactor{"REDBIRD", "bird"}, host.DefaultRedactor{}}
		mustAppend(t, s, storeEvent("c", 1, abi.KindUserMessage, payload))
		got := string(allEvents(t, s, "c")[0].Payload)
		if !strings.Contains(got, "codename bird and «redacted:") || strings.Contains(got, key) {
			t.Errorf("payload = %s, want both custom redactors in order, then the default", got)
		}
	})
	t.Run("none", func(t *testing.T) {
		s, _ := openPlainStore(t)
		s.Redactors = nil
		mustAppend(t, s, storeEvent("c", 1, abi.KindUserMessage, payload))
		if got := string(allEvents(t, s, "c")[0].Payload); got != payload {
			t.Errorf("payload = %s, want it unchanged with no redactors", got)
		}
	})
	t.Run("redactor breaks JSON", func(t *testing.T) {
		s, _ := openPlainStore(t)
		s.Redactors = []host.Redactor{replaceRedactor{`"`, ``}}
		_, err := s.Append(context.Background(), storeEvent("c", 1, abi.KindUserMessage, payload))
		if !errors.Is(err, host.ErrInvalidPayload) {
			t.Fatalf("Append with a JSON-breaking redactor: %v, want ErrInvalidPayload", err)
		}
		if evs := allEvents(t, s, "c"); len(evs) != 0 {
			t.Errorf("%d events stored after a failed append", len(evs))
		}
	})
}

func TestAppendBadInput(t *testing.T) {
	s, _ := openEncStore(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		env  abi.EventEnvelope
		want error
	}{
		{"empty session", context.Background(), storeEvent("", 1, abi.KindSystem, `{}`), host.ErrEmptySession},
		{"empty kind", context.Background(), storeEvent("bad", 1, "", `{}`), host.ErrInvalidArgument},
		{"truncated JSON", context.Background(), storeEvent("bad", 1, abi.KindSystem, `{"a":`), host.ErrInvalidPayload},
		{"not JSON", context.Background(), storeEvent("bad", 1, abi.KindSystem, `hello`), host.ErrInvalidPayload},
		{"two values", context.Background(), storeEvent("bad", 1, abi.KindSystem, `{} {}`), host.ErrInvalidPayload},
		{"empty non-nil payload", context.Background(), abi.EventEnvelope{Session: "bad", Kind: abi.KindSystem, Payload: []byte{}}, host.ErrInvalidPayload},
		{"canceled context", canceled, storeEvent("bad", 1, abi.KindUserMessage, `{"text":"x"}`), context.Canceled},
		{"expired context", expired, storeEvent("bad", 1, abi.KindUserMessage, `{"text":"x"}`), context.DeadlineExceeded},
	}
	for _, tt := range tests {
		id, err := s.Append(tt.ctx, tt.env)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Append error = %v, want %v", tt.name, err, tt.want)
		}
		if id != 0 {
			t.Errorf("%s: Append returned ID %d with an error", tt.name, id)
		}
		if err := s.AppendEvent(tt.ctx, tt.env); !errors.Is(err, tt.want) {
			t.Errorf("%s: AppendEvent error = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Nothing was stored, not even a session summary.
	if evs := allEvents(t, s, "bad"); len(evs) != 0 {
		t.Errorf("%d events stored by failed appends", len(evs))
	}
	if list, err := s.ListPastSessions(context.Background(), 0); err != nil || len(list) != 0 {
		t.Errorf("ListPastSessions after failed appends = %+v, %v; want none", list, err)
	}
	// The store still works.
	mustAppend(t, s, storeEvent("good", 1, abi.KindSystem, `{}`))
}

// TestAppendConcurrent hammers the group-committing writer: many
// goroutines append to many sessions while readers page through them.
func TestAppendConcurrent(t *testing.T) {
	const writers, sessions = 32, 50
	perWriter := 150
	if testing.Short() {
		perWriter = 25
	}
	s, _ := openEncStore(t)
	ctx := context.Background()

	type rec struct {
		id   uint64
		sess abi.SessionID
		w, i int
	}
	recs := make([][]rec, writers)
	var wg sync.WaitGroup
	errc := make(chan error, writers+8)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				sess := abi.SessionID(fmt.Sprintf("sess-%02d", (w*perWriter+i)%sessions))
				kind := abi.KindAssistantMessage
				if i%5 == 0 {
					kind = abi.KindToolCall
				}
				env := storeEvent(sess, i, kind, fmt.Sprintf(`{"w":%d,"i":%d,"pad":%q}`, w, i, strings.Repeat("x", i%200)))
				id, err := s.Append(ctx, env)
				if err != nil {
					errc <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
				recs[w] = append(recs[w], rec{id, sess, w, i})
			}
		}()
	}
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for r := range 4 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				sess := abi.SessionID(fmt.Sprintf("sess-%02d", (r*7+n)%sessions))
				evs, err := s.EventsSince(ctx, sess, 0, 0)
				if err != nil {
					errc <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				for j := 1; j < len(evs); j++ {
					if evs[j].ID <= evs[j-1].ID {
						errc <- fmt.Errorf("reader %d: %s IDs not increasing: %d then %d", r, sess, evs[j-1].ID, evs[j].ID)
						return
					}
				}
				if _, err := s.ListPastSessions(ctx, 10); err != nil {
					errc <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	seen := make(map[uint64]rec)
	perSession := make(map[abi.SessionID][]rec)
	for w, rs := range recs {
		if len(rs) != perWriter {
			t.Fatalf("writer %d acknowledged %d appends, want %d", w, len(rs), perWriter)
		}
		for j, r := range rs {
			if prev, dup := seen[r.id]; dup {
				t.Fatalf("ID %d assigned twice (writer %d and %d)", r.id, prev.w, r.w)
			}
			seen[r.id] = r
			// One goroutine's appends are sequential, so their IDs increase.
			if j > 0 && r.id <= rs[j-1].id {
				t.Fatalf("writer %d: ID %d after %d", w, r.id, rs[j-1].id)
			}
			perSession[r.sess] = append(perSession[r.sess], r)
		}
	}
	if got, want := len(seen), writers*perWriter; got != want {
		t.Fatalf("%d distinct IDs, want %d", got, want)
	}

	totalEvents := 0
	for sess, want := range perSession {
		evs := allEvents(t, s, sess)
		totalEvents += len(evs)
		if len(evs) != len(want) {
			t.Errorf("%s: %d events stored, %d acknowledged", sess, len(evs), len(want))
			continue
		}
		for j, e := range evs {
			if j > 0 && e.ID <= evs[j-1].ID {
				t.Errorf("%s: IDs not increasing: %d then %d", sess, evs[j-1].ID, e.ID)
			}
			r, ok := seen[e.ID]
			if !ok || r.sess != sess {
				t.Errorf("%s: stored event %d was not acknowledged for this session", sess, e.ID)
				continue
			}
			var p struct{ W, I int }
			if err := json.Unmarshal(e.Payload, &p); err != nil || p.W != r.w || p.I != r.i {
				t.Errorf("%s: event %d payload %s, want w=%d i=%d", sess, e.ID, e.Payload, r.w, r.i)
			}
		}
	}
	if totalEvents != writers*perWriter {
		t.Errorf("total events stored = %d, want %d", totalEvents, writers*perWriter)
	}

	list, err := s.ListPastSessions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(perSession) {
		t.Fatalf("ListPastSessions: %d sessions, want %d", len(list), len(perSession))
	}
	sum := 0
	for _, ps := range list {
		want := perSession[ps.ID]
		calls := 0
		for _, r := range want {
			if r.i%5 == 0 {
				calls++
			}
		}
		if ps.Events != len(want) || ps.ToolCalls != calls {
			t.Errorf("%s: Events=%d ToolCalls=%d, want %d and %d", ps.ID, ps.Events, ps.ToolCalls, len(want), calls)
		}
		sum += ps.Events
	}
	if sum != writers*perWriter {
		t.Errorf("sum of session counts = %d, want %d", sum, writers*perWriter)
	}
}

// TestCloseDuringAppends closes the store while appends are in flight:
// every append either succeeds, and is then in the reopened store, or fails
// with ErrClosed and stored nothing.
func TestCloseDuringAppends(t *testing.T) {
	path := tempStorePath(t)
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	acked := make([][]uint64, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	started := make(chan struct{}, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			signal := func() { once.Do(func() { started <- struct{}{} }) }
			defer signal()
			for i := 0; ; i++ {
				id, err := s.Append(context.Background(), storeEvent("close", i, abi.KindSystem, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)))
				if err != nil {
					errs[w] = err
					return
				}
				acked[w] = append(acked[w], id)
				if i == 2 {
					signal()
				}
			}
		}()
	}
	for range writers {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	want := make(map[uint64]bool)
	for w := range writers {
		if !errors.Is(errs[w], host.ErrClosed) {
			t.Errorf("writer %d stopped with %v, want ErrClosed", w, errs[w])
		}
		for _, id := range acked[w] {
			want[id] = true
		}
	}

	s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := allEvents(t, s, "close")
	if len(evs) != len(want) {
		t.Errorf("%d events stored, %d acknowledged", len(evs), len(want))
	}
	for _, e := range evs {
		if !want[e.ID] {
			t.Errorf("event %d stored but its append failed", e.ID)
		}
	}
	if ps := findSession(t, s, "close"); ps.Events != len(want) {
		t.Errorf("summary Events = %d, want %d", ps.Events, len(want))
	}
}

// TestAppendTimestampOutOfRange appends events whose TS does not fit in
// Unix nanoseconds (years before 1678 or after 2262). The store must
// either reject them with ErrInvalidArgument or keep the time it was
// given; silently storing another time misorders the session list and
// lets retention drop a future event's payload at once.
func TestAppendTimestampOutOfRange(t *testing.T) {
	s, _ := openPlainStore(t)
	for _, ts := range []time.Time{
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), // not the zero time
	} {
		sess := abi.SessionID("ts-" + ts.Format("2006"))
		e := storeEvent(sess, 1, abi.KindSystem, `{}`)
		e.TS = ts
		_, err := s.Append(context.Background(), e)
		if err != nil {
			if !errors.Is(err, host.ErrInvalidArgument) {
				t.Errorf("Append(TS %v): %v, want nil or ErrInvalidArgument", ts, err)
			}
			continue
		}
		evs := allEvents(t, s, sess)
		if len(evs) != 1 || !evs[0].TS.Equal(ts) {
			t.Errorf("Append(TS %v) accepted, reads back TS %v", ts, evs[0].TS.UTC())
		}
	}
}
