//go:build windows

package host

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// tryLockDir takes an exclusive LockFileEx lock on the first byte of f
// without blocking and reports whether it got it. The lock belongs to the
// file handle and Windows releases it when the handle is closed or the
// process ends.
func tryLockDir(f *os.File) (bool, error) {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY | windows.LOCKFILE_EXCLUSIVE_LOCK)
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
