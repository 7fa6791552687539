package host

import (
	"errors"

	"github.com/gofastr/store/internal/sqldb"
	"github.com/gofastr/store/sqlitevfs"
)

// Errors returned by [Store] methods. Callers test them with [errors.Is].
var (
	// ErrClosed is returned by every method of a Store after Close.
	ErrClosed = sqldb.ErrClosed

	// ErrEmptySession is returned when an event, intent or outcome has an
	// empty session ID.
	ErrEmptySession = errors.New("host: empty session ID")

	// ErrInvalidPayload is returned when a payload is not valid JSON, or a
	// redactor turned it into something that is not.
	ErrInvalidPayload = errors.New("host: payload is not valid JSON")

	// ErrInvalidArgument is returned for other bad input: an empty kind,
	// call ID or tool name, a negative limit or duration.
	ErrInvalidArgument = errors.New("host: invalid argument")

	// ErrPayloadTooLarge is returned when an event payload, tool arguments
	// or a tool result is larger than the store's maximum payload size
	// ([MaxPayloadSize] unless [Config.WithMaxPayloadSize] set it lower);
	// nothing is stored.
	ErrPayloadTooLarge = errors.New("host: payload larger than the store's maximum payload size")

	// ErrEncryptedStore is returned (wrapped) by [Open] for a store that is
	// encrypted, for instance by [Encrypt]: open it with a KEK
	// ([OpenWithConfig] with [Config.WithKEKSource], or [OpenWithKEK]) or
	// its data key ([Config.WithKey], [OpenEncrypted]). Nothing is
	// changed. [Encrypt] returns it for a store that is encrypted already.
	ErrEncryptedStore = errors.New("host: store is encrypted: open it with a KEK (OpenWithConfig with WithKEKSource, or OpenWithKEK) or its data key (WithKey, OpenEncrypted)")

	// ErrPlaintextStore is returned (wrapped, together with
	// sqlitevfs.ErrNotEncrypted) by [OpenWithKEK] and [OpenEncrypted] for a
	// store that is not encrypted: open it with [Open], or convert it with
	// [Encrypt]. Nothing is changed and no DEK header is created.
	ErrPlaintextStore = errors.New("host: store is not encrypted: open it with Open")

	// ErrNotStore is returned (wrapped, with what the file is) by the Open
	// functions for a file that is not a session store: not an SQLite
	// database, or an SQLite database of another application (another
	// application ID, or none on a database that is not empty); and by
	// [Encrypt] for any file that is not a plaintext session store with
	// data. It is left untouched, and nothing is created beside it.
	ErrNotStore = sqldb.ErrNotStore

	// ErrNewerSchema is returned by the Open functions for a store written
	// by a newer version of this package; it is left untouched.
	ErrNewerSchema = sqldb.ErrNewerSchema

	// ErrBusy is returned (wrapped) when a write or read waited longer
	// than the busy timeout ([Config.WithBusyTimeout], 5 s by default) for
	// a lock another handle or process held: most often ApplyRetention's
	// rewrite of a large store (VACUUM), which holds the write lock while
	// it copies the whole database. Nothing was written; retry.
	ErrBusy = sqldb.ErrBusy

	// ErrCorrupt is returned (wrapped, with SQLite's "database disk image
	// is malformed") when the database's structure is damaged: a file cut
	// short, pages overwritten in a plaintext store. Nothing is changed;
	// restore from a backup. [Verify] names the damaged pages. In an
	// encrypted store, a page that fails authentication is reported as
	// a [sqlitevfs.PageError] instead.
	ErrCorrupt = sqldb.ErrCorrupt

	// ErrNoMemory is returned (wrapped) by a call during which SQLite ran
	// out of memory: it runs in WebAssembly, each connection with a heap
	// capped at 256 MiB (32 MiB on 32-bit platforms). The call's write was
	// rolled back, and so were the other writes group-committed in the
	// same transaction, which fail with this error too (for ApplyRetention
	// and DropMetadata, a failure in the rewrite that follows the
	// committed change matches [ErrNotErased] instead); every write
	// acknowledged before is kept, and the connection is replaced, so the
	// next call starts afresh. Temporary data of large transactions
	// (savepoint and statement journals, temporary b-trees, VACUUM's copy)
	// does not count against that heap: it is kept in Go memory, never on
	// disk, and bounded only by the machine's memory (about twice what a
	// transaction changes), so a store sees this error only for a single
	// value or query beyond the cap.
	ErrNoMemory = sqldb.ErrNoMemory

	// ErrDatabaseLost is returned (wrapped) by the Open functions when the
	// database is missing or empty (zero length, no WAL data) but its DEK
	// header <path>.dek exists: the store's data was lost or truncated.
	// Nothing is created or changed; restore the database from a backup,
	// or remove the header if the store never held data (a first open
	// that crashed before it created the schema).
	ErrDatabaseLost = errors.New("host: store's data lost")

	// ErrNotErased is returned (wrapped, with its cause) by
	// [Store.ApplyRetention] and [Store.DropMetadata], together with the
	// number of events they changed, when the change committed but
	// rewriting the files (VACUUM, WAL truncation) failed, for example on
	// a full disk: the dropped content no longer reads back but is not yet
	// erased from the files. Retry (once space is freed); the retry erases
	// it even when there is nothing new to drop.
	ErrNotErased = errors.New("host: content dropped but not yet erased from the store's files; retry to erase it")

	// ErrDiskFull is returned (wrapped) when a write fails because the
	// filesystem holding the store is full; the error also wraps the
	// operating system's error, which matches syscall.ENOSPC. The write
	// was rolled back: nothing acknowledged before is lost or changed.
	// Free space and retry. It is [sqlitevfs.ErrDiskFull] and
	// keyring.ErrDiskFull (one value), so it also reports a DEK header
	// that could not be written. [Rekey], [Encrypt], keyring.RotateKEK, a
	// [MonthlyRollover]'s new month and [MonthlyRollover.DropMonthsBefore]
	// that fail with it leave the store as it was: under its old data key
	// and KEK, no copy or next header left behind, and the same call
	// succeeds once there is space. [MonthlyRollover.RotateKEK] rotates
	// one month at a time: failing with it, it may leave the first months
	// under the new KEK and the rest under the old (its error says how
	// many), and the same call, once there is space, finishes the
	// rotation. Retention that fails with it after its change committed
	// returns [ErrNotErased] too.
	ErrDiskFull = sqlitevfs.ErrDiskFull
)
