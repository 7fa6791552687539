package guest

import (
	"errors"
	"io"

	"github.com/gofastr/store/abi"
)

// Error is a failed host call: the operation, the host's status and the
// message the host returned with it. It matches the sentinel of its
// status with errors.Is (ErrDenied for abi.ErrnoDenied, …) and unwraps
// to the abi.Errno itself, so errors.Is(err, abi.ErrnoDenied) holds too.
type Error struct {
	// Errno is the host's status.
	Errno abi.Errno
	// Op is the host function that failed, such as "events_since".
	Op string
	// Message is the host's explanation; it may be empty.
	Message string
}

// Error returns "guest: <op>: <message> (<errno name>)".
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Errno.Error()
	}
	return "guest: " + e.Op + ": " + msg + " (" + e.Errno.String() + ")"
}

// Unwrap returns the status, an abi.Errno.
func (e *Error) Unwrap() error { return e.Errno }

// Is reports whether target is the sentinel of e's status. A status
// this SDK does not know matches ErrUnknown.
func (e *Error) Is(target error) bool {
	return target == sentinel(e.Errno)
}

// Sentinels, one per status a host call can fail with; match them with
// errors.Is. The replay calls that run out of recorded events return
// io.EOF itself rather than an *Error.
var (
	// ErrInval: the request was malformed (abi.ErrnoInval).
	ErrInval = errors.New("guest: invalid request")
	// ErrFault: a pointer or length was outside the guest's memory
	// (abi.ErrnoFault). The SDK passes only valid buffers, so this
	// means a bug in the SDK or in code calling the imports directly.
	ErrFault = errors.New("guest: buffer outside guest memory")
	// ErrDenied: the run does not grant this (abi.ErrnoDenied): an
	// ungranted session, or a write in a run without writes.
	ErrDenied = errors.New("guest: not granted to this run")
	// ErrNotFound: no such session, or no recorded outcome of a tool
	// call (abi.ErrnoNotFound).
	ErrNotFound = errors.New("guest: not found")
	// ErrTooBig: a request or an output over a limit (abi.ErrnoTooBig).
	ErrTooBig = errors.New("guest: over a size limit")
	// ErrDiverged: an emitted event differs from the recording, or an
	// earlier one did (abi.ErrnoDiverged).
	ErrDiverged = errors.New("guest: replay diverged from the recording")
	// ErrUnavailable: the store failed (abi.ErrnoUnavailable).
	ErrUnavailable = errors.New("guest: store unavailable")
	// ErrUnsupported: the call is not available in this run, such as a
	// replay call in a run that serves no recording
	// (abi.ErrnoUnsupported).
	ErrUnsupported = errors.New("guest: not supported in this run")
	// ErrInternal: the host failed (abi.ErrnoInternal), or a response
	// did not decode.
	ErrInternal = errors.New("guest: internal host error")
	// ErrUnknown: a status this SDK does not know (a newer host).
	ErrUnknown = errors.New("guest: unknown host status")
)

// sentinel maps a status to its sentinel error. ErrnoNoResult and
// ErrnoRange never reach SDK users (the SDK sizes its buffers itself), so
// they map to ErrInternal; ErrnoEOF maps to io.EOF.
func sentinel(e abi.Errno) error {
	switch e {
	case abi.ErrnoInval:
		return ErrInval
	case abi.ErrnoFault:
		return ErrFault
	case abi.ErrnoDenied:
		return ErrDenied
	case abi.ErrnoNotFound:
		return ErrNotFound
	case abi.ErrnoTooBig:
		return ErrTooBig
	case abi.ErrnoEOF:
		return io.EOF
	case abi.ErrnoDiverged:
		return ErrDiverged
	case abi.ErrnoUnavailable:
		return ErrUnavailable
	case abi.ErrnoUnsupported:
		return ErrUnsupported
	case abi.ErrnoNoResult, abi.ErrnoRange, abi.ErrnoInternal:
		return ErrInternal
	}
	return ErrUnknown
}
