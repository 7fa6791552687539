package sqldb

import (
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/sqlitevfs"
)

// annotate returns err, the error of a call on c (nil: no connection, as
// when opening failed), with what a caller needs to tell it apart: the
// typed error the encrypting VFS reported for the call
// ([sqlitevfs.ConnError]), [ErrBusy] when SQLite gave up waiting for
// another connection's lock, and [ErrCorrupt] when it found the file's
// structure damaged. It must run on the goroutine that made the
// call, before c is used again.
func annotate(c *sqlite3.Conn, err error) error {
	if err == nil {
		return nil
	}
	if c != nil {
		err = sqlitevfs.ConnError(c, err)
	}
	if !errors.Is(err, ErrBusy) && (errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED)) {
		err = fmt.Errorf("%w: %w", ErrBusy, err)
	}
	if !errors.Is(err, ErrCorrupt) && errors.Is(err, sqlite3.CORRUPT) {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// noMemoryPanic is the message of go-sqlite3's panic when SQLite reports
// SQLITE_NOMEM (or a malloc in its Wasm heap fails): it panics with an
// error of an internal type, so the message is what identifies it.
const noMemoryPanic = "sqlite3: out of memory"

// isNoMemory reports whether v, a recovered panic value, is go-sqlite3's
// out-of-memory panic.
func isNoMemory(v any) bool {
	err, ok := v.(error)
	return ok && err.Error() == noMemoryPanic
}
