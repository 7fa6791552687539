package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

// TestToolIntentsOutcomes reads every intent and outcome of one session,
// answered or not, in their documented order, from a second handle, and
// leaves other sessions out.
func TestToolIntentsOutcomes(t *testing.T) {
	ctx := context.Background()
	s, path := openEncStore(t)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	intents := []abi.ToolIntent{
		{Session: "s", Turn: 1, CallID: "b", Tool: "Read", Args: json.RawMessage(`{"path":"a.go"}`), StartedAt: t0},
		{Session: "s", Turn: 1, CallID: "a", Tool: "Bash", StartedAt: t0}, // same time: call ID decides
		{Session: "s", Turn: 2, CallID: "c", Tool: "Edit", Args: json.RawMessage(`{"k":"sk-ant-api03-` + fakeKeyTail + `"}`), StartedAt: t0.Add(time.Second)},
		{Session: "other", Turn: 1, CallID: "x", Tool: "Read", StartedAt: t0},
	}
	for _, in := range intents {
		if err := s.RecordToolIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	outs := []abi.ToolOutcome{
		{Session: "s", CallID: "b", Status: abi.StatusOK, Result: json.RawMessage(`{"n":1}`), EndedAt: t0.Add(3 * time.Second)},
		{Session: "s", CallID: "a", Status: abi.StatusError, Error: "exit 1", EndedAt: t0.Add(2 * time.Second)},
		{Session: "other", CallID: "x", Status: abi.StatusOK, EndedAt: t0},
	}
	for _, o := range outs {
		if err := s.RecordToolOutcome(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	r, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gotIn, err := r.ToolIntents(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, in := range gotIn {
		calls = append(calls, in.CallID)
		if in.ArgsHash == "" || in.Session != "s" {
			t.Errorf("intent %+v: missing hash or wrong session", in)
		}
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(calls, want) {
		t.Fatalf("intents %v, want %v", calls, want)
	}
	if gotIn[0].Args != nil || string(gotIn[1].Args) != `{"path":"a.go"}` {
		t.Errorf("args %q and %q, want nil and the recorded ones", gotIn[0].Args, gotIn[1].Args)
	}
	if string(gotIn[2].Args) == string(intents[2].Args) {
		t.Errorf("intent args not redacted: %s", gotIn[2].Args)
	}
	if !gotIn[2].StartedAt.Equal(t0.Add(time.Second)) || gotIn[2].Turn != 2 || gotIn[2].Tool != "Edit" {
		t.Errorf("intent c read back as %+v", gotIn[2])
	}
	gotOut, err := r.ToolOutcomes(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(gotOut) != 2 || gotOut[0].CallID != "a" || gotOut[1].CallID != "b" {
		t.Fatalf("outcomes %+v, want a then b", gotOut)
	}
	if gotOut[0].Error != "exit 1" || gotOut[0].Result != nil || gotOut[0].Status != abi.StatusError {
		t.Errorf("outcome a read back as %+v", gotOut[0])
	}
	if string(gotOut[1].Result) != `{"n":1}` || !gotOut[1].EndedAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("outcome b read back as %+v", gotOut[1])
	}
	if _, err := r.ToolIntents(ctx, ""); !errors.Is(err, host.ErrEmptySession) {
		t.Errorf("ToolIntents(\"\") = %v, want ErrEmptySession", err)
	}
	if _, err := r.ToolOutcomes(ctx, ""); !errors.Is(err, host.ErrEmptySession) {
		t.Errorf("ToolOutcomes(\"\") = %v, want ErrEmptySession", err)
	}
	if none, err := r.ToolIntents(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Errorf("ToolIntents(nobody) = %v, %v; want none", none, err)
	}
}

// TestRolloverToolIntentsOutcomes reads a session's calls across a change
// of month: an intent in one month, its outcome in the next.
func TestRolloverToolIntentsOutcomes(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{t: utc(2026, 10, 31, 23, 0)}
	m := newRollover(t, t.TempDir(), kekConfig(clock))
	if err := m.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", Turn: 1, CallID: "a", Tool: "Bash", StartedAt: clock.now()}); err != nil {
		t.Fatal(err)
	}
	clock.set(utc(2026, 11, 1, 0, 5))
	if err := m.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", Turn: 2, CallID: "b", Tool: "Read", StartedAt: clock.now()}); err != nil {
		t.Fatal(err)
	}
	if err := m.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: "a", Status: abi.StatusOK, EndedAt: clock.now()}); err != nil {
		t.Fatal(err)
	}
	in, err := m.ToolIntents(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 || in[0].CallID != "a" || in[1].CallID != "b" {
		t.Fatalf("intents across months %+v, want a then b", in)
	}
	out, err := m.ToolOutcomes(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].CallID != "a" || out[0].Status != abi.StatusOK {
		t.Fatalf("outcomes across months %+v, want a", out)
	}
}

// fakeKeyTail completes a made-up Anthropic API key: 93 URL-safe
// characters and "AA", the shape DefaultRedactor recognises.
var fakeKeyTail = strings.Repeat("Xy7_", 23) + "zAA"

type toolCallsArgs struct {
	Path string
	N    int
}

var _ = proc.Role("toolcalls", func() int {
	var a toolCallsArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenEncrypted(a.Path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := range a.N {
		call := fmt.Sprintf("child-%03d", i)
		if err := s.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", Turn: i, CallID: call, Tool: "Bash", StartedAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			proc.Fail("intent: %v", err)
		}
		if i%2 == 0 {
			if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: call, Status: abi.StatusOK, EndedAt: t0.Add(time.Duration(i)*time.Second + time.Millisecond)}); err != nil {
				proc.Fail("outcome: %v", err)
			}
		}
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
})

// TestToolIntentsOutcomesProcesses has another OS process record tool
// calls while this one records its own on the same store: both read
// every call of both, in order.
func TestToolIntentsOutcomesProcesses(t *testing.T) {
	proc.Skip(t)
	ctx := context.Background()
	s, path := openEncStore(t)
	const n = 40
	p := proc.Start(t, proc.Spec{Role: "toolcalls", Args: toolCallsArgs{Path: path, N: n}, Env: childEnv(childCacheDir(t))})
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 500, time.UTC)
	for i := range n {
		call := fmt.Sprintf("parent-%03d", i)
		if err := s.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", Turn: i, CallID: call, Tool: "Read", StartedAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: call, Status: abi.StatusOK, EndedAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.Copy(io.Discard, p.Stdout()); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	in, err := s.ToolIntents(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.ToolOutcomes(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2*n || len(out) != n+n/2 {
		t.Fatalf("%d intents and %d outcomes, want %d and %d", len(in), len(out), 2*n, n+n/2)
	}
	for i := range in {
		// Child and parent alternate: second i of the child, then
		// second i (and 500 ns) of the parent.
		want := fmt.Sprintf("child-%03d", i/2)
		if i%2 == 1 {
			want = fmt.Sprintf("parent-%03d", i/2)
		}
		if in[i].CallID != want {
			t.Fatalf("intent %d is %s, want %s", i, in[i].CallID, want)
		}
	}
	for i := 1; i < len(out); i++ {
		if out[i].EndedAt.Before(out[i-1].EndedAt) {
			t.Fatalf("outcome %d (%s) ends before outcome %d", i, out[i].CallID, i-1)
		}
	}
}
