package abi_test

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
)

// benchWords are the words of the generated message texts.
var benchWords = strings.Fields(`the a of to and in is it that for file function test error return value
	go build run cmd internal package import func struct type string int nil err if else range
	"quoted" path/to/main.go line:42 {braces} tab	separated unicode✓ naïve 'single' back\slash`)

// benchText returns text of about n bytes: words, spaces and newlines.
func benchText(r *rand.Rand, n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(benchWords[r.IntN(len(benchWords))])
		if r.IntN(12) == 0 {
			sb.WriteByte('\n')
		} else {
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

func benchJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// benchEvents returns n events shaped like an agent session's: user and
// assistant messages, tool calls and their results, with JSON payloads of
// 300 bytes to 2 KB. The same seed gives the same events.
func benchEvents(n int, seed uint64) []abi.EventEnvelope {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ts := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	sess := abi.SessionID("9f3c2a71-4b8e-4c1d-a6f0-2e5d7b9c1a34")
	events := make([]abi.EventEnvelope, n)
	turn := 0
	for i := range events {
		size := 300 + r.IntN(1700)
		kind := [...]string{abi.KindUserMessage, abi.KindAssistantMessage, abi.KindToolCall, abi.KindToolResult}[i%4]
		callID := "toolu_01" + strconv.FormatUint(r.Uint64(), 36)
		var payload json.RawMessage
		switch kind {
		case abi.KindUserMessage:
			turn++
			payload = benchJSON(map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": benchText(r, size-60)}}})
		case abi.KindAssistantMessage:
			payload = benchJSON(map[string]any{"role": "assistant", "model": "claude-sonnet-4-5", "content": []any{
				map[string]any{"type": "text", "text": benchText(r, size-100)}}, "stop_reason": "tool_use"})
		case abi.KindToolCall:
			payload = benchJSON(map[string]any{"type": "tool_use", "id": callID, "name": "Bash", "input": map[string]any{
				"command": benchText(r, size/3), "description": benchText(r, size-size/3-120), "timeout": 120000}})
		case abi.KindToolResult:
			payload = benchJSON(map[string]any{"type": "tool_result", "tool_use_id": callID, "is_error": r.IntN(10) == 0,
				"content": benchText(r, size-90)})
		}
		ts = ts.Add(time.Duration(r.IntN(5_000_000_000)))
		events[i] = abi.EventEnvelope{ID: uint64(1000 + 3*i), Session: sess, Turn: turn, Kind: kind, TS: ts, Payload: payload}
	}
	return events
}

// benchStep returns a model step: an assistant message and two tool calls,
// with a failed and a retried provider attempt.
func benchStep() abi.ModelStep {
	events := benchEvents(8, 2)
	step := abi.ModelStep{Turn: int64(events[5].Turn), Events: []abi.EventEnvelope{events[5], events[6], events[2]}}
	start := events[5].TS.Add(-3 * time.Second)
	in, out, cr, cw, cw1h := abi.NanoUSD(3_000_000_000), abi.NanoUSD(15_000_000_000), abi.NanoUSD(300_000_000),
		abi.NanoUSD(3_750_000_000), abi.NanoUSD(6_000_000_000)
	price := &abi.AttemptPrice{Source: "pydantic/genai-prices@47df840a5ab10bbcffb8e5ac01b9899032245d1b 2026-08-21",
		Input: &in, Output: &out, CacheRead: &cr, CacheWrite: &cw, CacheWrite1h: &cw1h}
	step.Attempts = []abi.ProviderAttempt{
		{ID: 41, Session: string(events[5].Session), Turn: events[5].Turn, Provider: "anthropic", Model: "claude-sonnet-4-5",
			StartedAt: start, EndedAt: start.Add(900 * time.Millisecond), TerminatedReason: abi.AttemptHTTPError,
			InputTokens: 12034, EstimatedUSD: 0.036102, Price: price},
		{ID: 42, Session: string(events[5].Session), Turn: events[5].Turn, Provider: "anthropic", Model: "claude-sonnet-4-5",
			RequestID: "req_011CUmTmPyN5vxqvRJmcN1a7", StartedAt: start.Add(time.Second), EndedAt: events[5].TS,
			TerminatedReason: abi.AttemptComplete, InputTokens: 12, OutputTokens: 412, CacheReadTokens: 11890,
			CacheWriteTokens: 130, CacheWrite1hTokens: 2048, EstimatedUSD: 0.02366535, Price: price},
	}
	return step
}

// The benchmarks below compare the binary wire encoding with encoding/json
// on the same values: encode, decode, and both (what one host call costs
// the two sides together). docs/BENCHMARKS.md has the figures.

func BenchmarkWire(b *testing.B) {
	batch := abi.EventBatch{Events: benchEvents(256, 1), Next: 1000 + 3*255, More: true}
	step := benchStep()
	type value interface {
		AppendBinary([]byte) ([]byte, error)
	}
	for _, tc := range []struct {
		name string
		v    value
		new  func() any
	}{
		{"EventBatch256", batch, func() any { return new(abi.EventBatch) }},
		{"ModelStep", step, func() any { return new(abi.ModelStep) }},
	} {
		bin, err := tc.v.AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		js, err := json.Marshal(tc.v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/binary/encode", func(b *testing.B) {
			buf := make([]byte, 0, len(bin))
			for b.Loop() {
				buf, _ = tc.v.AppendBinary(buf[:0])
			}
			b.ReportMetric(float64(len(bin)), "bytes")
		})
		b.Run(tc.name+"/binary/decode", func(b *testing.B) {
			dst := tc.new().(interface{ UnmarshalBinary([]byte) error })
			for b.Loop() {
				if err := dst.UnmarshalBinary(bin); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(bin)), "bytes")
		})
		b.Run(tc.name+"/binary/both", func(b *testing.B) {
			dst := tc.new().(interface{ UnmarshalBinary([]byte) error })
			buf := make([]byte, 0, len(bin))
			for b.Loop() {
				buf, _ = tc.v.AppendBinary(buf[:0])
				if err := dst.UnmarshalBinary(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/json/encode", func(b *testing.B) {
			for b.Loop() {
				if _, err := json.Marshal(tc.v); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(js)), "bytes")
		})
		b.Run(tc.name+"/json/decode", func(b *testing.B) {
			for b.Loop() {
				if err := json.Unmarshal(js, tc.new()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(js)), "bytes")
		})
		b.Run(tc.name+"/json/both", func(b *testing.B) {
			for b.Loop() {
				out, err := json.Marshal(tc.v)
				if err != nil {
					b.Fatal(err)
				}
				if err := json.Unmarshal(out, tc.new()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
