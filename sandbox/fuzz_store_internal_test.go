package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// fuzzStoreKey is the fixed data key of the fuzz store; a test constant,
// not a secret.
var fuzzStoreKey = bytes.Repeat([]byte{0x5f}, 32)

// newFuzzStore returns an encrypted store holding the memSource events,
// an orphaned tool intent and a provider attempt of session "s".
func newFuzzStore(tb testing.TB) *host.Store {
	s, err := host.OpenEncrypted(filepath.Join(tb.TempDir(), "sessions.db"), host.EncryptionAtRest, fuzzStoreKey)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	ctx := context.Background()
	for _, e := range newMemSource().events {
		e.ID = 0
		if _, err := s.Append(ctx, e); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, abi.EventEnvelope{Session: "other", Turn: 1, Kind: abi.KindUserMessage, TS: time.Unix(1, 0).UTC(), Payload: json.RawMessage(`{"text":"x"}`)}); err != nil {
		tb.Fatal(err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", Turn: 1, CallID: "c9", Tool: "t", Args: json.RawMessage(`{"a":1}`), StartedAt: ts}); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.RecordAttempt(ctx, abi.ProviderAttempt{Session: "s", Turn: 1, Provider: "p", Model: "m",
		TerminatedReason: abi.AttemptComplete, StartedAt: ts, EndedAt: ts.Add(time.Second)}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// FuzzHostFunctionsStore is FuzzHostFunctions with an encrypted store as
// the run's source (the replayed session, the events, sessions, orphaned
// intents and attempts a guest reads come from the store's read paths,
// with whatever limits, IDs, turns and session names a hostile guest
// passes) and appends going to an in-memory sink. The same invariants
// hold: no call fails or panics, nothing outside the output buffer
// changes, every status is known and consistent with the buffer.
func FuzzHostFunctionsStore(f *testing.F) {
	h := newFuzzHost(f)
	store := newFuzzStore(f)
	req := func(v interface{ MarshalBinary() ([]byte, error) }) []byte {
		b, err := v.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	seeds := [][]byte{
		req(&abi.EventsRequest{Session: "s", Limit: 2}),
		req(&abi.EventsRequest{Session: "s", After: 3}),
		req(&abi.EventsRequest{Session: "s", After: 1 << 62, Limit: 1 << 31}),
		req(&abi.SessionsRequest{Limit: 1}),
		req(&abi.SessionsRequest{Limit: 1<<32 - 1}),
		req(&abi.SessionRequest{Session: "s"}),
		req(&abi.TurnRequest{Session: "s", Turn: 1}),
		req(&abi.TurnRequest{Session: "s", Turn: -1 << 63}),
		req(&abi.EventEnvelope{Session: "s", Kind: abi.KindUserMessage, Payload: json.RawMessage(`{"text":"hi"}`)}),
		req(&abi.ToolCall{CallID: "c1", Tool: "t"}),
	}
	for fn := range h.names {
		for _, s := range seeds {
			f.Add(uint8(fn), uint32(1024), uint32(len(s)), uint32(8192), uint32(4096), s, uint8(1))
		}
	}
	f.Fuzz(func(t *testing.T, fn uint8, reqPtr, reqLen, outPtr, outCap uint32, payload []byte, then uint8) {
		cfg := NewRunConfig().WithSource(store).WithSessions("s", "other").WithWrite(newMemSource()).WithReplay("s").WithMaxLog(1 << 10)
		st := newRunState(&cfg)
		if err := st.loadReplay(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx := withRunState(context.Background(), st)
		mem := h.mod.Memory()
		if uint64(reqPtr)+uint64(len(payload)) <= uint64(mem.Size()) {
			mem.Write(reqPtr, payload)
		}
		i := int(fn) % len(h.names)
		h.call(t, ctx, i, reqPtr, reqLen, outPtr, outCap)
		for k := range int(then % 4) {
			j := (i + k + 1) % len(h.names)
			if k == 0 {
				j = slices.Index(h.names, abi.FuncTakeResult)
			}
			h.call(t, ctx, j, reqPtr, reqLen, outPtr, outCap)
		}
		st.replay.finish()
	})
}
