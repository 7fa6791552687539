package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/gofastr/store/abi"
)

// Host-side limits of the read operations.
const (
	// maxBatchEvents is the most events one events_since response holds,
	// and the page size of reads from the source.
	maxBatchEvents = 1024
	// defaultBatchBytes and maxBatchBytes bound the estimated size of an
	// events_since response when the request leaves it to the host or
	// asks for more.
	defaultBatchBytes = 1 << 20
	maxBatchBytes     = abi.MaxRequest
	// defaultSessions is how many sessions list_sessions returns when the
	// request sets no limit.
	defaultSessions = 1000
)

// signature is the WebAssembly type of a host function.
type signature struct {
	params, results []api.ValueType
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
	// opSignature is the type every operation shares:
	// (req_ptr, req_len, out_ptr, out_cap i32) -> i64.
	opSignature = signature{[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}}
)

// operation handles one host function of the memory convention. It gets
// the request bytes (a copy; nil when the operation takes none) and
// returns the response or a status with a message.
type operation struct {
	noRequest bool
	fn        func(ctx context.Context, st *runState, req []byte) (resp []byte, errno abi.Errno, msg string)
}

// operations are the host functions with the operation signature, by name.
var operations = map[string]operation{
	abi.FuncEventsSince:     {fn: opEventsSince},
	abi.FuncListSessions:    {fn: opListSessions},
	abi.FuncOrphanIntents:   {fn: opOrphanIntents},
	abi.FuncAttemptsForTurn: {fn: opAttemptsForTurn},
	abi.FuncAppendEvent:     {fn: opAppendEvent},
	abi.FuncInput:           {noRequest: true, fn: opInput},
	abi.FuncReplayUser:      {noRequest: true, fn: opReplayUser},
	abi.FuncReplayModel:     {noRequest: true, fn: opReplayModel},
	abi.FuncReplayTool:      {fn: opReplayTool},
	abi.FuncReplayEmit:      {fn: opReplayEmit},
}

// hostSignatures holds the type of every host function of the ABI.
var hostSignatures = func() map[string]signature {
	m := map[string]signature{
		abi.FuncABIVersion: {nil, []api.ValueType{i32}},
		abi.FuncLog:        {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
		abi.FuncTakeResult: {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	for name := range operations {
		m[name] = opSignature
	}
	return m
}()

// instantiateHostModule defines the host module of this ABI in rt. Every
// function is a Go module function (no reflection) that reads its
// arguments from the stack and returns a status; none panics, whatever
// its input. (With cooperative deadlines, a host function called after
// its run's deadline stops the guest as WASI proc_exit does, with the
// panic wazero turns into the guest's exit.)
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.HostModule)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostABIVersion), nil, []api.ValueType{i32}).
		Export(abi.FuncABIVersion)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{i32, i32}, []api.ValueType{i64}).
		WithParameterNames("ptr", "len").
		Export(abi.FuncLog)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostTakeResult), []api.ValueType{i32, i32}, []api.ValueType{i64}).
		WithParameterNames("out_ptr", "out_cap").
		Export(abi.FuncTakeResult)
	names := make([]string, 0, len(operations))
	for name := range operations {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		op := operations[name]
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(op.call), opSignature.params, opSignature.results).
			WithParameterNames("req_ptr", "req_len", "out_ptr", "out_cap").
			Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// hostABIVersion implements abi_version() -> i32: Major<<16 | Minor.
func hostABIVersion(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = api.EncodeU32(uint32(abi.Major)<<16 | uint32(abi.Minor))
}

// call is the adapter of an operation: it drops any pending result,
// checks the output buffer, copies the request out of guest memory, runs
// the operation and delivers its response or failure.
func (op operation) call(ctx context.Context, m api.Module, stack []uint64) {
	reqPtr, reqLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	outPtr, outCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	mem := m.Memory()
	st := runStateFrom(ctx)
	if st == nil {
		stack[0] = failure(mem, outPtr, outCap, abi.ErrnoInternal, "host function called outside a run")
		return
	}
	st.checkStop()
	st.dropPending()
	if !inBounds(mem, outPtr, outCap) {
		stack[0] = abi.Result(abi.ErrnoFault, 0)
		return
	}
	var req []byte
	if !op.noRequest {
		var errno abi.Errno
		var msg string
		if req, errno, msg = readRequest(mem, reqPtr, reqLen); errno != abi.ErrnoOK {
			stack[0] = failure(mem, outPtr, outCap, errno, msg)
			return
		}
	}
	resp, errno, msg := op.fn(ctx, st, req)
	if errno != abi.ErrnoOK {
		stack[0] = failure(mem, outPtr, outCap, errno, msg)
		return
	}
	stack[0] = st.deliver(mem, outPtr, outCap, resp)
}

// deliver writes resp to the guest's buffer when it fits, or keeps it as
// the pending result.
func (st *runState) deliver(mem api.Memory, outPtr, outCap uint32, resp []byte) uint64 {
	if len(resp) > math.MaxUint32 {
		return failure(mem, outPtr, outCap, abi.ErrnoTooBig, "response over 4 GiB")
	}
	n := uint32(len(resp))
	if n <= outCap {
		if n > 0 && !mem.Write(outPtr, resp) {
			return abi.Result(abi.ErrnoFault, 0)
		}
		return abi.Result(abi.ErrnoOK, n)
	}
	st.pending, st.hasPending = resp, true
	if len(resp) > 0 && len(st.buf) > 0 && &resp[0] == &st.buf[0] {
		st.buf = nil // the pending result owns the encoding buffer now
	}
	return abi.Result(abi.ErrnoOK, n)
}

// dropPending discards the pending result.
func (st *runState) dropPending() {
	st.pending, st.hasPending = nil, false
}

// hostTakeResult implements take_result(out_ptr, out_cap) -> i64.
func hostTakeResult(ctx context.Context, m api.Module, stack []uint64) {
	outPtr, outCap := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	mem := m.Memory()
	st := runStateFrom(ctx)
	if st == nil {
		stack[0] = failure(mem, outPtr, outCap, abi.ErrnoInternal, "host function called outside a run")
		return
	}
	st.checkStop()
	switch {
	case !inBounds(mem, outPtr, outCap):
		stack[0] = abi.Result(abi.ErrnoFault, 0)
	case !st.hasPending:
		stack[0] = failure(mem, outPtr, outCap, abi.ErrnoNoResult, "no pending result")
	case uint64(len(st.pending)) > uint64(outCap):
		stack[0] = failure(mem, outPtr, outCap, abi.ErrnoRange, fmt.Sprintf("the pending result needs %d bytes", len(st.pending)))
	default:
		if len(st.pending) > 0 && !mem.Write(outPtr, st.pending) {
			stack[0] = abi.Result(abi.ErrnoFault, 0)
			return
		}
		n := uint32(len(st.pending))
		st.dropPending()
		stack[0] = abi.Result(abi.ErrnoOK, n)
	}
}

// hostLog implements log(ptr, len) -> i64: the bytes go to the run's log
// writer, whole or, past the run's log cap, not at all (ErrnoTooBig).
func hostLog(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	st := runStateFrom(ctx)
	if st == nil {
		stack[0] = abi.Result(abi.ErrnoInternal, 0)
		return
	}
	st.checkStop()
	st.dropPending()
	msg, errno, _ := readRequest(m.Memory(), ptr, n)
	if errno == abi.ErrnoOK {
		errno, _ = st.writeLog(msg)
	}
	if errno != abi.ErrnoOK {
		stack[0] = abi.Result(errno, 0)
		return
	}
	stack[0] = abi.Result(abi.ErrnoOK, n)
}

// encode encodes v into the run's reusable buffer.
func (st *runState) encode(v interface{ AppendBinary([]byte) ([]byte, error) }) ([]byte, abi.Errno, string) {
	b, err := v.AppendBinary(st.buf[:0])
	if err != nil {
		return nil, abi.ErrnoInternal, "encode response: " + err.Error()
	}
	st.buf = b
	return b, abi.ErrnoOK, ""
}

// decode decodes a request into v.
func decode(req []byte, v interface{ UnmarshalBinary([]byte) error }) (abi.Errno, string) {
	if err := v.UnmarshalBinary(req); err != nil {
		return abi.ErrnoInval, "decode request: " + err.Error()
	}
	return abi.ErrnoOK, ""
}

// readable checks that the run has a source and grants session id.
func (st *runState) readable(id abi.SessionID) (abi.Errno, string) {
	if st.cfg.source == nil {
		return abi.ErrnoUnsupported, "the run has no source to read"
	}
	if id == "" {
		return abi.ErrnoInval, "empty session ID"
	}
	if !st.cfg.granted(id) {
		return abi.ErrnoDenied, fmt.Sprintf("session %q is not granted to this run", id)
	}
	return abi.ErrnoOK, ""
}

// sourceFailed is the status of a failed read of the source.
func sourceFailed(err error) (abi.Errno, string) {
	return abi.ErrnoUnavailable, err.Error()
}

// eventCache keeps the events of the last source read that a response
// had no room for, to serve the next request that continues from them.
type eventCache struct {
	sess  abi.SessionID
	after uint64
	rest  []abi.EventEnvelope
	full  bool // the read returned a full page: more may follow rest
}

// estimateSize is a cheap upper estimate of the encoded size of e.
func estimateSize(e *abi.EventEnvelope) int {
	return len(e.Payload) + len(e.Kind) + len(e.Session) + 48
}

func opEventsSince(ctx context.Context, st *runState, b []byte) ([]byte, abi.Errno, string) {
	var req abi.EventsRequest
	if errno, msg := decode(b, &req); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	if errno, msg := st.readable(req.Session); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	limit := int(req.Limit)
	if limit == 0 || limit > maxBatchEvents {
		limit = maxBatchEvents
	}
	maxBytes := int(req.MaxBytes)
	switch {
	case maxBytes == 0:
		maxBytes = defaultBatchBytes
	case maxBytes > maxBatchBytes:
		maxBytes = maxBatchBytes
	}
	c := &st.ev
	if c.sess != req.Session || c.after != req.After || len(c.rest) == 0 {
		evs, err := st.cfg.source.EventsSince(ctx, req.Session, req.After, maxBatchEvents)
		if err != nil {
			errno, msg := sourceFailed(err)
			return nil, errno, msg
		}
		*c = eventCache{sess: req.Session, after: req.After, rest: evs, full: len(evs) == maxBatchEvents}
	}
	n, size := 0, 0
	for n < len(c.rest) && n < limit {
		s := estimateSize(&c.rest[n])
		if n > 0 && size+s > maxBytes {
			break
		}
		size += s
		n++
	}
	batch := abi.EventBatch{Events: c.rest[:n], Next: req.After}
	if n > 0 {
		batch.Next = c.rest[n-1].ID
	}
	c.rest = c.rest[n:]
	c.after = batch.Next
	batch.More = len(c.rest) > 0 || c.full
	return st.encode(&batch)
}

func opListSessions(ctx context.Context, st *runState, b []byte) ([]byte, abi.Errno, string) {
	var req abi.SessionsRequest
	if errno, msg := decode(b, &req); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	src := st.cfg.source
	if src == nil {
		return nil, abi.ErrnoUnsupported, "the run has no source to read"
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = defaultSessions
	}
	var list abi.SessionList
	if st.cfg.all {
		ss, err := src.ListPastSessions(ctx, limit)
		if err != nil {
			errno, msg := sourceFailed(err)
			return nil, errno, msg
		}
		list.Sessions = ss
	} else if len(st.cfg.sessions) > 0 {
		ss, err := src.ListPastSessions(ctx, 0)
		if err != nil {
			errno, msg := sourceFailed(err)
			return nil, errno, msg
		}
		for _, s := range ss {
			if len(list.Sessions) == limit {
				break
			}
			if st.cfg.granted(s.ID) {
				list.Sessions = append(list.Sessions, s)
			}
		}
	}
	return st.encode(&list)
}

func opOrphanIntents(ctx context.Context, st *runState, b []byte) ([]byte, abi.Errno, string) {
	var req abi.SessionRequest
	if errno, msg := decode(b, &req); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	var list abi.IntentList
	if req.Session == "" {
		// Every granted session's orphans.
		if st.cfg.source == nil {
			return nil, abi.ErrnoUnsupported, "the run has no source to read"
		}
		if st.cfg.all || len(st.cfg.sessions) > 0 {
			in, err := st.cfg.source.OrphanIntents(ctx, "")
			if err != nil {
				errno, msg := sourceFailed(err)
				return nil, errno, msg
			}
			for _, i := range in {
				if st.cfg.granted(i.Session) {
					list.Intents = append(list.Intents, i)
				}
			}
		}
		return st.encode(&list)
	}
	if errno, msg := st.readable(req.Session); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	in, err := st.cfg.source.OrphanIntents(ctx, req.Session)
	if err != nil {
		errno, msg := sourceFailed(err)
		return nil, errno, msg
	}
	list.Intents = in
	return st.encode(&list)
}

func opAttemptsForTurn(ctx context.Context, st *runState, b []byte) ([]byte, abi.Errno, string) {
	var req abi.TurnRequest
	if errno, msg := decode(b, &req); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	if errno, msg := st.readable(req.Session); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	if req.Turn != int64(int(req.Turn)) {
		return nil, abi.ErrnoInval, fmt.Sprintf("turn %d out of range", req.Turn)
	}
	at, err := st.cfg.source.AttemptsForTurn(ctx, string(req.Session), int(req.Turn))
	if err != nil {
		errno, msg := sourceFailed(err)
		return nil, errno, msg
	}
	return st.encode(&abi.AttemptList{Attempts: at})
}

func opAppendEvent(ctx context.Context, st *runState, b []byte) ([]byte, abi.Errno, string) {
	var e abi.EventEnvelope
	if errno, msg := decode(b, &e); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	if st.cfg.sink == nil {
		return nil, abi.ErrnoDenied, "writes are not granted to this run"
	}
	switch {
	case e.Session == "":
		return nil, abi.ErrnoInval, "empty session ID"
	case !st.cfg.granted(e.Session):
		return nil, abi.ErrnoDenied, fmt.Sprintf("session %q is not granted to this run", e.Session)
	case e.Kind == "":
		return nil, abi.ErrnoInval, "empty event kind"
	case e.Payload != nil && !json.Valid(e.Payload):
		return nil, abi.ErrnoInval, "payload is not valid JSON"
	}
	id, err := st.cfg.sink.Append(ctx, e)
	if err != nil {
		return nil, abi.ErrnoUnavailable, err.Error()
	}
	st.appended++
	return st.encode(&abi.AppendResult{ID: id})
}

func opInput(_ context.Context, st *runState, _ []byte) ([]byte, abi.Errno, string) {
	return st.cfg.input, abi.ErrnoOK, ""
}
