package sandbox_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/gofastr/store/abi"
)

// BenchmarkWireWasm measures the guest ABI's wire encodings where guests
// use them: inside a Go wasip1 module run by wazero. The guest
// (testdata/wirebench) decodes and re-encodes (both), decodes, or encodes
// an abi.EventBatch of 256 events, or an abi.ModelStep, n times, in the
// binary encoding or in encoding/json. Each iteration of the benchmark
// runs the guest twice, with n = 1 and n = b.N, and reports as wasm-ns/op the difference of the two
// run times divided by b.N-1: the cost of one operation in the guest,
// without its start-up. The guest sees the host's real clocks: with
// wazero's default fake clock (1 ms per reading) the guest's garbage
// collector paces itself so differently that the cost per operation grows
// with b.N. It needs the go command, to build the guest. The figures in
// docs/BENCHMARKS.md come from
//
//	go test -run='^$' -bench=WireWasm -benchtime=2s -count=5 ./sandbox/
func BenchmarkWireWasm(b *testing.B) {
	wasm := buildWirebench(b)
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mod, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	batch := abi.EventBatch{Events: benchEvents(256, 1), Next: 1000 + 3*255, More: true}
	stdin := frame(nil, batch)
	stdin = frame(stdin, benchStep())

	run := func(b *testing.B, mode string, n int) time.Duration {
		var stdout, stderr bytes.Buffer
		cfg := wazero.NewModuleConfig().WithName("").WithArgs("wirebench", mode, strconv.Itoa(n)).
			WithStdin(bytes.NewReader(stdin)).WithStdout(&stdout).WithStderr(&stderr).
			WithSysNanotime().WithSysWalltime().WithSysNanosleep()
		start := time.Now()
		m, err := rt.InstantiateModule(ctx, mod, cfg)
		elapsed := time.Since(start)
		if exit := (*sys.ExitError)(nil); errors.As(err, &exit) && exit.ExitCode() == 0 {
			err = nil
		}
		if err != nil {
			b.Fatalf("wirebench %s %d: %v\n%s", mode, n, err, stderr.String())
		}
		if m != nil {
			m.Close(ctx)
		}
		if want := mode + " n=" + strconv.Itoa(n) + " "; !strings.HasPrefix(stdout.String(), want) {
			b.Fatalf("wirebench %s %d printed %q, want a line starting %q", mode, n, stdout.String(), want)
		}
		return elapsed
	}
	var modes []string
	for _, typ := range []string{"EventBatch", "ModelStep"} {
		for _, op := range []string{"both", "decode", "encode"} {
			for _, format := range []string{"binary", "json"} {
				modes = append(modes, format+"/"+typ+"/"+op)
			}
		}
	}
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			if b.N == 1 {
				run(b, mode, 1) // the framework's probe; one run tells nothing
				return
			}
			b.StopTimer()
			one := run(b, mode, 1)
			b.StartTimer()
			many := run(b, mode, b.N)
			b.ReportMetric(float64(many-one)/float64(b.N-1), "wasm-ns/op")
			b.ReportMetric(float64(one)/1e6, "startup-ms")
		})
	}
}

// buildWirebench builds testdata/wirebench for wasip1, or skips the
// benchmark saying why it cannot.
func buildWirebench(b *testing.B) []byte {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") == "" {
			b.Skipf("no go command to build the wasip1 guest: %v", err)
		}
	}
	out := filepath.Join(b.TempDir(), "wirebench.wasm")
	cmd := exec.Command(goCmd, "build", "-o", out, "./testdata/wirebench")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the wirebench guest: %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	return wasm
}

// frame appends the binary encoding of v, preceded by its length as a
// uvarint, to b.
func frame(b []byte, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	enc, err := v.MarshalBinary()
	if err != nil {
		panic(err)
	}
	b = binary.AppendUvarint(b, uint64(len(enc)))
	return append(b, enc...)
}

// The generator below is the one of abi's wire_bench_test.go, so that the
// native and in-guest figures are measured on the same values.

var benchWords = strings.Fields(`the a of to and in is it that for file function test error return value
	go build run cmd internal package import func struct type string int nil err if else range
	"quoted" path/to/main.go line:42 {braces} tab	separated unicode✓ naïve 'single' back\slash`)

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
