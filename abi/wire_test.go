package abi_test

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
)

// wireValue is what every wire type implements, on its pointer.
type wireValue interface {
	encoding.BinaryAppender
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

var (
	tsBase   = time.Date(2026, 5, 11, 13, 28, 45, 123456789, time.UTC)
	tsFirst  = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)                // 1 ns after the zero time
	tsOld    = time.Date(1600, 2, 29, 23, 59, 59, 999999999, time.UTC) // before int64 Unix nanoseconds
	tsFar    = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	tsFarBC  = time.Date(-4000, 3, 1, 0, 0, 0, 5, time.UTC)
	tsEpoch  = time.Unix(0, 0).UTC()
	tsBefore = time.Unix(-1, 1).UTC() // negative seconds, positive nanoseconds
)

func nano(n int64) *abi.NanoUSD { v := abi.NanoUSD(n); return &v }

func sampleEvent(i int) abi.EventEnvelope {
	return abi.EventEnvelope{
		ID: uint64(100 + i), Session: "0b6f6e0e-5d3c-4a51-9b8e-3f1f1c0f2a10", Turn: i / 3,
		Kind: abi.KindAssistantMessage, TS: tsBase.Add(time.Duration(i) * time.Millisecond),
		Payload: json.RawMessage(`{"text":"hello ` + strings.Repeat("x", i) + `"}`),
	}
}

func sampleAttempt() abi.ProviderAttempt {
	return abi.ProviderAttempt{ID: 4, Session: "s1", Turn: 2, Provider: "anthropic", Model: "claude", RequestID: "req_1",
		StartedAt: tsBase, EndedAt: tsBase.Add(time.Second), TerminatedReason: abi.AttemptEOF,
		InputTokens: 10, OutputTokens: 20, CacheReadTokens: 30, CacheWriteTokens: 40, CacheWrite1hTokens: 50, EstimatedUSD: 0.25,
		Price: &abi.AttemptPrice{Source: "genai-prices 2026-07-24", Input: nano(3_000_000_000), CacheRead: nano(300_000_000),
			CacheWrite1h: nano(6_000_000_000)}}
}

// wireCases returns, for every wire type, values covering its corners.
// The pointer of each value is what gets encoded and decoded.
func wireCases() map[string][]wireValue {
	allPrices := abi.AttemptPrice{Source: "p 2026", Input: nano(1), Output: nano(-2), CacheRead: nano(math.MaxInt64),
		CacheWrite: nano(math.MinInt64), CacheWrite1h: nano(0)}
	att := sampleAttempt()
	unpriced := abi.ProviderAttempt{ID: -1, Session: "s", Turn: -5, Provider: "p", Model: "m", StartedAt: tsBase, EndedAt: tsBase,
		TerminatedReason: abi.AttemptComplete, EstimatedUSD: math.Inf(1),
		Price: &abi.AttemptPrice{Source: abi.UnpricedPrefix + "unknown model"}}
	only1h := abi.ProviderAttempt{Session: "s", CacheWrite1hTokens: math.MaxInt64, EstimatedUSD: 1e-9,
		Price: &abi.AttemptPrice{Source: "t", CacheWrite1h: nano(7)}}
	var events []abi.EventEnvelope
	for i := range 5 {
		events = append(events, sampleEvent(i))
	}
	return map[string][]wireValue{
		"EventEnvelope": {
			&abi.EventEnvelope{},
			&abi.EventEnvelope{ID: 7, Session: "s1", Turn: 2, Kind: abi.KindUserMessage, TS: tsBase, Payload: json.RawMessage(`"hi"`)},
			&abi.EventEnvelope{Session: "s1", Kind: abi.KindSystem, TS: tsBase, Payload: json.RawMessage{}}, // empty, not nil
			&abi.EventEnvelope{Session: "s1", Kind: abi.KindSystem, TS: tsBase, Payload: nil},               // dropped by retention
			&abi.EventEnvelope{ID: math.MaxUint64, Session: "\x00\xff not utf-8", Turn: math.MinInt64, Kind: "k", TS: tsFirst},
			&abi.EventEnvelope{Turn: math.MaxInt64, TS: tsOld},
			&abi.EventEnvelope{TS: tsFar, Payload: bytes.Repeat([]byte("y"), 70000)},
			&abi.EventEnvelope{TS: tsFarBC},
			&abi.EventEnvelope{TS: tsEpoch},
			&abi.EventEnvelope{TS: tsBefore},
		},
		"PastSession": {
			&abi.PastSession{},
			&abi.PastSession{ID: "s1", FirstSeen: tsBase, LastSeen: tsFar, Events: 3, LastTurn: 1, ToolCalls: 1, FirstUserMessage: "héllo ✓", Pinned: true},
			&abi.PastSession{ID: "s2", LastSeen: tsBase, Events: math.MaxInt64, LastTurn: -1, ToolCalls: math.MinInt64},
		},
		"ToolIntent": {
			&abi.ToolIntent{},
			&abi.ToolIntent{Session: "s1", Turn: 1, CallID: "c1", Tool: "bash", ArgsHash: strings.Repeat("ab", 32), Args: json.RawMessage(`{"cmd":"ls"}`), StartedAt: tsBase},
			&abi.ToolIntent{Session: "s1", Args: json.RawMessage{}, StartedAt: tsOld},
		},
		"ToolOutcome": {
			&abi.ToolOutcome{},
			&abi.ToolOutcome{Session: "s1", CallID: "c1", Status: abi.StatusError, Error: "exit 1", EndedAt: tsBase},
			&abi.ToolOutcome{Session: "s1", CallID: "c1", Status: abi.StatusOK, Result: json.RawMessage(`{"out":"ok"}`), EndedAt: tsFar},
			&abi.ToolOutcome{Session: "s1", Result: json.RawMessage{}},
		},
		"AttemptPrice": {
			&abi.AttemptPrice{},
			&allPrices,
			&abi.AttemptPrice{Source: "only 1h", CacheWrite1h: nano(6_000_000_000)},
			&abi.AttemptPrice{Source: "only output", Output: nano(15_000_000_000)},
		},
		"ProviderAttempt": {&abi.ProviderAttempt{}, &att, &unpriced, &only1h,
			&abi.ProviderAttempt{Session: "s", StartedAt: tsFarBC, EndedAt: tsFar, EstimatedUSD: -0.0, Price: &allPrices}},
		"EventsRequest": {
			&abi.EventsRequest{},
			&abi.EventsRequest{Session: "s1", After: math.MaxUint64, Limit: math.MaxUint32, MaxBytes: 1 << 20},
		},
		"EventBatch": {
			&abi.EventBatch{},
			&abi.EventBatch{Events: events, Next: 104, More: true},
			&abi.EventBatch{Events: []abi.EventEnvelope{{Session: "a", Kind: "k"}, {Session: "b", Kind: "k"}, {Session: "a", Kind: "j"}}, Next: 9},
		},
		"SessionsRequest": {&abi.SessionsRequest{}, &abi.SessionsRequest{Limit: 50}},
		"SessionList": {
			&abi.SessionList{},
			&abi.SessionList{Sessions: []abi.PastSession{{ID: "s1", FirstSeen: tsBase, LastSeen: tsBase, Events: 2}, {ID: "s2", Pinned: true}}},
		},
		"SessionRequest": {&abi.SessionRequest{}, &abi.SessionRequest{Session: "s1"}},
		"IntentList": {
			&abi.IntentList{},
			&abi.IntentList{Intents: []abi.ToolIntent{{Session: "s1", CallID: "c1", Tool: "bash", StartedAt: tsBase}, {Session: "s1", CallID: "c2", Args: json.RawMessage(`[]`)}}},
		},
		"TurnRequest":  {&abi.TurnRequest{}, &abi.TurnRequest{Session: "s1", Turn: math.MinInt64}, &abi.TurnRequest{Session: "s1", Turn: 3}},
		"AttemptList":  {&abi.AttemptList{}, &abi.AttemptList{Attempts: []abi.ProviderAttempt{att, unpriced, only1h}}},
		"AppendResult": {&abi.AppendResult{}, &abi.AppendResult{ID: 1 << 40}},
		"ModelStep": {
			&abi.ModelStep{},
			&abi.ModelStep{Turn: 2, Events: events[:2], Attempts: []abi.ProviderAttempt{att, only1h}},
			&abi.ModelStep{Turn: -1, Events: events[2:]},
		},
		"ToolCall": {
			&abi.ToolCall{},
			&abi.ToolCall{CallID: "toolu_01", Tool: "read_file", Args: json.RawMessage(`{"path":"/etc/hosts"}`)},
			&abi.ToolCall{CallID: "c", Args: json.RawMessage{}},
		},
	}
}

// newOf returns a new zero value of the type v points to.
func newOf(v wireValue) wireValue {
	return reflect.New(reflect.TypeOf(v).Elem()).Interface().(wireValue)
}

func TestWireRoundTrip(t *testing.T) {
	for name, vs := range wireCases() {
		for i, v := range vs {
			enc, err := v.MarshalBinary()
			if err != nil {
				t.Fatalf("%s #%d: MarshalBinary: %v", name, i, err)
			}
			prefix := []byte("prefix")
			app, err := v.AppendBinary(prefix[:len(prefix):len(prefix)])
			if err != nil {
				t.Fatalf("%s #%d: AppendBinary: %v", name, i, err)
			}
			if !bytes.HasPrefix(app, prefix) || !bytes.Equal(app[len(prefix):], enc) {
				t.Errorf("%s #%d: AppendBinary = %x, want prefix + %x", name, i, app, enc)
			}
			got := newOf(v)
			if err := got.UnmarshalBinary(enc); err != nil {
				t.Fatalf("%s #%d: UnmarshalBinary(%x): %v", name, i, enc, err)
			}
			if !reflect.DeepEqual(got, v) {
				t.Errorf("%s #%d: round trip\n got %+v\nwant %+v", name, i, got, v)
			}
			again, err := got.MarshalBinary()
			if err != nil || !bytes.Equal(again, enc) {
				t.Errorf("%s #%d: re-encoding = %x, %v; want %x", name, i, again, err, enc)
			}
		}
	}
}

// TestWireNilPayload checks that nil and empty payloads stay apart: nil
// means the payload was dropped by retention.
func TestWireNilPayload(t *testing.T) {
	for _, p := range []json.RawMessage{nil, {}} {
		in := abi.EventBatch{Events: []abi.EventEnvelope{{Session: "s", Kind: "k", Payload: p}}}
		enc, err := in.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var out abi.EventBatch
		if err := out.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if got := out.Events[0].Payload; (got == nil) != (p == nil) || len(got) != 0 {
			t.Errorf("payload %#v decoded as %#v", p, got)
		}
	}
}

// TestWireTimeLocation checks that a time in any location decodes as the
// same instant in UTC, with every nanosecond.
func TestWireTimeLocation(t *testing.T) {
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	for _, ts := range []time.Time{tsBase.In(loc), time.Now(), time.Time{}.In(loc)} {
		in := abi.ToolOutcome{EndedAt: ts}
		enc, err := in.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var out abi.ToolOutcome
		if err := out.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if !out.EndedAt.Equal(ts) || out.EndedAt.Location() != time.UTC || out.EndedAt.IsZero() != ts.IsZero() {
			t.Errorf("time %v decoded as %v", ts, out.EndedAt)
		}
		if ts.IsZero() && out.EndedAt != (time.Time{}) {
			t.Errorf("zero time %v decoded as %#v, want time.Time{}", ts, out.EndedAt)
		}
	}
}

// TestWireTruncatedAndTrailing checks that every strict prefix of a valid
// encoding, and the encoding with a byte appended, fail with ErrMalformed
// and leave the destination unchanged.
func TestWireTruncatedAndTrailing(t *testing.T) {
	for name, vs := range wireCases() {
		for i, v := range vs {
			enc, err := v.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(enc) > 4096 {
				continue // the large payload adds nothing here but time
			}
			for n := 0; n < len(enc); n++ {
				dst := newOf(v)
				if err := dst.UnmarshalBinary(enc[:n]); !errors.Is(err, abi.ErrMalformed) {
					t.Errorf("%s #%d: %d of %d bytes: err = %v, want ErrMalformed", name, i, n, len(enc), err)
				}
				if !reflect.DeepEqual(dst, newOf(v)) {
					t.Errorf("%s #%d: failed decoding changed the destination: %+v", name, i, dst)
				}
			}
			err = newOf(v).UnmarshalBinary(append(enc[:len(enc):len(enc)], 0))
			if !errors.Is(err, abi.ErrMalformed) || !strings.Contains(err.Error(), "trailing") {
				t.Errorf("%s #%d: trailing byte: err = %v, want ErrMalformed about trailing bytes", name, i, err)
			}
		}
	}
}

// TestWireDecodeCopies checks that decoded payloads and strings do not
// alias the input buffer, which a guest reuses.
func TestWireDecodeCopies(t *testing.T) {
	in := abi.EventBatch{Events: []abi.EventEnvelope{sampleEvent(1), sampleEvent(2)}}
	enc, _ := in.MarshalBinary()
	var out abi.EventBatch
	if err := out.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 0xAA
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("overwriting the input changed the decoded value: %+v", out)
	}
	// A payload cannot be appended to in place into its neighbour.
	out.Events[0].Payload = append(out.Events[0].Payload, '!')
	if !reflect.DeepEqual(out.Events[1], in.Events[1]) {
		t.Errorf("appending to one payload changed the next event: %+v", out.Events[1])
	}
}

func TestWireMalformed(t *testing.T) {
	tests := []struct {
		name string
		v    wireValue
		in   []byte
		want string
	}{
		{"empty input", &abi.AppendResult{}, nil, "ends inside"},
		{"non-minimal varint", &abi.AppendResult{}, []byte{0x81, 0x00}, "varint"},
		{"zero as two bytes", &abi.AppendResult{}, []byte{0x80, 0x00}, "varint"},
		{"varint over 64 bits", &abi.AppendResult{}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, "varint"},
		{"varint of 11 bytes", &abi.AppendResult{}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}, "varint"},
		{"uint32 over range", &abi.SessionsRequest{}, []byte{0x80, 0x80, 0x80, 0x80, 0x10}, "out of range"},
		{"string past the end", &abi.SessionRequest{}, []byte{0x05, 'a', 'b'}, "past the end"},
		{"huge string length", &abi.SessionRequest{}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "past the end"},
		{"bool 2", &abi.EventBatch{}, []byte{0x00, 0x00, 0x02}, "boolean"},
		{"time flag 2", &abi.ToolOutcome{}, []byte{0, 0, 0, 0, 0, 2}, "time flag"},
		{"nanoseconds 1e9", &abi.ToolOutcome{}, []byte{0, 0, 0, 0, 0, 1, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, "nanoseconds"},
		{"zero time as present", &abi.ToolOutcome{}, append(append([]byte{0, 0, 0, 0, 0, 1}, appendVarint(-62135596800)...), 0), "zero time"},
		{"seconds past time.Time", &abi.ToolOutcome{}, append(append([]byte{0, 0, 0, 0, 0, 1}, appendVarint(math.MaxInt64)...), 0), "range"},
		{"payload past the end", &abi.ToolCall{}, []byte{0, 0, 0x03, '{'}, "past the end"},
		{"unknown price flag", &abi.AttemptPrice{}, []byte{1, 'x', 0x20}, "presence flags"},
		{"price source not UTF-8", &abi.AttemptPrice{}, []byte{1, 0xff, 0}, "UTF-8"},
		{"1e9 events in 10 bytes", &abi.EventBatch{}, []byte{0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0, 0, 0, 0}, "count"},
		{"max count", &abi.AttemptList{}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "count"},
		{"count of 2, room for 1", &abi.SessionList{}, []byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "count"},
		{"int past int64", &abi.PastSession{}, []byte{0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, "varint"},
	}
	for _, tt := range tests {
		err := tt.v.UnmarshalBinary(tt.in)
		if !errors.Is(err, abi.ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: UnmarshalBinary(%x) = %v, want ErrMalformed saying %q", tt.name, tt.in, err, tt.want)
		}
	}
}

func appendVarint(v int64) []byte {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	var b []byte
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

// TestWireHugeCountNoAlloc checks that a claimed count the input cannot
// hold fails before anything is allocated for it.
func TestWireHugeCountNoAlloc(t *testing.T) {
	in := []byte{0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0, 0, 0, 0} // 1e9 events
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		var b abi.EventBatch
		if err := b.UnmarshalBinary(in); !errors.Is(err, abi.ErrMalformed) {
			t.Fatalf("decoding 1e9 events from 10 bytes: err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 1024 {
		t.Errorf("a huge claimed count allocated %d bytes per decoding", perRun)
	}
}

func TestWireEncodeErrors(t *testing.T) {
	bad := abi.AttemptPrice{Source: "bad \xff source"}
	att := abi.ProviderAttempt{Price: &bad}
	var b [4]byte
	for _, v := range []wireValue{&bad, &att, &abi.AttemptList{Attempts: []abi.ProviderAttempt{att}}, &abi.ModelStep{Attempts: []abi.ProviderAttempt{att}}} {
		if _, err := v.MarshalBinary(); !errors.Is(err, abi.ErrMalformed) || !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("%T with a non-UTF-8 source: MarshalBinary err = %v", v, err)
		}
		out, err := v.AppendBinary(b[:2])
		if err == nil || len(out) != 2 {
			t.Errorf("%T: failed AppendBinary returned %d bytes, err %v; want the 2 input bytes and an error", v, len(out), err)
		}
	}
	// A time.Time before the earliest Unix second an int64 holds.
	earliest := time.Unix(math.MinInt64, 0).Add(-time.Hour)
	if earliest.Unix() <= math.MaxInt64-62135596800 {
		t.Skipf("time %v has Unix() %d: it does not wrap on this Go version, nothing to test", earliest, earliest.Unix())
	}
	if _, err := (abi.EventEnvelope{TS: earliest}).MarshalBinary(); !errors.Is(err, abi.ErrMalformed) {
		t.Errorf("encoding the time %v: err = %v, want ErrMalformed", earliest, err)
	}
}
