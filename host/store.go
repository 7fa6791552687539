package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/sqldb"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// EncryptionMode controls how the session log file is protected.
type EncryptionMode int

const (
	// EncryptionNone stores a plaintext SQLite file; redaction still keeps
	// known secret shapes out of it.
	EncryptionNone EncryptionMode = iota
	// EncryptionAtRest encrypts and authenticates every page that reaches
	// disk (database, WAL, journal) with AES-256-GCM through package
	// sqlitevfs. There is never a plaintext copy or sidecar.
	EncryptionAtRest
)

// DefaultReaders is the number of idle read connections a Store keeps;
// MaxReaders bounds [Config.WithReaders].
const (
	DefaultReaders = 4
	MaxReaders     = 256
)

// Store is the SQLite-backed session store. Its methods are safe for
// concurrent use. All writes go through one connection that group-commits:
// concurrent callers share transactions and fsyncs, and a method that
// returned nil has its write on stable storage.
type Store struct {
	// Redactors run, in order, on every event payload, tool argument and
	// tool result before it is stored. The Open functions set it from
	// [Config.WithRedactors] (by default []Redactor{DefaultRedactor{}});
	// configuring it there is the way. The field remains for
	// compatibility: replacing it before the first write still works, but
	// never concurrently with writes.
	Redactors []Redactor

	path       string
	now        func() time.Time // Config.WithClock
	maxPayload int              // Config.WithMaxPayloadSize
	prices     *priceTable      // Config.WithPricing; nil: attempts are stored as given
	keyInfo    keyInfo          // how the store is encrypted, for Health
	id         string           // the store's identity (see ID), read at open
	// lock is the shared store lock every Store holds for its lifetime,
	// so that Rekey and Encrypt cannot replace the database under it
	// (see keyring.LockStore).
	lock  *keyring.StoreLock
	db    *sqldb.DB // the group-committing writer and the reader pool
	codec *codec    // payload compression with the store's dictionaries

	closeOnce sync.Once
	closeErr  error
}

// DefaultPath returns the default store location,
// $XDG_STATE_HOME/gofastr/sessions.db (~/.local/state/gofastr/sessions.db).
func DefaultPath() string { return filepath.Join(stateDir(), "sessions.db") }

func stateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "gofastr")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "gofastr")
	}
	return filepath.Join(os.TempDir(), "gofastr-state")
}

// Open opens (or creates) the plaintext session store at path with the
// default [Config]. Parent directories are created 0700 and the files 0600.
//
// For every Open function: processes that open (and so create) a new path
// at the same moment all succeed; one creates the schema and the others
// wait for it. A file that is not a store fails with [ErrNotStore], one of
// a newer schema with [ErrNewerSchema]; a missing or empty database next
// to an existing DEK header <path>.dek fails with [ErrDatabaseLost] (its
// data was lost or truncated). A failed open changes no file and, on
// Linux, removes the -wal and -shm files it created unless another
// connection has the database open; lock files (<path>.lock,
// <path>.dek.lock) are kept. Every Store, plaintext or encrypted, holds
// <path>.lock shared while it is open (see [Rekey] and [Encrypt]).
func Open(path string) (*Store, error) { return OpenWithConfig(path, NewConfig()) }

// OpenEncrypted opens (or creates) a session store with the requested
// encryption: for [EncryptionAtRest], OpenWithConfig with
// [Config.WithKey](key), where key is the store's 32-byte data key (see
// OpenWithConfig for the wrong key, the store lock and [ErrDatabaseLost]);
// for [EncryptionNone], [Open]. Most callers want [OpenWithKEK], which
// keeps the data key wrapped on disk.
func OpenEncrypted(path string, mode EncryptionMode, key []byte) (*Store, error) {
	switch mode {
	case EncryptionNone:
		return OpenWithConfig(path, NewConfig())
	case EncryptionAtRest:
		if len(key) != sqlitevfs.KeySize {
			return nil, fmt.Errorf("open %s: %w: key must be %d bytes, got %d", path, ErrInvalidArgument, sqlitevfs.KeySize, len(key))
		}
		return OpenWithConfig(path, NewConfig().WithKey(key))
	}
	return nil, fmt.Errorf("open %s: %w: unknown encryption mode %d", path, ErrInvalidArgument, mode)
}

// OpenWithKEK opens an encrypted store whose data key is wrapped under the
// raw 32-byte key-encryption key kek in <path>.dek: OpenWithConfig with
// [Config.WithKEKSource]([keyring.RawKEK](kek)). See OpenWithConfig for
// how a new store is created, the store lock that keeps [Rekey] out
// while the store is open, and [ErrDatabaseLost].
func OpenWithKEK(path string, kek []byte) (*Store, error) {
	return OpenWithConfig(path, NewConfig().WithKEKSource(keyring.RawKEK(kek)))
}

// OpenWithConfig opens (or creates) the session store at path as cfg
// says: plaintext by default, encrypted with [Config.WithKEKSource] or
// [Config.WithKey]. See [Open] for what every Open function checks.
//
// With a KEK source (see package keyring), the data key is wrapped under
// the KEK in <path>.dek. A new store gets a fresh data key, and its schema
// is created before the header lock is released, so other processes
// opening the same new path wait for it and then open it. If <path>.dek
// exists but the database is missing or empty, its data was lost or
// truncated: OpenWithConfig fails with [ErrDatabaseLost] and creates or
// changes nothing, where it would otherwise start a new empty store under
// the old key. A first open that fails (an I/O error, a full disk) removes
// the header it wrote again, with the database, journal and WAL it began,
// so the path opens as a new store once the fault is gone; one cut short
// by a crash or a power loss leaves a marker, <path>.dek.creating, and the
// next open does the same (see keyring.LoadOrCreateDEKWith).
//
// With a raw data key, opening a store with another key fails with an
// error wrapping [sqlitevfs.ErrWrongKey] and changes nothing. If
// <path>.dek exists, the database must exist and hold data
// ([ErrDatabaseLost]): create a store keyed by a header with a KEK source,
// not with keyring.LoadOrCreateDEK followed by WithKey.
//
// Every store, plaintext or encrypted, holds the keyring's store lock
// (<path>.lock) shared until it is closed, taken before the data key is
// loaded and before the file is opened: [Rekey] and [Encrypt] fail with
// keyring.ErrInUse while the store is open, and OpenWithConfig waits for
// one in progress and then opens the file it left (or fails with the
// error for its kind), so a Store never writes to a file they replaced
// and its data key is the one the file is sealed under. Opening a plaintext store
// encrypted fails with [ErrPlaintextStore] (which also matches
// [sqlitevfs.ErrNotEncrypted]; with a KEK source it first removes the
// leftovers of an interrupted [Encrypt]), an encrypted store as plaintext
// with [ErrEncryptedStore]. [Encrypt] converts a plaintext store.
//
// A plaintext database with a DEK header <path>.dek beside it is refused,
// with or without a key, with an error wrapping [keyring.ErrHeaderExists],
// and nothing is changed: the header belongs to an encrypted store whose
// database was replaced (by a plaintext copy, say) or lost, and writing
// to the plaintext file would put data meant to be sealed on the disk in
// the clear. The leftovers of an interrupted [Encrypt] are a header
// <path>.dek.next, not <path>.dek, and do not count.
//
// The Store copies the data key it opens with and clears nothing of the
// caller's: a key given with WithKey may be cleared once OpenWithConfig
// returns.
func OpenWithConfig(path string, cfg Config) (*Store, error) {
	s := &Store{path: path, keyInfo: cfg.keyInfo()}
	cfg.apply(s)
	db, lock, err := openFile(path, schema, cfg, func(key []byte) (*sqldb.DB, error) {
		return sqldb.Open(path, schema, sqldb.Options{
			Key:         key,
			Readers:     cfg.readerCount(),
			BusyTimeout: cfg.busy,
			// Dropped content is zeroed, not just unlinked (see
			// Store.ApplyRetention).
			Pragmas: []string{"secure_delete=ON"},
			Init: func(c *sqlite3.Conn) (err error) {
				if s.id, err = loadID(c); err != nil {
					return err
				}
				s.codec, err = newCodec(c, s.write)
				return err
			},
		})
	})
	if err != nil {
		return nil, err
	}
	s.db, s.lock = db, lock
	return s, nil
}

// connectFunc opens the database of a file kind with its data key (nil:
// plaintext); see openFile.
type connectFunc func(key []byte) (*sqldb.DB, error)

// openFile is the open machinery every kind of file of this package
// shares (the session store, the cost ledger), parameterized by the
// file's schema: it checks cfg, refuses a file of another kind or
// encryption before anything is created, takes the store lock
// <path>.lock shared (see openLocked), loads or creates the data key
// under a KEK source (keyring.LoadOrCreateDEKWith, refusing a lost
// database with ErrDatabaseLost) and calls connect, exactly once, with
// the key. The caller owns the returned lock and closes it after the
// database.
func openFile(path string, sch *sqldb.Schema, cfg Config, connect connectFunc) (*sqldb.DB, *keyring.StoreLock, error) {
	if err := cfg.check(); err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := cfg.setUp(); err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	encrypted := cfg.kek != nil || cfg.key != nil
	err := checkKind(path, sch, encrypted)
	if err != nil && cfg.kek != nil && errors.Is(err, ErrPlaintextStore) {
		// Perhaps the leftovers of an interrupted Encrypt, or an
		// Encrypt still running: recovery waits for it, then the file
		// is what that Encrypt left.
		if rerr := recoverEncrypt(path, cfg.kek); rerr != nil {
			return nil, nil, fmt.Errorf("%w; recovering an interrupted Encrypt: %w", err, rerr)
		}
		err = checkKind(path, sch, encrypted)
	}
	if err != nil {
		return nil, nil, err
	}
	switch {
	case cfg.key != nil:
		return openLocked(path, sch, encrypted, func() (*sqldb.DB, error) { return open(path, cfg.key, true, connect) })
	case cfg.kek == nil:
		return openLocked(path, sch, encrypted, func() (*sqldb.DB, error) { return openPlain(path, sch, connect) })
	}
	return openLocked(path, sch, encrypted, func() (*sqldb.DB, error) {
		var db *sqldb.DB
		dek, _, err := keyring.LoadOrCreateDEKWith(path, cfg.kek, func(dek []byte, created bool) error {
			if !created {
				return checkData(path)
			}
			var err error
			db, err = open(path, dek, false, connect)
			return err
		})
		if err != nil {
			if db != nil {
				// The database was created, then the keyring failed
				// (removing its creation marker).
				db.Close()
			}
			if errors.Is(err, keyring.ErrNoHeader) {
				// A plaintext first open of the path won the race to
				// create it (see openPlain): say what the file is.
				if kerr := checkKind(path, sch, true); errors.Is(kerr, ErrPlaintextStore) {
					return nil, kerr
				}
			}
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		defer clear(dek)
		if db != nil {
			return db, nil
		}
		return open(path, dek, false, connect)
	})
}

// openLocked opens a database with openDB while holding the keyring's
// store lock shared, and returns the lock, which the caller keeps for the
// handle's lifetime (keyring.LockStore); openDB loads the key, if any,
// after the lock is taken. While it is held, Rekey and Encrypt fail with
// keyring.ErrInUse, so the file stays the one this handle opened, sealed
// under the key it opened with: no write can go to a database file they
// have replaced. Once the lock is held it checks the file's kind again: a
// Rekey or Encrypt that held the lock until then may have replaced the
// file since the caller's check.
func openLocked(path string, sch *sqldb.Schema, encrypted bool, openDB func() (*sqldb.DB, error)) (_ *sqldb.DB, _ *keyring.StoreLock, err error) {
	if path == "" {
		return nil, nil, fmt.Errorf("open: %w: empty path", ErrInvalidArgument)
	}
	if err := mkdirs(path); err != nil {
		return nil, nil, err
	}
	lock, err := keyring.LockStore(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkKind(path, sch, encrypted); err != nil {
		lock.Close()
		return nil, nil, err
	}
	db, err := openDB()
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return db, lock, nil
}

// openPlain opens the plaintext database at path with connect. A new
// database (missing, or empty with an empty WAL) is created under the
// keyring's header lock, which an encrypted first open holds while it
// creates the header and the encrypted database: a plaintext and an
// encrypted first open racing on one path run one after the other, and
// the second finds the first's store (and fails with ErrEncryptedStore or
// ErrPlaintextStore) instead of a plaintext database beside a header,
// which no open would accept.
func openPlain(path string, sch *sqldb.Schema, connect connectFunc) (*sqldb.DB, error) {
	if hasData(path) {
		return open(path, nil, true, connect)
	}
	var db *sqldb.DB
	var oerr error
	if err := keyring.WithHeaderLock(path, func() error {
		if oerr = checkKind(path, sch, false); oerr == nil {
			db, oerr = open(path, nil, true, connect)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, oerr
}

// hasData reports whether the database at path or its WAL is not empty.
func hasData(path string) bool {
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
			return true
		}
	}
	return false
}

// checkData returns an error wrapping ErrDatabaseLost if the DEK header
// <path>.dek exists and is not empty while the database and its WAL are
// missing or empty.
func checkData(path string) error {
	if fi, err := os.Stat(keyring.HeaderPath(path)); err != nil || fi.Size() == 0 {
		return nil
	}
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is missing or empty but its DEK header %s exists; restore the database from a backup, or remove the header if the store never held data",
		ErrDatabaseLost, path, keyring.HeaderPath(path))
}

func mkdirs(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	return nil
}

// checkKind refuses, before anything is created, to open a file of
// another schema (ErrNotStore), a plaintext file with a DEK header beside
// it (keyring.ErrHeaderExists), an encrypted file as plaintext or a
// plaintext file as encrypted.
func checkKind(path string, sch *sqldb.Schema, encrypted bool) error {
	if err := sqldb.CheckFile(path, sch); err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	// The header is looked for before the file is read: Encrypt installs
	// <path>.dek only once the encrypted file has replaced the plaintext
	// one (an interrupted run leaves <path>.dek.next), so a header seen
	// before a plaintext file belongs to no Encrypt in progress.
	_, herr := os.Stat(keyring.HeaderPath(path))
	kind, err := sqlitevfs.Detect(path)
	switch {
	case err != nil:
		return fmt.Errorf("open %s: %w", path, err)
	case kind == sqlitevfs.FilePlaintext && herr == nil:
		return fmt.Errorf("open %s: %w: %s belongs to an encrypted store, whose database was replaced or lost; "+
			"nothing was changed: restore the encrypted database from a backup, or remove the header if it belongs to no data",
			path, keyring.ErrHeaderExists, keyring.HeaderPath(path))
	case !encrypted && kind == sqlitevfs.FileEncrypted:
		return fmt.Errorf("open %s: %w", path, ErrEncryptedStore)
	case encrypted && kind == sqlitevfs.FilePlaintext:
		return fmt.Errorf("open %s: %w (%w)", path, ErrPlaintextStore, sqlitevfs.ErrNotEncrypted)
	}
	return nil
}

// open opens the database at path with connect, encrypted with key if it
// is not nil. With checkHeader, it first refuses with ErrDatabaseLost a
// missing or empty database whose DEK header exists (see checkData).
func open(path string, key []byte, checkHeader bool, connect connectFunc) (*sqldb.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("open: %w: empty path", ErrInvalidArgument)
	}
	if checkHeader {
		if err := checkData(path); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	return connect(key)
}

// ID returns the store's identity: 32 lowercase hex digits (16 random
// bytes) drawn when the store was created, or when a store from before
// identities was first opened by this version, and never changed. It
// stays with the data, not the path: a moved, renamed or restored store
// keeps its ID, and so does a copy (see "Files and keys" in the package
// documentation for what copies mean).
func (s *Store) ID() string { return s.id }

// loadID reads the store's ID on the connection c.
func loadID(c *sqlite3.Conn) (string, error) {
	st, _, err := c.Prepare("SELECT id FROM store_id WHERE one = 1")
	if err != nil {
		return "", fmt.Errorf("read the store ID: %w", err)
	}
	defer st.Close()
	if !st.Step() {
		if err := st.Err(); err != nil {
			return "", fmt.Errorf("read the store ID: %w", err)
		}
		return "", fmt.Errorf("read the store ID: %w: the store_id table is empty", ErrNotStore)
	}
	id := st.ColumnText(0)
	if len(id) != 32 {
		return "", fmt.Errorf("read the store ID: %w: malformed ID", ErrNotStore)
	}
	return id, nil
}

// SnapshotPath returns the path the store was opened with.
func (s *Store) SnapshotPath() string { return s.path }

// Close waits for reads and writes in progress, then releases the store.
// Later calls return the first call's result; other methods return
// [ErrClosed].
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// The read connections close first and the write connection
		// last, so that SQLite checkpoints the whole WAL into the
		// database file and removes it: the .db alone (a backup, a
		// copy) then holds every event (see sqldb.DB.Close).
		s.closeErr = s.db.Close()
		s.lock.Close() // after the last connection is closed
	})
	return s.closeErr
}

// CloseEncrypted closes the store, like [Store.Close]. It exists for
// compatibility with an earlier API, whose at-rest mode re-encrypted a
// plaintext sidecar on close; with page-level encryption there is nothing
// left to encrypt.
func (s *Store) CloseEncrypted() error { return s.Close() }
