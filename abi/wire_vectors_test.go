package abi_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
)

var update = flag.Bool("update", false, "rewrite testdata/wire-vectors.json from the values in wire_vectors_test.go")

const vectorsFile = "testdata/wire-vectors.json"

// vectorFile is the layout of testdata/wire-vectors.json: for each value,
// its type, its JSON form (for reading) and the hex of its wire encoding.
type vectorFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
	Hex   string          `json:"hex"`
}

// wireVectors are the values of the vectors file. Changing one changes
// the ABI: a vector's encoding must never change within ABI major 1.
func wireVectors() []struct {
	name string
	v    wireValue
} {
	ts := time.Date(2026, 5, 11, 13, 28, 45, 123456789, time.UTC)
	in, cw1h := abi.NanoUSD(3_000_000_000), abi.NanoUSD(6_000_000_000)
	price := abi.AttemptPrice{Source: "genai-prices 2026-08-21", Input: &in, CacheWrite1h: &cw1h}
	att := abi.ProviderAttempt{ID: 4, Session: "s1", Turn: 2, Provider: "anthropic", Model: "claude-sonnet-4-5", RequestID: "req_1",
		StartedAt: ts, EndedAt: ts.Add(1500 * time.Millisecond), TerminatedReason: abi.AttemptComplete,
		InputTokens: 10, OutputTokens: 300, CacheReadTokens: 1000, CacheWriteTokens: 40, CacheWrite1hTokens: 2048, EstimatedUSD: 0.25,
		Price: &price}
	ev := abi.EventEnvelope{ID: 7, Session: "s1", Turn: 1, Kind: abi.KindUserMessage, TS: ts, Payload: json.RawMessage(`{"text":"hi"}`)}
	call := abi.EventEnvelope{ID: 8, Session: "s1", Turn: 1, Kind: abi.KindToolCall, TS: ts.Add(time.Second),
		Payload: json.RawMessage(`{"id":"c1","name":"bash","input":{"cmd":"ls"}}`)}
	return []struct {
		name string
		v    wireValue
	}{
		{"event zero value", &abi.EventEnvelope{}},
		{"event user message", &ev},
		{"event payload dropped by retention (nil)", &abi.EventEnvelope{ID: 9, Session: "s1", Kind: abi.KindSystem, TS: ts}},
		{"event empty payload", &abi.EventEnvelope{ID: 10, Session: "s1", Kind: abi.KindSystem, TS: ts, Payload: json.RawMessage{}}},
		{"event before 1970, negative turn", &abi.EventEnvelope{ID: 1, Session: "s", Turn: -1, Kind: "k", TS: time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC)}},
		{"event year 9999, largest ID", &abi.EventEnvelope{ID: math.MaxUint64, Session: "s", Kind: "k", TS: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{"past session", &abi.PastSession{ID: "s1", FirstSeen: ts, LastSeen: ts.Add(time.Hour), Events: 42, LastTurn: 7, ToolCalls: 12, FirstUserMessage: "fix the build ✓", Pinned: true}},
		{"tool intent", &abi.ToolIntent{Session: "s1", Turn: 1, CallID: "c1", Tool: "bash", ArgsHash: "9f86d081884c7d65", Args: json.RawMessage(`{"cmd":"ls"}`), StartedAt: ts}},
		{"tool outcome error", &abi.ToolOutcome{Session: "s1", CallID: "c1", Status: abi.StatusError, Result: json.RawMessage(`{"exit":1}`), Error: "exit 1", EndedAt: ts}},
		{"price, every kind", &abi.AttemptPrice{Source: "t", Input: &in, Output: &in, CacheRead: &in, CacheWrite: &in, CacheWrite1h: &cw1h}},
		{"price, 1-hour cache write only", &abi.AttemptPrice{Source: "t", CacheWrite1h: &cw1h}},
		{"price, unpriced", &abi.AttemptPrice{Source: abi.UnpricedPrefix + "unknown model"}},
		{"attempt with price", &att},
		{"attempt without price", &abi.ProviderAttempt{ID: 5, Session: "s1", Turn: 2, Provider: "openai", Model: "gpt-5",
			StartedAt: ts, EndedAt: ts, TerminatedReason: abi.AttemptTimeout, EstimatedUSD: 0}},
		{"events request", &abi.EventsRequest{Session: "s1", After: 300, Limit: 256, MaxBytes: 1 << 20}},
		{"event batch", &abi.EventBatch{Events: []abi.EventEnvelope{ev, call}, Next: 8, More: true}},
		{"event batch empty", &abi.EventBatch{Next: 8}},
		{"sessions request", &abi.SessionsRequest{Limit: 100}},
		{"session list", &abi.SessionList{Sessions: []abi.PastSession{{ID: "s1", FirstSeen: ts, LastSeen: ts, Events: 1}, {ID: "s2"}}}},
		{"session request", &abi.SessionRequest{Session: "s1"}},
		{"intent list", &abi.IntentList{Intents: []abi.ToolIntent{{Session: "s1", Turn: 3, CallID: "c9", Tool: "read", ArgsHash: "00", StartedAt: ts}}}},
		{"turn request", &abi.TurnRequest{Session: "s1", Turn: 2}},
		{"attempt list", &abi.AttemptList{Attempts: []abi.ProviderAttempt{att}}},
		{"append result", &abi.AppendResult{ID: 1234567}},
		{"model step", &abi.ModelStep{Turn: 1, Events: []abi.EventEnvelope{call}, Attempts: []abi.ProviderAttempt{att}}},
		{"tool call", &abi.ToolCall{CallID: "c1", Tool: "bash", Args: json.RawMessage(`{"cmd":"ls"}`)}},
		{"tool call without arguments", &abi.ToolCall{CallID: "c2", Tool: "clock"}},
	}
}

// TestWireVectors checks the encodings of fixed values against
// testdata/wire-vectors.json, both ways. go test -run WireVectors -update
// rewrites the file.
func TestWireVectors(t *testing.T) {
	var want vectorFile
	want.Comment = "Wire encodings of gofastr guest ABI v1 values (package abi): for each value, " +
		"its type, its JSON form and the hex of its binary encoding. Generated by go test ./abi -run WireVectors -update."
	for _, wv := range wireVectors() {
		enc, err := wv.v.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: %v", wv.name, err)
		}
		js, err := json.Marshal(wv.v)
		if err != nil {
			t.Fatalf("%s: %v", wv.name, err)
		}
		want.Vectors = append(want.Vectors, vector{Name: wv.name, Type: reflect.TypeOf(wv.v).Elem().Name(), Value: js, Hex: hex.EncodeToString(enc)})
	}
	if *update {
		out, err := json.MarshalIndent(want, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d vectors to %s", len(want.Vectors), vectorsFile)
	}
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var got vectorFile
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	if len(got.Vectors) != len(want.Vectors) {
		t.Fatalf("%s has %d vectors, the test %d (run with -update after an intended change)", vectorsFile, len(got.Vectors), len(want.Vectors))
	}
	vs := wireVectors()
	for i, g := range got.Vectors {
		w := want.Vectors[i]
		if g.Name != w.Name || g.Type != w.Type || g.Hex != w.Hex {
			t.Errorf("vector %d %q (%s):\n file %s\n code %s", i, w.Name, w.Type, g.Hex, w.Hex)
		}
		var gv, wv bytes.Buffer
		if json.Compact(&gv, g.Value) != nil || json.Compact(&wv, w.Value) != nil || gv.String() != wv.String() {
			t.Errorf("vector %q: JSON value in the file %s, from the code %s", w.Name, g.Value, w.Value)
		}
		// Decoding the file's bytes gives the value back.
		b, err := hex.DecodeString(g.Hex)
		if err != nil {
			t.Fatalf("vector %q: %v", g.Name, err)
		}
		dec := newOf(vs[i].v)
		if err := dec.UnmarshalBinary(b); err != nil {
			t.Errorf("vector %q: decoding %s: %v", g.Name, g.Hex, err)
		} else if !reflect.DeepEqual(dec, vs[i].v) {
			t.Errorf("vector %q decodes to %+v, want %+v", g.Name, dec, vs[i].v)
		}
	}
	if strings.Contains(string(raw), "\r") {
		t.Errorf("%s has CR line endings", vectorsFile)
	}
}
