package sqlitevfs

import (
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/pagecrypt"
)

// Errors returned by this package. Through SQLite they surface as the
// extended result codes named below; callers test them with [errors.Is].
var (
	// ErrWrongKey is returned when a database was sealed under a different
	// key than the one given. The file is left untouched. SQLite reports it
	// as sqlite3.IOERR_BADKEY.
	ErrWrongKey = errors.New("sqlitevfs: wrong key for database")

	// ErrNotEncrypted is returned when a non-empty file opened through this
	// VFS is not a database written by it: a plaintext SQLite database, a
	// file in another format, or one whose header was destroyed. SQLite
	// reports it as sqlite3.NOTADB.
	ErrNotEncrypted = errors.New("sqlitevfs: not an encrypted database")

	// ErrReserve is returned when a database's reserved bytes per page are
	// not [ReserveBytes], either in an existing file or in a first write
	// that did not set [SetReserve]. SQLite reports it as sqlite3.IOERR_WRITE
	// on write and sqlite3.NOTADB on open.
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
	ErrUnalignedWrite = errors.New("sqlitevfs: unaligned write to page data")

	// ErrUnalignedRead is returned when SQLite reads part of a WAL page
	// image, which could only be answered with ciphertext.
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

// notADB is SQLITE_NOTADB as an extended code, for [VFS.report].
const notADB = sqlite3.ExtendedErrorCode(sqlite3.NOTADB)
