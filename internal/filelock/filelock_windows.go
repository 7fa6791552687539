//go:build windows

package filelock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// TryLock takes a LockFileEx lock on the first byte of f without blocking
// and reports whether it got it. Such locks belong to the file handle, so
// separate opens in one process exclude each other, and Windows releases
// them when the handle is closed or the process ends. Windows enforces
// byte-range locks on reads and writes through other handles, so a lock
// file should hold no data others read: keep such data in another file.
func TryLock(f *os.File, exclusive bool) (bool, error) {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		lerr = windows.LockFileEx(windows.Handle(fd), flags, 0, 1, 0, new(windows.Overlapped))
	}); err != nil {
		return false, err
	}
	if errors.Is(lerr, windows.ERROR_LOCK_VIOLATION) || errors.Is(lerr, windows.ERROR_IO_PENDING) {
		return false, nil
	}
	return lerr == nil, lerr
}
