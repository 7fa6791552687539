package keyring

import (
	"fmt"
	"os"
	"time"

	"github.com/gofastr/store/internal/diskfull"
	"github.com/gofastr/store/internal/filelock"
)

// Cross-process locking.
//
// Two lock files live next to the database, each held with an advisory OS
// lock on an open file (flock on Unix, LockFileEx on Windows; see package
// internal/filelock), in the style of litestream and the SQLite unix VFS:
//
//   - <db>.lock, the store lock. Every open store holds it shared for its
//     lifetime ([LockStore]; host.OpenWithKEK does this), and every keyring
//     operation holds it shared while it runs. [RekeyWith] and
//     [EncryptWith], which replace the database file, hold it exclusively
//     from before they read the header until the new file and header are
//     in place, so no process can load the old DEK and then write into the
//     replaced (unlinked) file.
//   - <db>.dek.lock, the header lock. Every operation that reads or writes
//     the header files (.dek, .dek.next, .rekey) holds it exclusively, so
//     that creation, rotation, import, export and rekey recovery run one
//     at a time; with the store lock held shared, no rekey runs meanwhile,
//     so leftovers found then belong to a dead rekey and may be removed.
//
// Lock order is always store lock, then header lock; RekeyWith needs only
// the store lock, since holding it exclusively already excludes every
// header operation. The OS drops a lock when its process dies (SIGKILL
// included), so a crash never leaves a stale lock, unlike a PID file. The
// files are created with mode 0600, hold no data and are never deleted:
// deleting a lock file someone holds or is about to open would let two
// processes lock two different files.
//
// flock and LockFileEx locks belong to an open file, not to a process, so
// two goroutines of one process exclude each other exactly like two
// processes. POSIX fcntl locks do not, and are dropped when any descriptor
// of the file is closed, which is why they are not used. The locks are
// advisory. Package host takes the store lock for every encrypted store;
// code that opens the database some other way (sqlitevfs directly) should
// hold a [StoreLock] too. Without one it is kept out of a rekey only by
// the re-encrypter's hold on the old database (SQLite's exclusive lock,
// for host.Rekey), kept until the new file is in place; a connection
// opened on the old file before then could commit to the replaced file
// after the re-encrypter lets go.
const (
	storeLockSuffix  = ".lock"
	headerLockSuffix = ".dek.lock"
)

// Lock waits. Header operations are short (an Argon2id derivation at
// most), but a rekey holds the store lock for as long as it takes to
// re-encrypt the database.
const (
	// lockWait bounds the wait for a shared store lock or the header lock.
	lockWait = 30 * time.Second
	// rekeyLockWait bounds RekeyWith's wait for the exclusive store lock:
	// the store is usually open somewhere, and then rekey must fail fast.
	rekeyLockWait = time.Second
)

// fileLock is a held lock on a lock file.
type fileLock struct{ f *os.File }

// acquire opens (creating with mode 0600) the lock file at path and locks
// it, shared or exclusive, waiting up to wait. If the lock stays taken, the
// error wraps [ErrInUse].
func acquire(path string, exclusive bool, wait time.Duration) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keyring: open lock file: %w", diskfull.Wrap(err))
	}
	ok, err := filelock.LockWait(f, exclusive, wait)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("keyring: lock %s: %w", path, err)
	}
	if !ok {
		f.Close()
		return nil, fmt.Errorf("%w: %s is locked by another process or store (waited %v)", ErrInUse, path, wait)
	}
	return &fileLock{f}, nil
}

// release unlocks: closing the file drops its lock.
func (l *fileLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// lockHeader takes the store lock shared and the header lock exclusively,
// then finishes or rolls back an interrupted rekey with a KEK from src.
// The returned function releases both locks.
func lockHeader(dbPath string, src KEKSource) (unlock func(), err error) {
	sl, err := acquire(dbPath+storeLockSuffix, false, lockWait)
	if err != nil {
		return nil, err
	}
	hl, err := acquire(dbPath+headerLockSuffix, true, lockWait)
	if err != nil {
		sl.release()
		return nil, err
	}
	unlock = func() { hl.release(); sl.release() }
	if err := recoverRekey(dbPath, src); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// StoreLock is a shared hold on a store's lock file (see [LockStore]).
type StoreLock struct{ l *fileLock }

// LockStore takes the store lock of the database at dbPath shared and
// returns it; hold it for as long as a connection to the database is open,
// and take it before loading the DEK. While any StoreLock is held,
// [RekeyWith] fails with [ErrInUse] instead of replacing the database
// under the open connection (whose writes would go to the replaced file
// and be lost). LockStore waits up to 30 seconds for a rekey in progress
// and then fails with an error wrapping [ErrInUse]. KEK rotation, export
// and import work while StoreLocks are held.
func LockStore(dbPath string) (*StoreLock, error) {
	l, err := acquire(dbPath+storeLockSuffix, false, lockWait)
	if err != nil {
		return nil, err
	}
	return &StoreLock{l}, nil
}

// Close releases the lock. Later calls do nothing.
func (s *StoreLock) Close() error {
	if s == nil {
		return nil
	}
	return s.l.release()
}

// WithHeaderLock runs fn while holding the header lock of the database at
// dbPath exclusively (waiting up to 30 seconds for it), the lock every
// header operation holds, [LoadOrCreateDEKWith] included while it creates
// a header and calls back to create the encrypted database. A caller that
// creates a plaintext database at dbPath does so inside fn, after checking
// there that no header exists: racing first opens of one path, one
// plaintext and one encrypted, then happen one after the other, and the
// second sees what the first created instead of leaving a plaintext
// database beside a header. Take the store lock ([LockStore]) first, as
// every operation does. If the lock stays taken, the error wraps
// [ErrInUse].
func WithHeaderLock(dbPath string, fn func() error) error {
	hl, err := acquire(dbPath+headerLockSuffix, true, lockWait)
	if err != nil {
		return err
	}
	defer hl.release()
	return fn()
}
