package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/gofastr/store/abi"
)

// memSource is an in-memory Source and Sink for the fuzz target.
type memSource struct {
	mu     sync.Mutex
	events []abi.EventEnvelope
}

func newMemSource() *memSource {
	s := &memSource{}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i, p := range []struct{ kind, payload string }{
		{abi.KindUserMessage, `{"text":"hi"}`},
		{abi.KindAssistantMessage, `{"text":"calling"}`},
		{abi.KindToolCall, `{"call_id":"c1","tool":"t","args":{}}`},
		{abi.KindToolResult, `{"call_id":"c1","status":"ok","result":1}`},
		{abi.KindAssistantMessage, `{"text":"done"}`},
	} {
		s.events = append(s.events, abi.EventEnvelope{ID: uint64(i + 1), Session: "s", Turn: 1, Kind: p.kind, TS: ts, Payload: json.RawMessage(p.payload)})
	}
	return s
}

func (s *memSource) EventsSince(_ context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []abi.EventEnvelope
	for _, e := range s.events {
		if e.Session == sess && e.ID > since && (limit == 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *memSource) ListPastSessions(context.Context, int) ([]abi.PastSession, error) {
	return []abi.PastSession{{ID: "s", Events: 5}, {ID: "other", Events: 1}}, nil
}

func (s *memSource) OrphanIntents(_ context.Context, sess abi.SessionID) ([]abi.ToolIntent, error) {
	return []abi.ToolIntent{{Session: "s", CallID: "c9", Tool: "t"}, {Session: "other", CallID: "c8"}}, nil
}

func (s *memSource) AttemptsForTurn(_ context.Context, sess string, turn int) ([]abi.ProviderAttempt, error) {
	return []abi.ProviderAttempt{{Session: sess, Turn: turn, Provider: "p", Model: "m", TerminatedReason: abi.AttemptComplete}}, nil
}

func (s *memSource) Append(_ context.Context, e abi.EventEnvelope) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) > 10000 {
		return 0, errors.New("mem source full")
	}
	e.ID = uint64(len(s.events) + 1)
	s.events = append(s.events, e)
	return e.ID, nil
}

// trampolines is a module importing every host function and exporting, for
// each, a function "call_<name>" with the same signature that calls it: a
// way to call host functions with any arguments, as a guest would.
func trampolines() []byte {
	names := abi.Funcs()
	slices.Sort(names)
	m := wasmModule{memPages: 2}
	for i, name := range names {
		im := hostImport(abi.HostModule, name)
		m.imports = append(m.imports, im)
		var body []byte
		for p := range im.params {
			body = append(body, 0x20, byte(p)) // local.get p
		}
		body = append(body, 0x10, byte(i)) // call i
		m.funcs = append(m.funcs, wasmFunc{params: im.params, results: im.results, body: body})
		m.exports = append(m.exports, wasmExport{name: "call_" + name, kind: 0, idx: uint32(len(names) + i)})
	}
	m.exports = append(m.exports, wasmExport{name: "memory", kind: 2, idx: 0})
	return m.encode()
}

// fuzzHost is a trampoline instance in a run whose state the fuzz target
// resets for every input.
type fuzzHost struct {
	rt    *Runtime
	mod   api.Module
	names []string
	funcs []api.Function
}

func newFuzzHost(tb testing.TB) *fuzzHost {
	ctx := context.Background()
	rt, err := NewRuntime(ctx, NewRuntimeConfig())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(ctx) })
	cm, err := rt.rt.CompileModule(ctx, trampolines())
	if err != nil {
		tb.Fatal(err)
	}
	mod, err := rt.rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		tb.Fatal(err)
	}
	h := &fuzzHost{rt: rt, mod: mod, names: abi.Funcs()}
	slices.Sort(h.names)
	for _, n := range h.names {
		h.funcs = append(h.funcs, mod.ExportedFunction("call_"+n))
	}
	return h
}

// newState returns a run state granting session "s", writes and the
// replay of "s".
func (h *fuzzHost) newState(tb testing.TB) *runState {
	src := newMemSource()
	cfg := NewRunConfig().WithSource(src).WithSessions("s").WithWrite(src).WithReplay("s").WithInput([]byte("input bytes")).WithMaxLog(1 << 10)
	st := newRunState(&cfg)
	if err := st.loadReplay(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return st
}

// call calls host function fn with the arguments and checks that the call
// did not fail, that the result is consistent, and that the host wrote
// nothing outside [out, out+outCap).
func (h *fuzzHost) call(t *testing.T, ctx context.Context, fn int, req, reqLen, out, outCap uint32) {
	name := h.names[fn]
	mem := h.mod.Memory()
	size := mem.Size()
	before, _ := mem.Read(0, size)
	before = bytes.Clone(before)
	var args []uint64
	switch name {
	case abi.FuncABIVersion:
	case abi.FuncLog:
		args = []uint64{uint64(req), uint64(reqLen)}
		out, outCap = 0, 0
	case abi.FuncTakeResult:
		args = []uint64{uint64(out), uint64(outCap)}
	default:
		args = []uint64{uint64(req), uint64(reqLen), uint64(out), uint64(outCap)}
	}
	res, err := h.funcs[fn].Call(ctx, args...)
	if err != nil {
		t.Fatalf("%s%v: %v", name, args, err)
	}
	after, _ := mem.Read(0, size)
	if mem.Size() != size {
		t.Fatalf("%s changed the memory size", name)
	}
	// Nothing changed outside the output buffer.
	lo, hi := uint64(out), uint64(out)+uint64(outCap)
	for i := range before {
		if before[i] != after[i] && (uint64(i) < lo || uint64(i) >= hi) {
			t.Fatalf("%s%v wrote byte %d, outside its output buffer [%d, %d)", name, args, i, lo, hi)
		}
	}
	if name == abi.FuncABIVersion {
		if res[0] != 1<<16 {
			t.Fatalf("abi_version = %#x", res[0])
		}
		return
	}
	errno, n := abi.SplitResult(res[0])
	if !errno.Known() {
		t.Fatalf("%s%v returned unknown errno %d", name, args, errno)
	}
	inBounds := outCap == 0 || uint64(out)+uint64(outCap) <= uint64(size)
	switch {
	case !inBounds && errno != abi.ErrnoFault && name != abi.FuncLog:
		t.Fatalf("%s%v: output buffer out of bounds, errno %v", name, args, errno)
	case errno != abi.ErrnoOK && n > outCap && name != abi.FuncLog:
		t.Fatalf("%s%v: error message of %d bytes in a %d-byte buffer", name, args, n, outCap)
	}
}

// FuzzHostFunctions calls every host function with arbitrary pointers,
// lengths and request bytes, as a hostile guest could: no call may fail
// (a host panic would surface as an error), write outside the guest's
// output buffer, or return an inconsistent result.
func FuzzHostFunctions(f *testing.F) {
	h := newFuzzHost(f)
	req := func(v interface{ MarshalBinary() ([]byte, error) }) []byte {
		b, err := v.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	seeds := [][]byte{
		req(&abi.EventsRequest{Session: "s", Limit: 2}),
		req(&abi.EventsRequest{Session: "other"}),
		req(&abi.SessionsRequest{Limit: 1}),
		req(&abi.SessionRequest{Session: "s"}),
		req(&abi.SessionRequest{}),
		req(&abi.TurnRequest{Session: "s", Turn: 1}),
		req(&abi.EventEnvelope{Session: "s", Kind: abi.KindUserMessage, Payload: json.RawMessage(`{"text":"hi"}`)}),
		req(&abi.ToolCall{CallID: "c1", Tool: "t"}),
		[]byte("log message"),
		nil,
	}
	for fn := range h.names {
		for _, s := range seeds {
			f.Add(uint8(fn), uint32(1024), uint32(len(s)), uint32(8192), uint32(64), s, uint8(0))
			f.Add(uint8(fn), uint32(1024), uint32(len(s)), uint32(8192), uint32(4096), s, uint8(3))
		}
		f.Add(uint8(fn), uint32(0xfffffff0), uint32(0x20), uint32(0x1fff0), uint32(0x20), []byte{}, uint8(0))
		f.Add(uint8(fn), uint32(0), uint32(0xffffffff), uint32(0xffffffff), uint32(0xffffffff), []byte{1}, uint8(1))
	}
	f.Fuzz(func(t *testing.T, fn uint8, reqPtr, reqLen, outPtr, outCap uint32, payload []byte, then uint8) {
		st := h.newState(t)
		ctx := withRunState(context.Background(), st)
		mem := h.mod.Memory()
		// The payload goes where reqPtr points, when it fits.
		if uint64(reqPtr)+uint64(len(payload)) <= uint64(mem.Size()) {
			mem.Write(reqPtr, payload)
		}
		i := int(fn) % len(h.names)
		h.call(t, ctx, i, reqPtr, reqLen, outPtr, outCap)
		// Follow up with a few more calls on the same state: take_result
		// and another operation, so that pending results and the replay
		// cursor are exercised in sequence.
		for k := range int(then % 4) {
			j := (i + k + 1) % len(h.names)
			if k == 0 {
				j = slices.Index(h.names, abi.FuncTakeResult)
			}
			h.call(t, ctx, j, reqPtr, reqLen, outPtr, outCap)
		}
		// The run can finish whatever happened.
		st.replay.finish()
	})
}

// TestHostFunctionsWithoutRun calls host functions outside a run (no run
// state in the context): they fail with ErrnoInternal, not a panic.
func TestHostFunctionsWithoutRun(t *testing.T) {
	h := newFuzzHost(t)
	for i, name := range h.names {
		var args []uint64
		switch name {
		case abi.FuncABIVersion:
		case abi.FuncLog, abi.FuncTakeResult:
			args = []uint64{0, 16}
		default:
			args = []uint64{0, 0, 0, 64}
		}
		res, err := h.funcs[i].Call(context.Background(), args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == abi.FuncABIVersion {
			continue
		}
		if errno, _ := abi.SplitResult(res[0]); errno != abi.ErrnoInternal {
			t.Errorf("%s outside a run: %v, want ErrnoInternal", name, errno)
		}
	}
}

// TestTakeResult walks the pending-result protocol: a response larger
// than the buffer stays pending, a too-small take_result leaves it, a
// large enough one delivers it once, and any new operation drops it.
func TestTakeResult(t *testing.T) {
	h := newFuzzHost(t)
	st := h.newState(t)
	ctx := withRunState(context.Background(), st)
	mem := h.mod.Memory()
	fn := func(name string) api.Function { return h.funcs[slices.Index(h.names, name)] }
	req, _ := (&abi.EventsRequest{Session: "s"}).MarshalBinary()
	mem.Write(0, req)
	call := func(f api.Function, args ...uint64) (abi.Errno, uint32) {
		t.Helper()
		res, err := f.Call(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		return abi.SplitResult(res[0])
	}
	errno, n := call(fn(abi.FuncEventsSince), 0, uint64(len(req)), 4096, 8)
	if errno != abi.ErrnoOK || n <= 8 {
		t.Fatalf("events_since into 8 bytes: %v, %d", errno, n)
	}
	if errno, m := call(fn(abi.FuncTakeResult), 4096, uint64(n-1)); errno != abi.ErrnoRange || m == 0 {
		t.Errorf("take_result one byte short: %v, %d", errno, m)
	}
	if errno, m := call(fn(abi.FuncTakeResult), 4096, uint64(n)); errno != abi.ErrnoOK || m != n {
		t.Fatalf("take_result: %v, %d; want OK, %d", errno, m, n)
	}
	got, _ := mem.Read(4096, n)
	var batch abi.EventBatch
	if err := batch.UnmarshalBinary(got); err != nil || len(batch.Events) != 5 || batch.More {
		t.Fatalf("taken batch: %v, %d events, more %v", err, len(batch.Events), batch.More)
	}
	if errno, _ := call(fn(abi.FuncTakeResult), 4096, uint64(n)); errno != abi.ErrnoNoResult {
		t.Errorf("second take_result: %v, want ErrnoNoResult", errno)
	}
	// A new operation drops the pending result.
	if errno, _ := call(fn(abi.FuncEventsSince), 0, uint64(len(req)), 4096, 8); errno != abi.ErrnoOK {
		t.Fatal(errno)
	}
	call(fn(abi.FuncInput), 0, 0, 4096, 64)
	if errno, _ := call(fn(abi.FuncTakeResult), 4096, 1<<16); errno != abi.ErrnoNoResult {
		t.Errorf("take_result after another operation: %v, want ErrnoNoResult", errno)
	}
	// The append ran once although its response did not fit.
	app, _ := (&abi.EventEnvelope{Session: "s", Kind: "k", Payload: json.RawMessage(`{}`)}).MarshalBinary()
	mem.Write(0, app)
	if errno, _ := call(fn(abi.FuncAppendEvent), 0, uint64(len(app)), 4096, 0); errno != abi.ErrnoOK {
		t.Fatal(errno)
	}
	if errno, m := call(fn(abi.FuncTakeResult), 4096, 64); errno != abi.ErrnoOK || m == 0 {
		t.Fatalf("take_result of the append: %v", errno)
	}
	if st.appended != 1 {
		t.Errorf("%d appends, want 1", st.appended)
	}
	// Out-of-bounds buffers are faults, not traps.
	if errno, _ := call(fn(abi.FuncEventsSince), 1<<17-2, 16, 0, 64); errno != abi.ErrnoFault {
		t.Errorf("request past the end of memory: %v", errno)
	}
	if errno, _ := call(fn(abi.FuncEventsSince), 0, uint64(len(req)), 1<<17-2, 64); errno != abi.ErrnoFault {
		t.Errorf("output past the end of memory: %v", errno)
	}
	if errno, msg := call(fn(abi.FuncEventsSince), 0, abi.MaxRequest+1, 0, 64); errno != abi.ErrnoTooBig {
		t.Errorf("request over MaxRequest: %v, %d", errno, msg)
	}
}

// outcomeMemSource is a memSource that also lists recorded tool outcomes.
type outcomeMemSource struct{ *memSource }

func (outcomeMemSource) ToolOutcomes(_ context.Context, sess abi.SessionID) ([]abi.ToolOutcome, error) {
	return []abi.ToolOutcome{
		{Session: sess, CallID: "c1", Status: abi.StatusError, Error: "shadowed by the tool_result event"},
		{Session: sess, CallID: "c7", Status: abi.StatusTimeout, Error: "took too long"},
	}, nil
}

// TestReplayToolOutcomes: replay_tool answers from the tool_result event,
// and for a call without one from the source's recorded outcomes.
func TestReplayToolOutcomes(t *testing.T) {
	for _, tc := range []struct {
		src      Source
		call     string
		errno    abi.Errno
		status   string
		result   string
		errorMsg string
	}{
		{newMemSource(), "c1", abi.ErrnoOK, abi.StatusOK, "1", ""},
		{newMemSource(), "c7", abi.ErrnoNotFound, "", "", ""},
		{outcomeMemSource{newMemSource()}, "c1", abi.ErrnoOK, abi.StatusOK, "1", ""},
		{outcomeMemSource{newMemSource()}, "c7", abi.ErrnoOK, abi.StatusTimeout, "", "took too long"},
		{outcomeMemSource{newMemSource()}, "c9", abi.ErrnoNotFound, "", "", ""},
	} {
		cfg := NewRunConfig().WithSource(tc.src).WithSessions("s").WithReplay("s")
		st := newRunState(&cfg)
		if err := st.loadReplay(context.Background()); err != nil {
			t.Fatal(err)
		}
		req, _ := (&abi.ToolCall{CallID: tc.call, Tool: "t"}).MarshalBinary()
		resp, errno, msg := opReplayTool(context.Background(), st, req)
		if errno != tc.errno {
			t.Errorf("%T %s: %v %s, want %v", tc.src, tc.call, errno, msg, tc.errno)
			continue
		}
		if errno != abi.ErrnoOK {
			continue
		}
		var out abi.ToolOutcome
		if err := out.UnmarshalBinary(resp); err != nil {
			t.Fatal(err)
		}
		if out.CallID != tc.call || out.Status != tc.status || string(out.Result) != tc.result || out.Error != tc.errorMsg {
			t.Errorf("%T %s: %+v", tc.src, tc.call, out)
		}
	}
}
