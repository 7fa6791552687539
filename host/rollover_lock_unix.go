//go:build unix && !aix

package host

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLockDir takes an exclusive flock on f without blocking and reports
// whether it got it. flock locks belong to the open file description, so
// two MonthlyRollovers in one process exclude each other too, and the
// lock is released when the file is closed or the process dies.
func tryLockDir(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
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
	return lerr == nil, lerr
}
