package host_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// TestPayloadLimit: a payload of MaxPayloadSize bytes (incompressible) is
// stored and read back; one byte more is refused with ErrPayloadTooLarge,
// stores nothing and leaves the store usable; so are tool arguments and
// results.
func TestPayloadLimit(t *testing.T) {
	ctx := context.Background()
	s, _ := openPlainStore(t)

	// {"x":"<hex>"}: n bytes (n even), incompressible.
	payload := func(n int) json.RawMessage {
		raw := make([]byte, (n-8)/2)
		rand.Read(raw)
		return json.RawMessage(`{"x":"` + hex.EncodeToString(raw) + `"}`)
	}
	max := payload(host.MaxPayloadSize)
	if len(max) != host.MaxPayloadSize || !json.Valid(max) {
		t.Fatalf("test payload of %d bytes, valid %v", len(max), json.Valid(max))
	}
	id, err := s.Append(ctx, abi.EventEnvelope{Session: "big", Turn: 1, Kind: abi.KindAssistantMessage, Payload: max})
	if err != nil {
		t.Fatalf("payload of MaxPayloadSize: %v", err)
	}
	over := append(json.RawMessage(`{"y":1,`), max[1:]...)
	if _, err := s.Append(ctx, abi.EventEnvelope{Session: "big", Turn: 2, Kind: abi.KindAssistantMessage, Payload: over}); !errors.Is(err, host.ErrPayloadTooLarge) {
		t.Errorf("payload of %d bytes: %v, want ErrPayloadTooLarge", len(over), err)
	}
	// 64 MiB incompressible used to run SQLite in wazero out of memory on
	// the writer goroutine: a panic no caller could recover.
	huge := payload(64 << 20)
	if _, err := s.Append(ctx, abi.EventEnvelope{Session: "big", Turn: 2, Kind: abi.KindToolResult, Payload: huge}); !errors.Is(err, host.ErrPayloadTooLarge) {
		t.Errorf("payload of 64 MiB: %v, want ErrPayloadTooLarge", err)
	}
	if err := s.RecordToolIntent(ctx, abi.ToolIntent{Session: "big", Turn: 2, CallID: "c", Tool: "t", ArgsHash: host.HashArgs(over), Args: over}); !errors.Is(err, host.ErrPayloadTooLarge) {
		t.Errorf("tool arguments of %d bytes: %v, want ErrPayloadTooLarge", len(over), err)
	}
	evs, err := s.EventsSince(ctx, "big", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ID != id || string(evs[0].Payload) != string(max) {
		t.Fatalf("read back %d events, want the one of MaxPayloadSize", len(evs))
	}
	if _, err := s.Append(ctx, abi.EventEnvelope{Session: "big", Turn: 3, Kind: abi.KindUserMessage, Payload: json.RawMessage(`{"ok":true}`)}); err != nil {
		t.Errorf("append after a refused one: %v", err)
	}
}
