// Package diskfull holds the one error value that means "the filesystem
// is full", shared by the packages that write a store's files: sqlitevfs
// (pages, WAL, journal), keyring (DEK headers) and host (copies made by a
// rekey, an encryption or a new month). Each exports it under its own
// name (sqlitevfs.ErrDiskFull, keyring.ErrDiskFull, host.ErrDiskFull),
// and the three are the same value, so a caller checks any of them with
// [errors.Is] whichever layer failed.
package diskfull

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrDiskFull is matched (with [errors.Is]) by every error this module
// returns when a write fails because the filesystem is full; such an
// error also wraps the operating system's error, which matches
// syscall.ENOSPC.
var ErrDiskFull = errors.New("disk full")

// Error is a failure for lack of space: it matches [ErrDiskFull] and
// wraps Err, the operating system's error.
type Error struct{ Err error }

func (e *Error) Error() string { return fmt.Sprintf("%v: %v", ErrDiskFull, e.Err) }

func (e *Error) Unwrap() []error { return []error{ErrDiskFull, e.Err} }

// Is reports whether err is a failure for lack of space: it matches
// syscall.ENOSPC (or a quota error, EDQUOT; on Windows ERROR_DISK_FULL)
// or is already typed.
func Is(err error) bool {
	return err != nil && (errors.Is(err, ErrDiskFull) || errors.Is(err, syscall.ENOSPC) || isOther(err))
}

// Wrap returns err typed as a disk-full error (an [*Error] matching
// [ErrDiskFull]) when it is a failure for lack of space that is not
// typed yet, and err unchanged otherwise (nil included).
func Wrap(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) || !Is(err) {
		return err
	}
	return &Error{Err: err}
}
