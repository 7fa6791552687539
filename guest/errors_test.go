package guest

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gofastr/store/abi"
)

func TestErrorIs(t *testing.T) {
	for errno, want := range map[abi.Errno]error{
		abi.ErrnoInval:       ErrInval,
		abi.ErrnoFault:       ErrFault,
		abi.ErrnoDenied:      ErrDenied,
		abi.ErrnoNotFound:    ErrNotFound,
		abi.ErrnoTooBig:      ErrTooBig,
		abi.ErrnoEOF:         io.EOF,
		abi.ErrnoDiverged:    ErrDiverged,
		abi.ErrnoUnavailable: ErrUnavailable,
		abi.ErrnoNoResult:    ErrInternal,
		abi.ErrnoRange:       ErrInternal,
		abi.ErrnoUnsupported: ErrUnsupported,
		abi.ErrnoInternal:    ErrInternal,
		abi.Errno(999):       ErrUnknown,
	} {
		var err error = &Error{Errno: errno, Op: abi.FuncEventsSince, Message: "why"}
		if !errors.Is(err, want) {
			t.Errorf("%v: errors.Is(err, %v) is false", errno, want)
		}
		if !errors.Is(err, errno) {
			t.Errorf("%v: errors.Is(err, the errno) is false", errno)
		}
		for _, other := range []error{ErrDenied, ErrNotFound, io.EOF, ErrUnknown} {
			if other != want && errors.Is(err, other) {
				t.Errorf("%v: errors.Is(err, %v) is true", errno, other)
			}
		}
		var ge *Error
		if !errors.As(err, &ge) || ge.Errno != errno {
			t.Errorf("%v: errors.As", errno)
		}
	}
	err := &Error{Errno: abi.ErrnoDenied, Op: "list_sessions", Message: `session "x" is not granted to this run`}
	if got := err.Error(); got != `guest: list_sessions: session "x" is not granted to this run (ErrnoDenied)` {
		t.Errorf("Error() = %q", got)
	}
	if got := (&Error{Errno: abi.ErrnoDenied, Op: "log"}).Error(); !strings.Contains(got, "not granted") {
		t.Errorf("Error() without a message = %q", got)
	}
}
