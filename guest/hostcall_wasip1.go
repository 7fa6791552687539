//go:build wasip1

package guest

import (
	"sync"
	"unsafe"

	"github.com/gofastr/store/abi"
)

// The host functions, imported from abi.HostModule. Every operation takes
// (req_ptr, req_len, out_ptr, out_cap) and returns errno<<32 | n; see the
// package abi documentation.

//go:wasmimport gofastr_store_v1 abi_version
func hostABIVersion() uint32

//go:wasmimport gofastr_store_v1 events_since
func hostEventsSince(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 list_sessions
func hostListSessions(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 orphan_intents
func hostOrphanIntents(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 attempts_for_turn
func hostAttemptsForTurn(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 append_event
func hostAppendEvent(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 log
func hostLog(msg unsafe.Pointer, msgLen uint32) uint64

//go:wasmimport gofastr_store_v1 input
func hostInput(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 take_result
func hostTakeResult(out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 replay_user
func hostReplayUser(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 replay_model
func hostReplayModel(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 replay_tool
func hostReplayTool(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

//go:wasmimport gofastr_store_v1 replay_emit
func hostReplayEmit(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

// abiMarker is the marker export by which a host recognises a guest and
// the ABI version it was built for; its name is
// abi.MarkerExport(abi.Major, abi.Minor). It does nothing.
//
//go:wasmexport gofastr_abi_v1_0
func abiMarker() {}

// hostOp is the signature every operation import shares.
type hostOp func(req unsafe.Pointer, reqLen uint32, out unsafe.Pointer, outCap uint32) uint64

const (
	// scratchSize is the size of the reusable response buffer: most
	// responses fit, and event batches are asked to fit. 256 KiB holds
	// the host's largest batch of typical events (1,024 of a few hundred
	// bytes): a guest reading a session with 64 KiB made three times as
	// many calls and read about 20 % fewer events per second.
	scratchSize = 256 << 10
	// maxScratch is the largest response buffer kept for reuse after a
	// larger response arrived; bigger ones are dropped after use.
	maxScratch = 1 << 20
)

// conn holds the buffers of host calls. A host call does not yield to
// other goroutines, but the encoding and decoding around it may, so mu
// serializes whole calls.
var conn struct {
	mu      sync.Mutex
	scratch []byte // response buffer, reused
	req     []byte // request buffer, reused
}

// ptr returns the address of b's first byte, or nil when b is empty.
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

// request is a wire type sent to the host.
type request interface {
	AppendBinary([]byte) ([]byte, error)
}

// response is a wire type received from the host.
type response interface {
	UnmarshalBinary([]byte) error
}

// call runs one operation: it encodes req (nil for none), calls fn and,
// unless resp is nil, decodes the response into resp. A response larger
// than the scratch buffer is fetched with take_result into a buffer of
// its size. Failures are *Error values.
func call(op string, fn hostOp, req request, resp response) error {
	conn.mu.Lock()
	defer conn.mu.Unlock()
	var body []byte
	if req != nil {
		b, err := req.AppendBinary(conn.req[:0])
		if err != nil {
			return &Error{Errno: abi.ErrnoInval, Op: op, Message: "encode request: " + err.Error()}
		}
		conn.req = b
		body = b
	}
	out, err := callRaw(op, fn, body)
	if err != nil || resp == nil {
		return err
	}
	if err := resp.UnmarshalBinary(out); err != nil {
		return &Error{Errno: abi.ErrnoInternal, Op: op, Message: "decode response: " + err.Error()}
	}
	return nil
}

// callRaw calls fn with body and returns the response bytes, which stay
// valid until the next call. conn.mu must be held.
func callRaw(op string, fn hostOp, body []byte) ([]byte, error) {
	if conn.scratch == nil {
		conn.scratch = make([]byte, scratchSize)
	}
	buf := conn.scratch
	errno, n := abi.SplitResult(fn(ptr(body), uint32(len(body)), ptr(buf), uint32(len(buf))))
	if errno != abi.ErrnoOK {
		return nil, hostError(op, errno, buf, n)
	}
	if int64(n) <= int64(len(buf)) {
		return buf[:n], nil
	}
	big := make([]byte, n)
	errno, m := abi.SplitResult(hostTakeResult(ptr(big), n))
	if errno != abi.ErrnoOK {
		return nil, hostError(op, errno, big, m)
	}
	if m != n {
		return nil, &Error{Errno: abi.ErrnoInternal, Op: op, Message: "take_result returned another size than announced"}
	}
	if n <= maxScratch {
		conn.scratch = big
	}
	return big, nil
}

// hostError builds the *Error of a failed call whose message is buf[:n].
func hostError(op string, errno abi.Errno, buf []byte, n uint32) *Error {
	if int64(n) > int64(len(buf)) {
		n = uint32(len(buf))
	}
	return &Error{Errno: errno, Op: op, Message: string(buf[:n])}
}
