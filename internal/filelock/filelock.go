// Package filelock takes advisory OS locks on open files: flock on Unix,
// LockFileEx on Windows. Such a lock belongs to the open file
// (description or handle), not to the process: two opens of one file in
// one process exclude each other exactly like two processes, and the OS
// drops the lock when the file is closed or its process dies, SIGKILL
// included. POSIX fcntl locks, which are dropped when any descriptor of
// the file is closed, are not used.
//
// [TryLock] does not block; [LockWait] retries it for a bounded time.
// Packages keyring (the store and header locks), schedule (one run at a
// time across processes) and host (the monthly rollover's directory lock)
// build their lock files on them.
package filelock

import (
	"errors"
	"os"
	"time"
)

// ErrUnsupported is returned by [TryLock] where this package knows no file
// locking (or the file system refuses it): callers must not assume
// exclusion there.
var ErrUnsupported = errors.New("file locking not supported on this platform")

// maxPause bounds the pause between two attempts of [LockWait].
const maxPause = 50 * time.Millisecond

// LockWait takes the lock of f as [TryLock] does, retrying until it gets
// it or wait has passed, and reports whether it got it: false with a nil
// error means another open file held the lock the whole time. Errors of
// TryLock (such as [ErrUnsupported]) return at once. It polls, with
// pauses from a millisecond doubling up to 50ms, rather than blocking in
// the OS: a blocking lock cannot be given a timeout portably.
func LockWait(f *os.File, exclusive bool, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		ok, err := TryLock(f, exclusive)
		if err != nil || ok {
			return ok, err
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		time.Sleep(min(pause, max(time.Until(deadline), 0)))
		pause = min(2*pause, maxPause)
	}
}
