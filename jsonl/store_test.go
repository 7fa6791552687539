package jsonl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/jsonl"
)

// bigSession returns the export of a session of n events (with a tool
// call per ten events and an attempt per turn), written through a
// scratch store so that it is in Export's canonical form.
func bigSession(tb testing.TB, sess abi.SessionID, n int) []byte {
	tb.Helper()
	ctx := context.Background()
	s, _ := newStore(tb)
	// One batch, unkeyed: the records as n calls of the single-record
	// methods would store them, in one transaction.
	var b abi.Batch
	for i := range n {
		turn := i/10 + 1
		e := abi.EventEnvelope{Session: sess, Turn: turn, Kind: abi.KindAssistantMessage, TS: at(time.Duration(i) * time.Millisecond),
			Payload: json.RawMessage(fmt.Sprintf(`{"text":"step %d of the plan"}`, i))}
		if i%10 == 0 {
			call := fmt.Sprintf("call_%04d", i)
			e.Kind, e.Payload = abi.KindToolCall, json.RawMessage(fmt.Sprintf(`{"call_id":%q,"tool":"Read","args":{"path":"f%d.go"}}`, call, i))
			b.Intents = append(b.Intents, abi.ToolIntent{Session: sess, Turn: turn, CallID: call, Tool: "Read", StartedAt: e.TS})
			b.Outcomes = append(b.Outcomes, abi.ToolOutcome{Session: sess, CallID: call, Status: abi.StatusOK, EndedAt: e.TS.Add(time.Microsecond)})
			b.Attempts = append(b.Attempts, abi.ProviderAttempt{Session: string(sess), Turn: turn, Provider: "openai", Model: "gpt-5",
				StartedAt: e.TS, EndedAt: e.TS, TerminatedReason: abi.AttemptComplete, InputTokens: 100 + i, EstimatedUSD: 0.001})
		}
		b.Events = append(b.Events, e)
	}
	if _, err := s.WriteBatches(ctx, b); err != nil {
		tb.Fatal(err)
	}
	return export(tb, s, sess)
}

// TestImportTwoHandles imports a session on one handle while a second
// handle on the same file tails it: the reader sees every event once, in
// order, and the store's export is the imported file.
func TestImportTwoHandles(t *testing.T) {
	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprint("batched=", batched), func(t *testing.T) { testImportTwoHandles(t, batched) })
	}
}

// importInto is the destination Import gets for store s: s itself (a
// BatchDestination), or s written record by record.
func importInto(s *host.Store, batched bool) jsonl.Destination {
	if batched {
		return s
	}
	return perRecord{s}
}

func testImportTwoHandles(t *testing.T, batched bool) {
	ctx := context.Background()
	const n = 300
	file := bigSession(t, "big", n)
	w, path := newStore(t)
	r := openStore(t, path)
	var (
		wg      sync.WaitGroup
		seen    []abi.EventEnvelope
		readErr error
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		var since uint64
		for finished := false; !finished; {
			select {
			case <-done:
				finished = true // one more read after the import ended
			default:
			}
			evs, err := r.EventsSince(ctx, "big", since, 50)
			if err != nil {
				readErr = err
				return
			}
			for _, e := range evs {
				since = e.ID
			}
			seen = append(seen, evs...)
			if len(evs) == 50 {
				finished = false
			}
		}
	}()
	st, err := jsonl.Import(ctx, importInto(w, batched), bytes.NewReader(file))
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	if st.Events != n || st.Attempts != n/10 || st.ToolIntents != n/10 || st.ToolOutcomes != n/10 {
		t.Errorf("stats %+v", st)
	}
	if len(seen) != n {
		t.Fatalf("the tailing handle saw %d events, want %d", len(seen), n)
	}
	for i := 1; i < n; i++ {
		if seen[i].ID <= seen[i-1].ID || !seen[i].TS.After(seen[i-1].TS) {
			t.Fatalf("event %d (ID %d) out of order after ID %d", i, seen[i].ID, seen[i-1].ID)
		}
	}
	if got := export(t, r, "big"); !bytes.Equal(got, file) {
		t.Errorf("the second handle's export differs from the imported file")
	}
}

type appendArgs struct {
	Path string
	N    int
}

var _ = proc.Role("jsonl-append", func() int {
	var a appendArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenEncrypted(a.Path, host.EncryptionAtRest, testKey)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	for i := range a.N {
		id, err := s.Append(context.Background(), abi.EventEnvelope{Session: "live", Turn: i, Kind: abi.KindAssistantMessage,
			TS: at(time.Duration(i) * time.Second), Payload: json.RawMessage(`{"text":"live"}`)})
		if err != nil {
			proc.Fail("append %d: %v", i, err)
		}
		fmt.Printf("ack %d\n", id)
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
})

// TestImportProcesses imports a session into a store that another OS
// process appends to at the same time: both sets of events are there,
// each in its order, and the imported session exports as the file.
func TestImportProcesses(t *testing.T) {
	proc.Skip(t)
	for _, batched := range []bool{true, false} {
		t.Run(fmt.Sprint("batched=", batched), func(t *testing.T) { testImportProcesses(t, batched) })
	}
}

func testImportProcesses(t *testing.T, batched bool) {
	ctx := context.Background()
	n, live := 400, 200
	if testing.Short() {
		n, live = 150, 80
	}
	file := bigSession(t, "imp", n)
	s, path := newStore(t)
	p := proc.Start(t, proc.Spec{Role: "jsonl-append", Args: appendArgs{Path: path, N: live}})
	var acks []uint64
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		p.Lines(func(l string) {
			if id, ok := strings.CutPrefix(l, "ack "); ok {
				v, err := strconv.ParseUint(id, 10, 64)
				if err == nil {
					acks = append(acks, v)
				}
			}
		})
	}()
	st, err := jsonl.Import(ctx, importInto(s, batched), bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	<-lines
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if st.Events != n || len(acks) != live {
		t.Fatalf("imported %d events (want %d), child acknowledged %d (want %d)", st.Events, n, len(acks), live)
	}
	got, err := s.EventsSince(ctx, "live", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != live {
		t.Fatalf("%d live events stored, want %d", len(got), live)
	}
	for i, e := range got {
		if e.ID != acks[i] || e.Turn != i {
			t.Fatalf("live event %d: ID %d turn %d, want ID %d turn %d", i, e.ID, e.Turn, acks[i], i)
		}
	}
	imp, err := s.EventsSince(ctx, "imp", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	interleaved := 0
	for _, id := range acks {
		if id > imp[0].ID && id < imp[len(imp)-1].ID {
			interleaved++
		}
	}
	t.Logf("%d of the child's %d events fell between the import's first and last", interleaved, live)
	if got := export(t, s, "imp"); !bytes.Equal(got, file) {
		t.Errorf("the imported session's export differs from the file")
	}
}

// TestImportRedacts imports a session that carries a made-up API key in
// an event, tool arguments, a tool result and a tool error: no file of
// the store holds the key afterwards, in any encoding the scan knows,
// while a harmless marker imported beside it is found in a plaintext
// store (so the scan does see stored data).
func TestImportRedacts(t *testing.T) {
	ctx := context.Background()
	key := "sk-ant-api03-" + strings.Repeat("Qm9_", 23) + "kAA"
	for _, c := range []struct{ encrypted, batched bool }{{false, true}, {true, true}, {false, false}, {true, false}} {
		encrypted := c.encrypted
		t.Run(fmt.Sprintf("encrypted=%v/batched=%v", encrypted, c.batched), func(t *testing.T) {
			control := storefiles.NewMarker()
			in := header +
				`{"type":"event","event":{"id":1,"session":"k","turn":1,"kind":"user_message","ts":"2026-11-02T09:00:00Z","payload":{"text":"my key is ` + key + `"}}}` + "\n" +
				`{"type":"event","event":{"id":2,"session":"k","turn":1,"kind":"assistant_message","ts":"2026-11-02T09:00:01Z","payload":{"text":"` + string(control) + `"}}}` + "\n" +
				`{"type":"tool_intent","tool_intent":{"session":"k","turn":1,"call_id":"c","tool":"Bash","args_hash":"00","args":{"cmd":"curl -H 'x-api-key: ` + key + `'"},"started_at":"2026-11-02T09:00:02Z"}}` + "\n" +
				`{"type":"tool_outcome","tool_outcome":{"session":"k","call_id":"c","status":"error","result":{"stdout":"` + key + `"},"error":"rejected ` + key + `","ended_at":"2026-11-02T09:00:03Z"}}` + "\n"
			dir := t.TempDir()
			path := filepath.Join(dir, "sessions.db")
			var s *host.Store
			var err error
			if encrypted {
				s, err = host.OpenEncrypted(path, host.EncryptionAtRest, testKey)
			} else {
				s, err = host.Open(path)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jsonl.Import(ctx, importInto(s, c.batched), strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			out := export(t, s, "k")
			if bytes.Contains(out, []byte(key)) {
				t.Errorf("the export holds the key:\n%s", out)
			}
			// Scanned once open (WAL, temporary files) and once closed.
			for _, phase := range []string{"open", "closed"} {
				if phase == "closed" {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
				}
				if hits, scanned := storefiles.Scan(t, []byte(key), dir); len(hits) > 0 || len(scanned) == 0 {
					t.Errorf("%s: key found %v in %d files scanned", phase, hits, len(scanned))
				}
				hits, _ := storefiles.Scan(t, control, dir)
				if found := len(hits) > 0; found == encrypted {
					t.Errorf("%s: control marker found=%v in a store with encryption=%v", phase, found, encrypted)
				}
			}
		})
	}
}
