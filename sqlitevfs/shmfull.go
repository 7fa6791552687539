package sqlitevfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/ncruces/go-sqlite3"
)

// shmMinFree is the space one more region of a WAL index (-shm) takes.
const shmMinFree = 32 << 10

// shmFull types err, a failure to extend c's WAL index (-shm) with no
// typed error recorded, as [ErrDiskFull] when the filesystem of the
// database has less free space than one more region of the index takes.
//
// go-sqlite3 grows the -shm file with fallocate on Linux (and
// F_PREALLOCATE on macOS), which fails for lack of space; that file is
// mapped by the OS VFS itself, out of reach of this package's files, and
// the OS error is lost by the time the call returns (SQLite reports
// IOERR_SHMSIZE). The free space, read right after the failure, tells a
// full disk from other causes; where it cannot be read, err is returned
// unchanged.
func shmFull(c *sqlite3.Conn, err error) error {
	if !errors.Is(err, sqlite3.IOERR_SHMSIZE) || errors.Is(err, ErrDiskFull) {
		return err
	}
	name := c.Filename("main")
	if name == nil {
		return err
	}
	path := name.String()
	free, ok := freeSpace(filepath.Dir(path))
	if !ok || free >= shmMinFree {
		return err
	}
	cause := &fs.PathError{Op: "extend the WAL index", Path: path + "-shm", Err: syscall.ENOSPC}
	return fmt.Errorf("%w: %w", err, &diskFullError{err: cause})
}
