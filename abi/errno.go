package abi

import "strconv"

// Errno is the status a host function returns to a guest, in the high 32
// bits of its result (see [Result]). Zero is success. The names, values and
// meanings are part of the ABI: a value is never reused for another
// meaning, and a later minor version may add values, which a guest that
// does not know them treats as a generic failure.
//
// Errno implements error, so a guest SDK can return it (or wrap it) as is.
type Errno uint32

// The error codes of ABI v1.0. When a call fails, its response is a UTF-8
// message saying why (never holding secrets).
const (
	// ErrnoOK means the call succeeded.
	ErrnoOK Errno = 0
	// ErrnoInval means the request was malformed: it did not decode, or a
	// field held an invalid value.
	ErrnoInval Errno = 1
	// ErrnoFault means a pointer and length the guest passed lie outside
	// its memory.
	ErrnoFault Errno = 2
	// ErrnoDenied means the run's capabilities do not grant the call: the
	// session is not granted, or writes are not allowed.
	ErrnoDenied Errno = 3
	// ErrnoNotFound means the thing asked for does not exist: no such
	// session, or no recorded outcome of a tool call.
	ErrnoNotFound Errno = 4
	// ErrnoTooBig means the request, or the output, is over a limit.
	ErrnoTooBig Errno = 5
	// ErrnoEOF means a replay call has nothing more of the kind asked for.
	ErrnoEOF Errno = 6
	// ErrnoDiverged means an event the guest emitted during a replay
	// differs from the recording (or a divergence was already found).
	ErrnoDiverged Errno = 7
	// ErrnoUnavailable means the store failed; the message says why.
	ErrnoUnavailable Errno = 8
	// ErrnoNoResult means take_result was called with no pending result.
	ErrnoNoResult Errno = 9
	// ErrnoRange means the buffer given to take_result is still smaller
	// than the pending result, which stays pending.
	ErrnoRange Errno = 10
	// ErrnoUnsupported means the call is not available in this run, for
	// example a replay call when the run serves no recording.
	ErrnoUnsupported Errno = 11
	// ErrnoInternal means the host failed in a way the guest cannot
	// remedy.
	ErrnoInternal Errno = 12
)

var errnoNames = [...]string{
	ErrnoOK:          "ErrnoOK",
	ErrnoInval:       "ErrnoInval",
	ErrnoFault:       "ErrnoFault",
	ErrnoDenied:      "ErrnoDenied",
	ErrnoNotFound:    "ErrnoNotFound",
	ErrnoTooBig:      "ErrnoTooBig",
	ErrnoEOF:         "ErrnoEOF",
	ErrnoDiverged:    "ErrnoDiverged",
	ErrnoUnavailable: "ErrnoUnavailable",
	ErrnoNoResult:    "ErrnoNoResult",
	ErrnoRange:       "ErrnoRange",
	ErrnoUnsupported: "ErrnoUnsupported",
	ErrnoInternal:    "ErrnoInternal",
}

var errnoText = [...]string{
	ErrnoOK:          "success",
	ErrnoInval:       "invalid request",
	ErrnoFault:       "pointer or length outside guest memory",
	ErrnoDenied:      "not granted to this run",
	ErrnoNotFound:    "not found",
	ErrnoTooBig:      "over a size limit",
	ErrnoEOF:         "nothing more to replay",
	ErrnoDiverged:    "replay diverged from the recording",
	ErrnoUnavailable: "store unavailable",
	ErrnoNoResult:    "no pending result",
	ErrnoRange:       "buffer smaller than the pending result",
	ErrnoUnsupported: "not supported in this run",
	ErrnoInternal:    "internal host error",
}

// Known reports whether e is one of the codes of this ABI version.
func (e Errno) Known() bool { return uint64(e) < uint64(len(errnoNames)) }

// String returns the constant's name, such as "ErrnoDenied", or
// "errno(N)" for a value this ABI version does not define.
func (e Errno) String() string {
	if e.Known() {
		return errnoNames[e]
	}
	return "errno(" + strconv.FormatUint(uint64(e), 10) + ")"
}

// Error returns a short description, such as "abi: not granted to this
// run", or "abi: errno(N)" for a value this ABI version does not define.
func (e Errno) Error() string {
	if e.Known() {
		return "abi: " + errnoText[e]
	}
	return "abi: " + e.String()
}

// Result packs a host function's status and byte count into its i64
// result: errno in the high 32 bits, n in the low 32 bits. On success n is
// the size of the response; on failure it is the length of the message
// written to the guest's buffer.
func Result(errno Errno, n uint32) uint64 {
	return uint64(errno)<<32 | uint64(n)
}

// SplitResult unpacks a result packed by [Result].
func SplitResult(r uint64) (errno Errno, n uint32) {
	return Errno(r >> 32), uint32(r)
}
