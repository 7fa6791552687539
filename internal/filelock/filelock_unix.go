//go:build unix && !aix

package filelock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// TryLock takes a flock on f without blocking and reports whether it got
// it. flock locks belong to the open file description, so separate opens
// in one process exclude each other, and they are released when the file
// is closed or the process dies.
func TryLock(f *os.File, exclusive bool) (bool, error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = unix.Flock(int(fd), how|unix.LOCK_NB)
			if lerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return false, err
	}
	if errors.Is(lerr, unix.EWOULDBLOCK) || errors.Is(lerr, unix.EAGAIN) {
		return false, nil
	}
	if errors.Is(lerr, unix.ENOSYS) || errors.Is(lerr, unix.EOPNOTSUPP) {
		return false, ErrUnsupported
	}
	return lerr == nil, lerr
}
