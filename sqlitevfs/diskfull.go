package sqlitevfs

import (
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/diskfull"
)

// ErrDiskFull is returned, wrapping the operating system's error (which
// matches syscall.ENOSPC for [errors.Is]), when a write, truncate or sync
// of a database, its WAL or journal fails because the filesystem is full.
// SQLite reports it as the sqlite3.IOERR code of the failed operation
// (IOERR_WRITE, …) and rolls the transaction back: nothing committed is
// lost. Free space and retry.
//
// go-sqlite3 keeps the OS error only until the connection's next VFS call,
// and SQLite's rollback after the failure replaces it; the error a
// connection returns carries it through [ConnError], for the encrypting
// VFS and for [PlainVFSName].
//
// It is the same value as keyring.ErrDiskFull and host.ErrDiskFull.
var ErrDiskFull = diskfull.ErrDiskFull

// diskFullError is the typed error of a full filesystem: it matches
// [ErrDiskFull] and wraps the OS error (ENOSPC).
type diskFullError struct{ err error }

func (e *diskFullError) Error() string { return fmt.Sprintf("%v: %v", ErrDiskFull, e.err) }

func (e *diskFullError) Unwrap() []error { return []error{ErrDiskFull, e.err} }

// ioerr is the primary code a disk-full record is matched against: SQLite
// may report a failed write under another IOERR extended code than the one
// the VFS returned (IOERR_WRITE from a WAL append, IOERR_TRUNCATE, …).
const ioerr = sqlite3.ExtendedErrorCode(sqlite3.IOERR)

// fullFile wraps an OS file and turns a failure for lack of space into a
// typed error recorded for the connection (see [ConnError]). It sits under
// the encrypting VFS's files and is the file of [PlainVFSName].
type fullFile struct {
	vfs.File
	path string
	errs *connErrs
	main bool // the main database file: Lock, Unlock and Close manage the record
}

// full records err as the connection's disk-full error when it is one,
// and returns it tagged with code for SQLite.
func (f *fullFile) full(err error, code sqlite3.ExtendedErrorCode) error {
	if err == nil || !diskfull.Is(err) { // ENOSPC, EDQUOT, Windows' ERROR_DISK_FULL
		return err
	}
	var dfe *diskFullError
	if !errors.As(err, &dfe) {
		dfe = &diskFullError{err: err}
	}
	if f.errs != nil {
		f.errs.record(dfe, ioerr)
	}
	return vfs.SystemError(dfe, code)
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	return n, f.full(err, sqlite3.IOERR_WRITE)
}

func (f *fullFile) Truncate(size int64) error {
	return f.full(f.File.Truncate(size), sqlite3.IOERR_TRUNCATE)
}

func (f *fullFile) Sync(flags vfs.SyncFlag) error {
	return f.full(f.File.Sync(flags), sqlite3.IOERR_FSYNC)
}

func (f *fullFile) SizeHint(size int64) error {
	return f.full(vfsutil.WrapSizeHint(f.File, size), sqlite3.IOERR_TRUNCATE)
}

// Lock forgets the record when a transaction starts in rollback mode, like
// dbFile.Lock.
func (f *fullFile) Lock(lock vfs.LockLevel) error {
	if f.main && lock == vfs.LOCK_SHARED && f.errs != nil {
		f.errs.reset()
	}
	return f.File.Lock(lock)
}

// Unlock and Close hand a pending record back to go-sqlite3, like
// dbFile.pending.
func (f *fullFile) Unlock(lock vfs.LockLevel) error {
	if err := f.File.Unlock(lock); err != nil {
		return err
	}
	return f.pending()
}

func (f *fullFile) Close() error {
	if err := f.File.Close(); err != nil {
		return err
	}
	return f.pending()
}

func (f *fullFile) pending() error {
	if !f.main || f.errs == nil {
		return nil
	}
	if rec := f.errs.last.Load(); rec != nil {
		return vfs.SystemError(rec.err, uint8(0)) // SQLITE_OK
	}
	return nil
}

// The optional interfaces of the OS file are forwarded.
var (
	_ vfs.FileUnwrap             = (*fullFile)(nil)
	_ vfs.FileLockState          = (*fullFile)(nil)
	_ vfs.FileSharedMemory       = (*fullFile)(nil)
	_ vfs.FilePersistWAL         = (*fullFile)(nil)
	_ vfs.FilePowersafeOverwrite = (*fullFile)(nil)
	_ vfs.FileChunkSize          = (*fullFile)(nil)
	_ vfs.FileSizeHint           = (*fullFile)(nil)
	_ vfs.FileHasMoved           = (*fullFile)(nil)
	_ vfs.FileOverwrite          = (*fullFile)(nil)
	_ vfs.FileSync               = (*fullFile)(nil)
	_ vfs.FileCommitPhaseTwo     = (*fullFile)(nil)
	_ vfs.FileBatchAtomicWrite   = (*fullFile)(nil)
	_ vfs.FileCheckpoint         = (*fullFile)(nil)
	_ vfs.FilePragma             = (*fullFile)(nil)
	_ vfs.FileBusyHandler        = (*fullFile)(nil)
)

func (f *fullFile) Unwrap() vfs.File                { return f.File }
func (f *fullFile) LockState() vfs.LockLevel        { return vfsutil.WrapLockState(f.File) }
func (f *fullFile) SharedMemory() vfs.SharedMemory  { return vfsutil.WrapSharedMemory(f.File) }
func (f *fullFile) PersistWAL() bool                { return vfsutil.WrapPersistWAL(f.File) }
func (f *fullFile) SetPersistWAL(keep bool)         { vfsutil.WrapSetPersistWAL(f.File, keep) }
func (f *fullFile) PowersafeOverwrite() bool        { return vfsutil.WrapPowersafeOverwrite(f.File) }
func (f *fullFile) SetPowersafeOverwrite(psow bool) { vfsutil.WrapSetPowersafeOverwrite(f.File, psow) }
func (f *fullFile) ChunkSize(size int)              { vfsutil.WrapChunkSize(f.File, size) }
func (f *fullFile) HasMoved() (bool, error)         { return vfsutil.WrapHasMoved(f.File) }
func (f *fullFile) Overwrite() error                { return vfsutil.WrapOverwrite(f.File) }
func (f *fullFile) SyncSuper(super string) error    { return vfsutil.WrapSyncSuper(f.File, super) }
func (f *fullFile) CommitPhaseTwo() error           { return vfsutil.WrapCommitPhaseTwo(f.File) }
func (f *fullFile) CheckpointStart()                { vfsutil.WrapCheckpointStart(f.File) }
func (f *fullFile) CheckpointDone()                 { vfsutil.WrapCheckpointDone(f.File) }
func (f *fullFile) BusyHandler(handler func() bool) { vfsutil.WrapBusyHandler(f.File, handler) }
func (f *fullFile) Pragma(name, value string) (string, error) {
	return vfsutil.WrapPragma(f.File, name, value)
}
func (f *fullFile) BeginAtomicWrite() error {
	return f.full(vfsutil.WrapBeginAtomicWrite(f.File), sqlite3.IOERR_BEGIN_ATOMIC)
}
func (f *fullFile) CommitAtomicWrite() error {
	return f.full(vfsutil.WrapCommitAtomicWrite(f.File), sqlite3.IOERR_COMMIT_ATOMIC)
}
func (f *fullFile) RollbackAtomicWrite() error { return vfsutil.WrapRollbackAtomicWrite(f.File) }

// PlainVFSName is the name [RegisterPlain] registers: the OS VFS, with
// the error of a full filesystem recorded for [ConnError] ([ErrDiskFull]).
// Nothing is encrypted.
const PlainVFSName = "gofastr-plain"

// RegisterPlain registers the plaintext VFS [PlainVFSName] once.
func RegisterPlain() {
	if vfs.Find(PlainVFSName) != nil {
		return
	}
	vfs.Register(PlainVFSName, WrapPlain(nil))
}

// WrapPlain returns the VFS that [PlainVFSName] is over base instead of
// the OS VFS (nil means the OS VFS): nothing is encrypted, and a full
// filesystem is recorded for [ConnError] ([ErrDiskFull]). Register it
// under a name of the caller's choosing.
func WrapPlain(base vfs.VFS) vfs.VFS {
	if base == nil {
		base = vfs.Find("")
	}
	return plainVFS{base}
}

// plainVFS wraps the database, WAL and journal files of a base VFS (the
// OS VFS for PlainVFSName) in fullFile, and keeps temporary files in
// memory, as the encrypting VFS does: the savepoint journal of a
// retention holds the very content it drops, which must not reach a
// temporary directory, and a full temporary directory must not fail a
// store whose own disk has room.
type plainVFS struct{ vfs.VFS }

func (v plainVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	return v.OpenFilename(nil, flags)
}

func (v plainVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if flags&vfs.OPEN_MEMORY == 0 && (name == nil || flags&(vfs.OPEN_TEMP_DB|vfs.OPEN_TEMP_JOURNAL|vfs.OPEN_TRANSIENT_DB|vfs.OPEN_SUBJOURNAL) != 0) {
		return &memFile{}, flags | vfs.OPEN_MEMORY, nil
	}
	f, flags, err := vfsutil.WrapOpenFilename(v.VFS, name, flags)
	if err != nil || name == nil || flags&(vfs.OPEN_MAIN_DB|vfs.OPEN_WAL|vfs.OPEN_MAIN_JOURNAL) == 0 {
		return f, flags, err
	}
	ff := &fullFile{File: f, path: name.String(), main: flags&vfs.OPEN_MAIN_DB != 0}
	if ff.main {
		ff.errs = new(connErrs)
	} else if db, ok := vfsutil.UnwrapFile[*fullFile](name.DatabaseFile()); ok {
		ff.errs = db.errs // a connection's WAL and journal report with its database
	}
	return ff, flags, nil
}
