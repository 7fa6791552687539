package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// Example_store records a short session, reads it back and lists it the way
// a "resume a session" picker would.
func Example_store() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Real callers use host.OpenWithKEK(host.DefaultPath(), kek).
	s, err := host.Open(filepath.Join(dir, "sessions.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	start := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	events := []abi.EventEnvelope{
		{Session: "demo", Turn: 1, Kind: abi.KindUserMessage, TS: start,
			Payload: json.RawMessage(`{"text":"list the files"}`)},
		{Session: "demo", Turn: 1, Kind: abi.KindToolCall, TS: start.Add(time.Second),
			Payload: json.RawMessage(`{"tool":"ls","args":{"dir":"."}}`)},
		{Session: "demo", Turn: 1, Kind: abi.KindAssistantMessage, TS: start.Add(2 * time.Second),
			Payload: json.RawMessage(`{"text":"There are two files."}`)},
	}
	for _, e := range events {
		if err := s.AppendEvent(ctx, e); err != nil {
			log.Fatal(err)
		}
	}

	evs, err := s.EventsSince(ctx, "demo", 0, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range evs {
		fmt.Printf("%d %s %s\n", e.ID, e.Kind, e.Payload)
	}

	sessions, err := s.ListPastSessions(ctx, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, ps := range sessions {
		fmt.Printf("%s: %d events, %d tool calls, last seen %s, %q\n",
			ps.ID, ps.Events, ps.ToolCalls, ps.LastSeen.UTC().Format(time.RFC3339), ps.FirstUserMessage)
	}
	// Output:
	// 1 user_message {"text":"list the files"}
	// 2 tool_call {"tool":"ls","args":{"dir":"."}}
	// 3 assistant_message {"text":"There are two files."}
	// demo: 3 events, 1 tool calls, last seen 2025-01-02T15:04:07Z, "list the files"
}

// Example_toolIntents records a tool call before it runs and its outcome
// after; a call whose process died in between shows up as an orphan, so
// that a harness resuming the session can tell the user (or retry it).
func Example_toolIntents() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := host.Open(filepath.Join(dir, "sessions.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)

	for _, call := range []struct{ id, tool, args string }{
		{"call-1", "ls", `{"dir":"."}`},
		{"call-2", "rm", `{"path":"build"}`},
	} {
		args := json.RawMessage(call.args)
		err := s.RecordToolIntent(ctx, abi.ToolIntent{
			Session: "demo", Turn: 1, CallID: call.id, Tool: call.tool,
			ArgsHash: host.HashArgs(args), Args: args, StartedAt: at,
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	// call-1 finished; the process died while call-2 ran.
	if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{
		Session: "demo", CallID: "call-1", Status: abi.StatusOK, Result: json.RawMessage(`["a.go","b.go"]`),
	}); err != nil {
		log.Fatal(err)
	}

	orphans, err := s.OrphanIntents(ctx, "demo")
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range orphans {
		fmt.Printf("never finished: %s %s %s\n", o.CallID, o.Tool, o.Args)
	}
	// Output:
	// never finished: call-2 rm {"path":"build"}
}

// Example_retention drops the payloads of events older than a day, except
// in pinned sessions; the events' metadata stays.
func Example_retention() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := host.Open(filepath.Join(dir, "sessions.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	old := time.Now().Add(-72 * time.Hour)

	for _, sess := range []abi.SessionID{"keep", "expire"} {
		if err := s.AppendEvent(ctx, abi.EventEnvelope{
			Session: sess, Turn: 1, Kind: abi.KindUserMessage, TS: old,
			Payload: json.RawMessage(`{"text":"an old message"}`),
		}); err != nil {
			log.Fatal(err)
		}
	}
	if err := s.Pin(ctx, "keep"); err != nil {
		log.Fatal(err)
	}
	n, err := s.ApplyRetention(ctx, 24*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("payloads dropped:", n)
	for _, sess := range []abi.SessionID{"keep", "expire"} {
		evs, err := s.EventsSince(ctx, sess, 0, 10)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d event(s), payload %q\n", sess, len(evs), evs[0].Payload)
	}
	// Output:
	// payloads dropped: 1
	// keep: 1 event(s), payload "{\"text\":\"an old message\"}"
	// expire: 1 event(s), payload ""
}
