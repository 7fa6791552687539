// Package filelock takes advisory OS locks on open files without blocking:
// flock on Unix, LockFileEx on Windows. Such a lock belongs to the open
// file (description or handle), not to the process: two opens of one file
// in one process exclude each other exactly like two processes, and the
// OS drops the lock when the file is closed or its process dies, SIGKILL
// included. POSIX fcntl locks, which are dropped when any descriptor of
// the file is closed, are not used.
//
// Packages keyring (the store and header locks) and schedule (one run at
// a time across processes) build their lock files on [TryLock].
package filelock

import "errors"

// ErrUnsupported is returned by [TryLock] where this package knows no file
// locking (or the file system refuses it): callers must not assume
// exclusion there.
var ErrUnsupported = errors.New("file locking not supported on this platform")
