package sandbox

import (
	"errors"
	"fmt"
)

// Errors of Compile and Run. Each error returned wraps one of them (match
// with errors.Is); the message says what exactly failed.
var (
	// ErrNotGuest: the module is not a guest of this ABI: it has no ABI
	// marker export, no _start function (guests are commands), no memory
	// exported as "memory", or it imports from a module other than the
	// host module and WASI, or imports anything but functions.
	ErrNotGuest = errors.New("sandbox: not a guest module")
	// ErrABIVersion: the guest was built for an ABI version this host does
	// not speak (another major, or a newer minor), or imports a host
	// function this host does not provide.
	ErrABIVersion = errors.New("sandbox: ABI version mismatch")
	// ErrDeadline: the run's deadline (or the context's) passed before the
	// guest finished; the guest was stopped.
	ErrDeadline = errors.New("sandbox: guest stopped at its deadline")
	// ErrMemoryLimit: the guest needed more memory than its run allows.
	ErrMemoryLimit = errors.New("sandbox: guest memory limit exceeded")
	// ErrOutputLimit: the guest wrote more to standard output than its run
	// allows; the output was cut at the limit.
	ErrOutputLimit = errors.New("sandbox: guest output limit exceeded")
	// ErrGuestFailed: the guest trapped, panicked or exited with a
	// non-zero status (see Result.ExitCode).
	ErrGuestFailed = errors.New("sandbox: guest failed")
	// ErrDiverged: a replayed guest's events differ from the recording.
	// Run returns a *Divergence, which wraps it.
	ErrDiverged = errors.New("sandbox: replay diverged from the recording")
	// ErrNotGranted: the run configuration asks for something it does not
	// grant, such as replaying a session the run may not read, or a
	// replay without a source.
	ErrNotGranted = errors.New("sandbox: not granted to the run")
	// ErrSource: reading the recording to replay from the source failed.
	ErrSource = errors.New("sandbox: source failed")
	// ErrClosed: the runtime or the guest was closed before the call,
	// or while it ran: a run in flight when Guest.Close or
	// Runtime.Close is called is stopped and returns ErrClosed, never
	// nil.
	ErrClosed = errors.New("sandbox: closed")
)

// sandboxError is an error with its own message that wraps a sentinel.
type sandboxError struct {
	msg string
	err error
}

func (e *sandboxError) Error() string { return e.msg }
func (e *sandboxError) Unwrap() error { return e.err }

// errorf returns an error with the formatted message that wraps sentinel.
func errorf(sentinel error, format string, args ...any) error {
	return &sandboxError{msg: fmt.Sprintf(format, args...), err: sentinel}
}
