package keyring

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/sqlitevfs"
)

// Rekey file names, next to the database.
const (
	// nextHeaderSuffix names the header of a rekey in progress.
	nextHeaderSuffix = ".dek.next"
	// rekeyDBSuffix names the re-encrypted copy a rekey builds.
	rekeyDBSuffix = ".rekey"
)

// Rekey replaces the DEK of the encrypted database at dbPath (raw KEK). It
// is [RekeyWith] with [RawKEK](kek).
func Rekey(dbPath string, kek []byte) error { return RekeyWith(dbPath, RawKEK(kek)) }

// RekeyWith replaces the DEK of the encrypted database at dbPath with a new
// random one and re-encrypts every page under it; the header stays wrapped
// under a KEK from src. Afterwards the old DEK (and escrow files made with
// it) no longer open the database: export a new escrow. It works for
// databases in WAL mode. The database must not be open anywhere else; if it
// is (a [StoreLock] is held, or an SQLite connection is open), RekeyWith
// returns [ErrInUse] and changes nothing.
//
// Locking: RekeyWith holds the store lock file exclusively for the whole
// operation, so no other keyring operation, rekey recovery or store open
// (host.OpenWithKEK) runs meanwhile, in this or any other process. It
// also keeps an SQLite connection in exclusive locking mode open on the
// old database until the re-encrypted copy has been renamed over it and
// the rename is durable, so that even a process that opens the database
// without the lock file cannot commit to the old file in between.
//
// Crash safety: the new header is written to <db>.dek.next and the
// re-encrypted copy to <db>.rekey (both fsynced) before the copy is renamed
// over the database, which is the commit point; the header rename follows.
// The database's plaintext key check tells which DEK it needs, so the next
// LoadOrCreateDEK, RotateKEK, ExportDEK, ImportDEK or RekeyWith finishes an
// interrupted rekey or rolls it back: killed at any point, the store opens
// with exactly one DEK and all of its data.
func RekeyWith(dbPath string, src KEKSource) error {
	sl, err := acquire(dbPath+storeLockSuffix, true, rekeyLockWait)
	if err != nil {
		return err
	}
	defer sl.release()
	if err := recoverRekey(dbPath, src); err != nil {
		return err
	}
	oldDEK, err := loadDEK(dbPath, src)
	if err != nil {
		return err
	}
	defer clear(oldDEK)
	newDEK := make([]byte, DEKSize)
	rand.Read(newDEK)
	defer clear(newDEK)

	nh, err := wrapNew(src, newDEK)
	if err != nil {
		return err
	}
	next, tmp := dbPath+nextHeaderSuffix, dbPath+rekeyDBSuffix
	removeCopy(tmp)
	if err := writeHeader(next, nh, true); err != nil {
		return err
	}
	if testRekeyStop("next-written") {
		return errSimulatedCrash
	}
	old, err := reencrypt(dbPath, tmp, oldDEK, newDEK)
	if err != nil {
		removeCopy(tmp)
		os.Remove(next)
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	// old holds the exclusive lock on the old database until it is closed.
	if err := old.swap(dbPath, tmp); err != nil {
		// Before the rename the old database is intact and the next
		// recovery rolls back; after it, the next recovery finishes.
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	if testRekeyStop("renamed") {
		return errSimulatedCrash
	}
	return finishRekey(dbPath)
}

// oldDB is the connection that keeps the old database exclusively locked
// while the re-encrypted copy replaces it.
type oldDB struct {
	c    *sqlite3.Conn
	from *engine.Keyed
}

// close closes the connection without a checkpoint. By then the database
// path may name the new file: with SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE SQLite
// neither checkpoints into nor deletes the -wal and -shm files by path, so
// closing cannot touch files that belong to the new database.
func (o *oldDB) close() error {
	if o.c == nil {
		return nil
	}
	o.c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true)
	err := o.c.Close()
	o.c = nil
	o.from.Close()
	return err
}

// swap renames the re-encrypted copy tmp over dbPath (the commit point)
// and makes the rename durable, all while the old database stays locked,
// then closes the old connection.
func (o *oldDB) swap(dbPath, tmp string) (err error) {
	defer func() {
		if cerr := o.close(); err == nil {
			err = cerr
		}
	}()
	// The old -wal is empty after the TRUNCATE checkpoint, the -shm
	// describes it, and a -journal left by exclusive locking mode is not
	// hot: none of them belongs to the new file, which has none yet (the
	// check connection closed cleanly). They are removed while the old
	// connection still holds its exclusive lock, so no one can commit to
	// them any more.
	for _, p := range []string{dbPath + "-wal", dbPath + "-shm", dbPath + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !renameNeedsClose {
			return err
		}
	}
	if renameNeedsClose {
		// Windows cannot rename over or delete an open file. The store
		// lock file still keeps every cooperating process out; only a
		// process that opens the database without it could get in here.
		if err := o.close(); err != nil {
			return err
		}
		for _, p := range []string{dbPath + "-wal", dbPath + "-shm", dbPath + "-journal"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if testRekeyStop("before-rename") {
		return errSimulatedCrash
	}
	if err := os.Rename(tmp, dbPath); err != nil { // commit point
		return err
	}
	return syncDir(filepath.Dir(dbPath))
}

// renameNeedsClose is set where open files cannot be renamed over.
const renameNeedsClose = runtime.GOOS == "windows"

// reencrypt copies the database at src, sealed under oldDEK, to dst sealed
// under newDEK, checks the copy and fsyncs it. It returns the connection
// to src, still holding SQLite's exclusive lock; the caller closes it.
func reencrypt(src, dst string, oldDEK, newDEK []byte) (_ *oldDB, err error) {
	from, err := engine.RegisterKey(oldDEK)
	if err != nil {
		return nil, err
	}
	to, err := engine.RegisterKey(newDEK)
	if err != nil {
		from.Close()
		return nil, err
	}
	defer to.Close()

	c, err := engine.Open(src, engine.Options{VFS: from.Name, Encrypted: true, JournalMode: "wal", BusyTimeout: rekeyBusyTimeout, Private: true})
	if err != nil {
		from.Close()
		return nil, inUse(err)
	}
	old := &oldDB{c: c, from: from}
	defer func() {
		if err != nil {
			old.close()
		}
	}()
	// Exclusive locking mode holds the exclusive lock taken by the empty
	// write transaction until c closes, keeping other connections out; it
	// fails with BUSY if another connection has the database open.
	if err := c.Exec("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT"); err != nil {
		return nil, inUse(sqlitevfs.ConnError(c, err))
	}
	if _, _, err := c.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE); err != nil {
		return nil, inUse(sqlitevfs.ConnError(c, err))
	}
	if err := sqlitevfs.SetReserve(c, "main"); err != nil {
		return nil, err
	}
	// VACUUM INTO would create dst with 0666 less the umask; an empty file
	// is accepted as its target, so create it owner-only first. The copy
	// is renamed over the database and must be as private as it.
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	if err := c.Exec("VACUUM INTO " + sqlQuote(engine.URI(dst, to.Name))); err != nil {
		return nil, sqlitevfs.ConnError(c, err)
	}

	// The check connection also puts the copy in WAL mode, like the
	// stores that use it: otherwise the first opens after the rekey must
	// convert it, which needs an exclusive lock and fails with BUSY when
	// two processes open the store at once. Its clean close removes the
	// copy's -wal and -shm.
	check, err := engine.Open(dst, engine.Options{VFS: to.Name, Encrypted: true, JournalMode: "wal", Private: true})
	if err != nil {
		return nil, err
	}
	st, _, err := check.Prepare("PRAGMA quick_check")
	if err == nil {
		if st.Step() && st.ColumnText(0) != "ok" {
			err = fmt.Errorf("re-encrypted copy fails quick_check: %s", st.ColumnText(0))
		} else if err = st.Err(); err != nil {
			err = sqlitevfs.ConnError(check, err)
		}
		st.Close()
	}
	if cerr := check.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	f, err = os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return old, nil
}

// rekeyBusyTimeout bounds the wait for other connections to let go.
const rekeyBusyTimeout = time.Second

// inUse maps lock contention to ErrInUse.
func inUse(err error) error {
	if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
		return fmt.Errorf("%w: %w", ErrInUse, err)
	}
	return err
}

// recoverRekey finishes or rolls back a rekey that was interrupted. The
// database's key check decides: if it matches the DEK in <db>.dek.next, the
// new file is in place and the header rename is finished; otherwise the
// leftovers are removed.
//
// The caller holds the store lock (shared, with the header lock, or
// exclusively): no rekey is running then, so leftovers belong to a dead
// one. Without the lock a rekey in progress would look interrupted, and
// removing its files destroys the store.
func recoverRekey(dbPath string, src KEKSource) error {
	next := dbPath + nextHeaderSuffix
	nh, err := readHeaderFile(next)
	if errors.Is(err, fs.ErrNotExist) {
		removeCopy(dbPath + rekeyDBSuffix)
		return nil
	}
	if err != nil {
		return fmt.Errorf("keyring: interrupted rekey: %w", err)
	}
	newDEK, err := unwrap(nh, next, src)
	if err != nil {
		return fmt.Errorf("keyring: interrupted rekey of %s: %w", dbPath, err)
	}
	defer clear(newDEK)
	uses, err := databaseUses(dbPath, newDEK)
	if err != nil {
		return fmt.Errorf("keyring: interrupted rekey of %s: %w", dbPath, err)
	}
	if uses {
		return finishRekey(dbPath)
	}
	removeCopy(dbPath + rekeyDBSuffix)
	if err := os.Remove(next); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keyring: interrupted rekey of %s: %w", dbPath, err)
	}
	return nil
}

// removeCopy removes a re-encrypted copy and the -wal, -shm and -journal
// files its check connection may have left if the process died.
func removeCopy(tmp string) {
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"} {
		os.Remove(p)
	}
}

// finishRekey installs <db>.dek.next as the header.
func finishRekey(dbPath string) error {
	if err := os.Rename(dbPath+nextHeaderSuffix, HeaderPath(dbPath)); err != nil {
		return fmt.Errorf("keyring: rekey %s: install header: %w", dbPath, err)
	}
	if err := syncDir(filepath.Dir(dbPath)); err != nil {
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	return nil
}

// databaseUses reports whether the database at path is sealed under dek,
// by the key check value in its plaintext prefix (the layout is defined
// by package internal/pagecrypt, which package sqlitevfs writes it with).
func databaseUses(path string, dek []byte) (bool, error) {
	return pagecrypt.FileUsesKey(path, dek)
}

// sqlQuote quotes s as an SQL string literal.
func sqlQuote(s string) string {
	b := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b = append(b, '\'')
		}
		b = append(b, s[i])
	}
	return string(append(b, '\''))
}

// errSimulatedCrash is returned where testRekeyStop stopped a rekey.
var errSimulatedCrash = errors.New("keyring: rekey stopped by a test hook")

// testRekeyStop, set by tests only, makes RekeyWith return at the named
// stage leaving its files behind, as if the process had died there
// (locks are released, as the OS would).
var testRekeyStop = func(stage string) bool { return false }
