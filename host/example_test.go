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
