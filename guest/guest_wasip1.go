//go:build wasip1

package guest

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"unsafe"

	"github.com/gofastr/store/abi"
)

// HostVersion returns the ABI version of the host running the guest. The
// host accepted the guest, so major is the guest's abi.Major and minor is
// at least its abi.Minor.
func HostVersion() (major, minor int) {
	v := hostABIVersion()
	return int(v >> 16), int(v & 0xffff)
}

// Events returns the events of session s with IDs above after, oldest
// first, read from the host in batches. It yields a non-nil error at most
// once, as its last value. Stopping the loop early is fine.
//
//	for e, err := range guest.Events(sess, 0) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(e.ID, e.Kind)
//	}
func Events(s abi.SessionID, after uint64) iter.Seq2[abi.EventEnvelope, error] {
	return func(yield func(abi.EventEnvelope, error) bool) {
		for {
			var batch abi.EventBatch
			req := abi.EventsRequest{Session: s, After: after, MaxBytes: scratchSize}
			if err := call(abi.FuncEventsSince, hostEventsSince, &req, &batch); err != nil {
				yield(abi.EventEnvelope{}, err)
				return
			}
			for _, e := range batch.Events {
				if !yield(e, nil) {
					return
				}
			}
			if !batch.More || len(batch.Events) == 0 || batch.Next <= after {
				return
			}
			after = batch.Next
		}
	}
}

// Sessions returns summaries of up to limit sessions the run grants, most
// recent first; limit 0 lets the host choose. Sessions the run does not
// grant are never listed.
func Sessions(limit int) ([]abi.PastSession, error) {
	if limit < 0 {
		return nil, &Error{Errno: abi.ErrnoInval, Op: abi.FuncListSessions, Message: fmt.Sprintf("negative limit %d", limit)}
	}
	req := abi.SessionsRequest{Limit: uint32(min(limit, math.MaxUint32))}
	var list abi.SessionList
	if err := call(abi.FuncListSessions, hostListSessions, &req, &list); err != nil {
		return nil, err
	}
	return list.Sessions, nil
}

// OrphanIntents returns the tool intents of session s that have no
// recorded outcome, oldest first.
func OrphanIntents(s abi.SessionID) ([]abi.ToolIntent, error) {
	req := abi.SessionRequest{Session: s}
	var list abi.IntentList
	if err := call(abi.FuncOrphanIntents, hostOrphanIntents, &req, &list); err != nil {
		return nil, err
	}
	return list.Intents, nil
}

// AttemptsForTurn returns the provider attempts recorded for one turn of
// session s, in the order they were recorded.
func AttemptsForTurn(s abi.SessionID, turn int) ([]abi.ProviderAttempt, error) {
	req := abi.TurnRequest{Session: s, Turn: int64(turn)}
	var list abi.AttemptList
	if err := call(abi.FuncAttemptsForTurn, hostAttemptsForTurn, &req, &list); err != nil {
		return nil, err
	}
	return list.Attempts, nil
}

// Append appends e to its session and returns the ID the store assigned.
// It fails with ErrDenied unless the run grants writes and e's session.
// The operation runs once: a failed Append never appended twice.
func Append(e abi.EventEnvelope) (uint64, error) {
	var res abi.AppendResult
	if err := call(abi.FuncAppendEvent, hostAppendEvent, &e, &res); err != nil {
		return 0, err
	}
	return res.ID, nil
}

// Log writes msg to the run's log. Messages past the run's log cap are
// dropped.
func Log(msg string) {
	if msg == "" {
		return
	}
	conn.mu.Lock() // a log between an operation and its take_result would discard the pending result
	defer conn.mu.Unlock()
	n := uint32(min(len(msg), math.MaxUint32))
	hostLog(unsafe.Pointer(unsafe.StringData(msg)), n)
}

// Logf formats like fmt.Sprintf and writes the result to the run's log.
func Logf(format string, args ...any) {
	Log(fmt.Sprintf(format, args...))
}

// Input returns the run's input, the bytes the host passed for this run
// (for example a configuration or a price table); empty when there are
// none.
func Input() ([]byte, error) {
	conn.mu.Lock()
	defer conn.mu.Unlock()
	out, err := callRaw(abi.FuncInput, hostInput, nil)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), out...), nil
}

// NextUser returns the next recorded user message of the replayed
// session, moving the replay cursor past it. At the end of the recording
// it returns io.EOF.
func NextUser() (abi.EventEnvelope, error) {
	var e abi.EventEnvelope
	if err := call(abi.FuncReplayUser, hostReplayUser, nil, &e); err != nil {
		return abi.EventEnvelope{}, eof(err)
	}
	return e, nil
}

// Model returns the recorded model output that follows the replay cursor
// (the assistant messages, tool calls and other events up to the next
// user message or tool result) with the provider attempts of its turn on
// the turn's first step, and moves the cursor past it. When the next
// recorded event is a user message, or the recording ends, it returns
// io.EOF.
func Model() (abi.ModelStep, error) {
	var step abi.ModelStep
	if err := call(abi.FuncReplayModel, hostReplayModel, nil, &step); err != nil {
		return abi.ModelStep{}, eof(err)
	}
	return step, nil
}

// Tool returns the recorded outcome of tool call c in the replayed
// session. An orphaned call (one the recording has no outcome for)
// fails with ErrNotFound.
func Tool(c abi.ToolCall) (abi.ToolOutcome, error) {
	var out abi.ToolOutcome
	if err := call(abi.FuncReplayTool, hostReplayTool, &c, &out); err != nil {
		return abi.ToolOutcome{}, err
	}
	return out, nil
}

// Emit reports an event the guest would record, for comparison with the
// next recorded event (kind, turn and payload; ID and timestamp are not
// compared). A difference fails with ErrDiverged, as does every Emit
// after the first difference; the host reports the first one to its
// caller.
func Emit(e abi.EventEnvelope) error {
	return call(abi.FuncReplayEmit, hostReplayEmit, &e, nil)
}

// eof turns the end of a replay into io.EOF itself.
func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}
