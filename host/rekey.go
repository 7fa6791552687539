package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/sqldb"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// Rekey replaces the data key (DEK) of the encrypted store at path with a
// new random one and re-encrypts every page under it; the header
// <path>.dek stays wrapped under a KEK from src (keyring.RawKEK for raw
// key bytes). Afterwards the old data key, and escrow files made with it
// (keyring.ExportDEK), no longer open the store: export a new escrow.
//
// The store must not be open anywhere: while a Store is open on path, in
// this or another process, or any other SQLite connection has the
// database open, Rekey fails with an error wrapping [keyring.ErrInUse]
// and changes nothing. The store must be in WAL mode, as every store this
// package creates is.
//
// Rekey is [keyring.RekeyWith] with a re-encrypter that copies the
// database with SQLite's VACUUM INTO, sealed under the new key, to
// <path>.rekey, checks the copy (quick_check) and fsyncs it, while a
// connection in exclusive locking mode keeps the old database from being
// written until the copy has replaced it. The keyring holds the store lock
// and owns the crash protocol: killed at any point, the store opens with
// exactly one data key and all of its data. A plaintext store has no data
// key to replace: Rekey fails with [ErrPlaintextStore]; [Encrypt] converts
// it.
func Rekey(path string, src keyring.KEKSource) error {
	switch {
	case path == "":
		return fmt.Errorf("rekey: %w: empty path", ErrInvalidArgument)
	case isNil(src):
		return fmt.Errorf("rekey %s: %w: no KEK source", path, ErrInvalidArgument)
	}
	if err := sqldb.CheckFile(path, schema); err != nil {
		return fmt.Errorf("rekey %s: %w", path, err)
	}
	switch kind, err := sqlitevfs.Detect(path); {
	case err != nil:
		return fmt.Errorf("rekey %s: %w", path, err)
	case kind == sqlitevfs.FileMissing:
		return fmt.Errorf("rekey %s: %w: no database", path, fs.ErrNotExist)
	case kind == sqlitevfs.FileEncrypted && !exists(keyring.HeaderPath(path)) && !exists(path+".dek.next"):
		return fmt.Errorf("rekey %s: %w: a store opened with its raw data key (OpenEncrypted, WithKey) has no KEK-wrapped key to replace", path, keyring.ErrNoHeader)
	}
	err := keyring.RekeyWith(path, src, reencrypter{})
	if errors.Is(err, fs.ErrNotExist) {
		// No header: a plaintext store (recovery has removed the
		// leftovers of an interrupted Encrypt) has no key to replace.
		if kind, _ := sqlitevfs.Detect(path); kind == sqlitevfs.FilePlaintext {
			return fmt.Errorf("rekey %s: %w (%w); Encrypt converts it", path, ErrPlaintextStore, sqlitevfs.ErrNotEncrypted)
		}
	}
	return err
}

// reencrypter is the SQLite half of a rekey and of Encrypt (see
// keyring.Reencrypter).
type reencrypter struct{}

var _ keyring.Reencrypter = reencrypter{}

// rekeyBusyTimeout bounds the wait for other connections to let go.
const rekeyBusyTimeout = time.Second

// Reencrypt copies the database at src, sealed under oldDEK (plaintext if
// oldDEK is nil, for Encrypt), to dst sealed under newDEK, checks the copy
// and fsyncs it. The returned swap holds the connection to src, still in
// SQLite's exclusive lock.
func (reencrypter) Reencrypt(src, dst string, oldDEK, newDEK []byte) (_ keyring.Swap, err error) {
	var from *engine.Keyed
	opts := engine.Options{JournalMode: "wal", BusyTimeout: rekeyBusyTimeout, Private: true}
	if oldDEK == nil {
		// Opening for writing switches a database to WAL mode: a file in
		// another mode is no store, and is refused before that.
		if err := checkPlainWAL(src); err != nil {
			return nil, err
		}
	} else {
		if from, err = engine.RegisterKey(oldDEK); err != nil {
			return nil, err
		}
		opts.VFS, opts.Encrypted = from.Name, true
	}
	to, err := engine.RegisterKey(newDEK)
	if err != nil {
		if from != nil {
			from.Close()
		}
		return nil, err
	}
	defer to.Close()

	walExisted := exists(src + "-wal")
	c, err := engine.Open(src, opts)
	if err != nil {
		if from != nil {
			from.Close()
		}
		return nil, rekeyInUse(err)
	}
	old := &oldDB{path: src, c: c, from: from}
	defer func() {
		if err != nil {
			// The database is still the old one: a normal close, which
			// checkpoints and removes the -wal and -shm files if no
			// other connection uses them, leaves it as it was.
			old.c.Close()
			old.c = nil
			if from != nil {
				from.Close()
			}
		}
	}()
	// Exclusive locking mode holds the exclusive lock taken by the empty
	// write transaction until c closes, keeping other connections out; it
	// fails with BUSY if another connection has the database open.
	if err := c.Exec("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT"); err != nil {
		return nil, rekeyInUse(sqlitevfs.ConnError(c, err))
	}
	if oldDEK == nil {
		// Only a session store is converted, and one this build can open.
		if err := checkPlainStore(c); err != nil {
			// Not ours to change: a WAL that was there (another
			// program's commits) stays out of the database file.
			if walExisted {
				c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true)
			}
			return nil, sqlitevfs.ConnError(c, err)
		}
	}
	if _, _, err := c.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE); err != nil {
		return nil, rekeyInUse(sqlitevfs.ConnError(c, err))
	}
	// The copy needs the reserved bytes of an encrypted page (VACUUM INTO
	// takes the number from the source); a plaintext source has none.
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
	if err := c.Exec("VACUUM INTO " + sqlLiteral(engine.URI(dst, to.Name))); err != nil {
		return nil, sqlitevfs.ConnError(c, err)
	}
	if err := checkCopy(dst, to.Name); err != nil {
		return nil, err
	}
	return old, nil
}

// checkCopy runs quick_check on the re-encrypted copy at dst through the
// VFS vfsName and fsyncs it.
//
// The check connection also puts the copy in WAL mode, like the stores
// that use it: otherwise the first opens after the rekey must convert it,
// which needs an exclusive lock and fails with BUSY when two processes
// open the store at once. Its clean close removes the copy's -wal and
// -shm.
func checkCopy(dst, vfsName string) error {
	check, err := engine.Open(dst, engine.Options{VFS: vfsName, Encrypted: true, JournalMode: "wal", Private: true})
	if err != nil {
		return err
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
		return err
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// oldDB is the connection that keeps the old database exclusively locked
// while the re-encrypted copy replaces it; it is the keyring.Swap of a
// rekey.
type oldDB struct {
	path string
	c    *sqlite3.Conn
	from *engine.Keyed // nil for a plaintext database
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
	if o.from != nil {
		o.from.Close()
	}
	return err
}

// Commit removes the old database's -wal, -shm and -journal files, has the
// keyring rename the re-encrypted copy over the database (the commit
// point) and make that durable, all while the old database stays locked,
// then closes the old connection.
func (o *oldDB) Commit(rename func() error) (err error) {
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
	sidecars := []string{o.path + "-wal", o.path + "-shm", o.path + "-journal"}
	for _, p := range sidecars {
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
		for _, p := range sidecars {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return rename()
}

// renameNeedsClose is set where open files cannot be renamed over.
const renameNeedsClose = runtime.GOOS == "windows"

// rekeyInUse maps lock contention to keyring.ErrInUse.
func rekeyInUse(err error) error {
	if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
		return fmt.Errorf("%w: %w", keyring.ErrInUse, err)
	}
	return err
}

// sqlLiteral quotes s as an SQL string literal.
func sqlLiteral(s string) string {
	b := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b = append(b, '\'')
		}
		b = append(b, s[i])
	}
	return string(append(b, '\''))
}

// exists reports whether a file is at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
