//go:build linux

package sqldb

import (
	"os"

	"golang.org/x/sys/unix"
)

// Lock bytes as SQLite's unix VFS (and package vfs of go-sqlite3, which
// uses OFD locks on Linux) places them.
const (
	sharedFirst = 0x40000000 + 2 // PENDING_BYTE + 2
	sharedSize  = 510
	shmDMS      = (22+8)*4 + 8 // the -shm's "dead man switch" byte
)

// lockUnused takes OFD write locks on the database's SHARED range and the
// -shm's DMS byte without waiting. ok is false if either is held by a
// connection (of any process), or locking is not possible.
func lockUnused(path string) (unlock func(), ok bool) {
	db, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false
	}
	if !ofdWriteLock(db, sharedFirst, sharedSize) {
		db.Close()
		return nil, false
	}
	shm, err := os.OpenFile(path+"-shm", os.O_RDWR, 0)
	if os.IsNotExist(err) {
		return func() { db.Close() }, true // no -shm: nothing maps it
	}
	if err != nil {
		db.Close()
		return nil, false
	}
	if !ofdWriteLock(shm, shmDMS, 1) {
		shm.Close()
		db.Close()
		return nil, false
	}
	return func() { shm.Close(); db.Close() }, true
}

func ofdWriteLock(f *os.File, start, n int64) bool {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: start, Len: n}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			return err == nil
		}
	}
}
