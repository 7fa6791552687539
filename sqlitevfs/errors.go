package sqlitevfs

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/pagecrypt"
)

// Errors returned by this package. Through SQLite they surface as the
// extended result codes named below, and the error a failing connection
// returns carries them (see the package doc's Errors section and
// [ConnError]); callers test them with [errors.Is].
var (
	// ErrWrongKey is returned when a database was sealed under a different
	// key than the one given. The file is left untouched. SQLite reports it
	// as sqlite3.IOERR_BADKEY.
	ErrWrongKey = errors.New("sqlitevfs: wrong key for database")

	// ErrNotEncrypted is returned when a non-empty file opened through this
	// VFS is not a database written by it: a plaintext SQLite database, a
	// file in another format, or one whose header was destroyed. SQLite
	// reports it as sqlite3.CANTOPEN when the database is opened, and as
	// sqlite3.IOERR_READ when a database that was empty at open is read
	// (go-sqlite3 would drop it from a NOTADB); the error still matches
	// sqlite3.NOTADB for [errors.Is].
	ErrNotEncrypted = errors.New("sqlitevfs: not an encrypted database")

	// ErrReserve is returned when a database's reserved bytes per page are
	// not [ReserveBytes], either in an existing file or in a first write
	// that did not set [SetReserve]. SQLite reports it as sqlite3.IOERR_WRITE
	// on write; for an existing file, like [ErrNotEncrypted]: sqlite3.CANTOPEN
	// on open, sqlite3.IOERR_READ on a later read, matching sqlite3.NOTADB
	// for [errors.Is].
	ErrReserve = errors.New("sqlitevfs: database reserved bytes per page must be 32 (call SetReserve before the first write)")

	// ErrAuth is the cause of every [PageError]: a page image failed
	// authentication because it was modified, truncated, moved, or written
	// under another key. SQLite reports it as sqlite3.IOERR_DATA.
	ErrAuth = errors.New("sqlitevfs: page failed authentication")

	// ErrEpochLimit is the cause of a [PageError] when the page's epoch
	// subkey was not derived because too many images of unknown epochs
	// failed authentication in a short time, as forged epochs in a
	// modified file make them do (see internal/pagecrypt). It wraps
	// ErrAuth: errors.Is(err, ErrAuth) holds too.
	ErrEpochLimit = fmt.Errorf("sqlitevfs: too many pages of unknown epochs failed authentication, not deriving more keys for now: %w", ErrAuth)

	// ErrWALDamaged is the cause of a [PageError] from WAL recovery: a
	// frame is invalid although intact frames of a later transaction of
	// the same WAL generation follow it, so it was damaged after it was
	// written, not torn by a crash. Recovery stops with this error
	// instead of silently discarding the committed transactions from that
	// frame on. SQLite reports it as sqlite3.IOERR_DATA.
	ErrWALDamaged = errors.New("sqlitevfs: WAL frame damaged in the middle of the log")

	// ErrUnalignedWrite is returned when SQLite writes something that is
	// not a whole page where page contents belong. It indicates a bug or an
	// unsupported SQLite feature, never bad data; the write does not happen.
	// SQLite reports it as sqlite3.IOERR_WRITE.
	ErrUnalignedWrite = errors.New("sqlitevfs: unaligned write to page data")

	// ErrUnalignedRead is returned when SQLite reads part of a WAL page
	// image, which could only be answered with ciphertext. SQLite reports it
	// as sqlite3.IOERR_READ.
	ErrUnalignedRead = errors.New("sqlitevfs: unaligned read of page data")
)

// authError maps a failure of pagecrypt's Open to this package's error.
func authError(err error) error {
	if errors.Is(err, pagecrypt.ErrEpochLimit) {
		return ErrEpochLimit
	}
	return ErrAuth
}

// PageError reports a page image that failed authentication.
type PageError struct {
	File   string // path of the database, WAL or journal file
	Kind   string // "db", "wal" or "journal"
	Page   uint32 // SQLite page number (0 if the frame header is unreadable)
	Offset int64  // file offset of the page image
	Err    error  // ErrAuth, ErrEpochLimit, ErrWALDamaged, or the error that kept the page from being read
}

func (e *PageError) Error() string {
	return fmt.Sprintf("sqlitevfs: %s page %d at offset %d of %s: %v", e.Kind, e.Page, e.Offset, e.File, e.Err)
}

func (e *PageError) Unwrap() error { return e.Err }

// cantOpen is SQLITE_CANTOPEN as an extended code, for [VFS.report].
const cantOpen = sqlite3.ExtendedErrorCode(sqlite3.CANTOPEN)

// notADBError is a typed error for a file that is not a database of this
// package. It travels with CANTOPEN or IOERR_READ, the codes go-sqlite3
// attaches a VFS error to (it drops the error of a NOTADB), and matches
// sqlite3.NOTADB for [errors.Is] so that callers testing for NOTADB, as
// SQLite reports a plaintext file that is not a database, keep working.
type notADBError struct{ error }

func (e notADBError) Unwrap() error { return e.error }

func (e notADBError) Is(target error) bool {
	return target == sqlite3.NOTADB || target == sqlite3.ExtendedErrorCode(sqlite3.NOTADB)
}

// connErrs holds the last typed error the VFS reported for one connection:
// its main database file, that file's WAL and its journals. Nothing is
// shared between connections.
type connErrs struct{ last atomic.Pointer[connErr] }

type connErr struct {
	err  error
	code sqlite3.ExtendedErrorCode
}

func (e *connErrs) record(err error, code sqlite3.ExtendedErrorCode) {
	e.last.Store(&connErr{err: err, code: code})
}

// take returns the recorded error and forgets it.
func (e *connErrs) take() *connErr { return e.last.Swap(nil) }

// reset forgets the recorded error.
func (e *connErrs) reset() { e.last.Store(nil) }

// ConnError returns err, returned by a call on c, with the typed error
// ([*PageError], [ErrWrongKey], [ErrReserve], …) the VFS reported for c's
// main database, its WAL or journal during that call, for [errors.Is] and
// [errors.As]. go-sqlite3 attaches a VFS error to the *sqlite3.Error only
// when it survives to the end of the call, and SQLite's cleanup after a
// failure (releasing locks) usually replaces it; the connection's own
// record fills the gap. Call it right after the failing call, before c is
// used again or handed to another goroutine.
//
// The typed error is added only when err carries the result code it was
// reported with, and only once: it is forgotten when taken, when the next
// typed error of c replaces it, and when c starts a transaction in rollback
// mode. An error of another connection is never added. err is returned
// unchanged if it is nil, already carries the typed error or another error
// go-sqlite3 attached (an OS error of the failing call), or c's main
// database is not a file of this package. A failure to grow the WAL index
// (-shm), which the OS VFS maps itself, is typed as [ErrDiskFull] when the
// filesystem has no room left for it. ConnError is safe to call on every
// error.
func ConnError(c *sqlite3.Conn, err error) error {
	if err == nil || c == nil {
		return err
	}
	errs := connErrsOf(c)
	if errs == nil {
		return err
	}
	rec := errs.take()
	if rec == nil {
		return shmFull(c, err)
	}
	var code error = rec.code
	if rec.code == ioerr {
		code = sqlite3.IOERR // a disk-full record matches every IOERR code
	}
	if !errors.Is(err, code) || errors.Is(err, rec.err) {
		return err
	}
	if se := (*sqlite3.Error)(nil); errors.As(err, &se) && se.Unwrap() != nil {
		return err // go-sqlite3 attached the call's last VFS error: that one
	}
	return fmt.Errorf("%w: %w", err, rec.err)
}

// connErrsOf returns the typed-error record of c's main database file, or
// nil if it is not a file of this package.
func connErrsOf(c *sqlite3.Conn) *connErrs {
	f, err := c.FileControl("main", sqlite3.FCNTL_FILE_POINTER)
	if err != nil {
		return nil
	}
	vf, ok := f.(vfs.File)
	if !ok {
		return nil
	}
	if d, ok := vfsutil.UnwrapFile[*dbFile](vf); ok {
		return d.errs
	}
	if f, ok := vfsutil.UnwrapFile[*fullFile](vf); ok {
		return f.errs // PlainVFSName
	}
	return nil
}
