package sqldb

import (
	"errors"
	"io/fs"
	"os"
)

// sidecars records which of a database's -wal and -shm files existed
// before an open, so that a failed open can remove the ones it created.
type sidecars struct {
	path           string
	hadWAL, hadSHM bool
}

func statSidecars(path string) sidecars {
	missing := func(p string) bool {
		_, err := os.Lstat(p)
		return errors.Is(err, fs.ErrNotExist)
	}
	return sidecars{path: path, hadWAL: !missing(path + "-wal"), hadSHM: !missing(path + "-shm")}
}

// removeCreated removes, after a failed open whose connections are all
// closed, the -wal and -shm files that did not exist before the open,
// so a refused file (foreign, not a store, wrong key) keeps its directory
// as it was. It removes nothing another connection may use: only while
// it holds the database's SHARED lock range and the -shm's DMS byte
// exclusively (the locks SQLite holds while a connection has the database
// or its WAL index open; see lockUnused), so no connection of this or
// another process has them open or can open them meanwhile. A -wal is
// removed only if it is empty (it never holds committed data), and the
// -shm only if no -wal is left. The database file itself is never
// removed: a failed open never creates it (a missing database is created
// only by an open that then succeeds, or by one that failed after
// creating it, whose empty file is then a valid new store).
func (sc sidecars) removeCreated() {
	if sc.hadWAL && sc.hadSHM {
		return
	}
	unlock, ok := lockUnused(sc.path)
	if !ok {
		return
	}
	defer unlock()
	wal := sc.path + "-wal"
	if !sc.hadWAL {
		if fi, err := os.Lstat(wal); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			os.Remove(wal)
		}
	}
	if !sc.hadSHM {
		if _, err := os.Lstat(wal); errors.Is(err, fs.ErrNotExist) {
			os.Remove(sc.path + "-shm")
		}
	}
}
