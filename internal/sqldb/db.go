// Package sqldb makes one SQLite file, plaintext or encrypted page by page
// (package sqlitevfs), a store that many handles in one process and many
// processes can use at once, correctly and durably. It knows nothing of
// what the file holds: a [Schema] gives the file's application ID, its
// append-only migrations and its named counters.
//
// A [DB] has one write connection and a pool of read-only connections, in
// WAL mode with synchronous=FULL. Writes are group-committed: every write
// queued while the previous commit was syncing runs in the next
// transaction (BEGIN IMMEDIATE, which takes SQLite's write lock), each in
// its own savepoint (or, for writes that may run twice, without one until
// a write fails; see [Request]), and one COMMIT with one fsync makes them
// all durable; each caller then gets its own result, so one failing write
// never fails another. Reads run in one read transaction each, on a pooled connection
// with its own statement cache, and never wait for writes.
//
// Opening is safe against other processes opening the same new path at the
// same moment: the schema is checked and migrated in one write transaction,
// so one process creates it and the others find it complete. An existing
// file is checked read-only first: a file of another application fails
// with [ErrNotStore], one of a newer schema with [ErrNewerSchema], and
// neither is changed. A failed open removes, on Linux, the -wal and -shm
// files it created when no other connection uses them.
//
// SQLite running out of memory (its heap is the connection's Wasm memory,
// capped by package engine) fails the read or write with [ErrNoMemory]
// instead of go-sqlite3's panic, and the connection is replaced; writes
// acknowledged before are kept.
//
// Every error of a call on one of the DB's connections carries the typed
// error the encrypting VFS reported for it ([sqlitevfs.PageError],
// [sqlitevfs.ErrWrongKey], [sqlitevfs.ErrDiskFull], …; see
// [sqlitevfs.ConnError]), for [errors.Is] and [errors.As].
package sqldb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// maxReaders bounds Options.Readers: each idle reader is a connection
// with its own SQLite instance and page cache.
const maxReaders = 1024

// Errors of [Open] and of the methods of a [DB]. The packages built on
// sqldb re-export them under their own names, so their messages speak of
// a store, not of this package.
var (
	// ErrClosed is returned by the methods of a DB after Close.
	ErrClosed = errors.New("store: closed")

	// ErrNotStore is returned by Open for an SQLite file that is not a
	// database of the schema: another application ID, or an application
	// ID of zero on a database that is not empty.
	ErrNotStore = errors.New("store: file is not a store of this kind")

	// ErrNewerSchema is returned by Open for a database whose schema
	// version is above the schema's: it was written by a newer program,
	// and is left untouched.
	ErrNewerSchema = errors.New("store: file was written by a newer version of this library")

	// ErrBusy is returned (wrapped, with SQLite's "database is locked")
	// when a connection waited for another connection's lock longer than
	// the busy timeout ([Options.BusyTimeout]): another handle or process
	// held the database's write lock that long, as a VACUUM of a large
	// database does. Nothing was written; retry later.
	ErrBusy = errors.New("store: busy: another connection held the database lock longer than the busy timeout")

	// ErrCorrupt is returned (wrapped, with SQLite's "database disk image
	// is malformed") when SQLite finds the database's structure damaged:
	// a file cut short, pages overwritten. Nothing is changed; restore the
	// store from a backup (host.Verify names the damage).
	ErrCorrupt = errors.New("store: database file is damaged")

	// ErrNoMemory is returned (wrapped) by a write or read during which
	// SQLite ran out of memory: its heap lives in the connection's Wasm
	// memory, which is capped (see package engine). The connection is
	// discarded and the next call opens a new one. A write that fails
	// with it was not committed, unless the failure came after the
	// commit, from [Request.After]; a write acknowledged before is kept.
	ErrNoMemory = errors.New("store: out of memory in SQLite")

	// ErrInvalidArgument is returned by Open for an empty path, a schema
	// without migrations, application ID or with bad counters, or bad
	// options; by [Bind] for an argument of an unsupported type; and by
	// [Tx.Next] for a counter the schema does not declare.
	ErrInvalidArgument = errors.New("sqldb: invalid argument")
)

// Schema describes what a database file holds.
type Schema struct {
	// AppID is the SQLite application_id that marks the database as one
	// of this schema. It must not be zero.
	AppID int32

	// Migrations[i] brings the schema from version i to i+1, so the
	// schema's version is len(Migrations). Append only: a released
	// migration is never edited, so every older database can move
	// forward.
	Migrations []string

	// Counters are the counters [Tx.Next] draws from. Their values are
	// kept in the table counters, which a migration creates (see
	// [CountersTable]).
	Counters []*Counter
}

// Version returns the schema version, len(s.Migrations).
func (s *Schema) Version() int { return len(s.Migrations) }

// Options configures a DB. The zero value is a plaintext database with
// the defaults below.
type Options struct {
	// Key is the database's 32-byte data key; every page of the
	// database, its WAL and journal is then encrypted with it (package
	// sqlitevfs). Nil opens a plaintext database. Open copies the key.
	Key []byte

	// Readers is the number of idle read connections the DB keeps;
	// 0 means DefaultReaders. Reads beyond it open connections of their
	// own, closed when they end.
	Readers int

	// BusyTimeout bounds how long a connection waits for another
	// connection's lock (the write lock, a checkpoint); 0 means
	// engine.DefaultBusyTimeout.
	BusyTimeout time.Duration

	// ReaderCacheKiB sizes each read connection's page cache, in KiB of
	// decrypted pages; 0 means DefaultReaderCacheKiB, negative SQLite's
	// default.
	ReaderCacheKiB int

	// WriterCacheKiB sizes the write connection's page cache; 0 or
	// negative means SQLite's default.
	WriterCacheKiB int

	// Pragmas run, in order, on the write connection once the schema is
	// current, each as "PRAGMA " + p (for example "secure_delete=ON").
	Pragmas []string

	// Init, if not nil, runs on the write connection after Pragmas and
	// before the first write, outside any transaction: the place to load
	// what the schema keeps in memory. An error fails Open.
	Init func(c *sqlite3.Conn) error
}

const (
	// DefaultReaders is the number of idle read connections a DB keeps.
	DefaultReaders = 4

	// DefaultReaderCacheKiB sizes each read connection's page cache:
	// 8 MiB of decrypted pages, so re-reading recent data costs no
	// decryption.
	DefaultReaderCacheKiB = 8192
)

// DB is one open database: a group-committing writer and a pool of
// readers. Its methods are safe for concurrent use.
type DB struct {
	path   string
	schema *Schema
	keyed  *engine.Keyed // nil for a plaintext database
	opts   engine.Options
	rcache string   // the readers' cache_size pragma, or ""
	wprag  []string // the write connection's pragmas (see writerPragmas)

	w       *writer
	readers chan *ReadTx

	mu        sync.RWMutex // held for reading by reads in progress
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the database at path with the given schema,
// migrating it forward. Parent directories are created 0700 and the files
// 0600. See the package documentation for what Open checks and how it
// behaves when processes open a new path at the same moment.
func Open(path string, schema *Schema, o Options) (_ *DB, err error) {
	if err := checkArgs(path, schema, o); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	sc := statSidecars(path)
	defer func() {
		if err != nil {
			sc.removeCreated() // after db.release: no connection is left
		}
	}()
	db := &DB{
		path:    path,
		schema:  schema,
		readers: make(chan *ReadTx, orDefault(o.Readers, DefaultReaders)),
		opts: engine.Options{
			JournalMode: "wal",
			Synchronous: "full",
			BusyTimeout: o.BusyTimeout,
			Private:     true,
		},
	}
	if kib := orDefault(o.ReaderCacheKiB, DefaultReaderCacheKiB); kib > 0 {
		db.rcache = fmt.Sprintf("PRAGMA cache_size=-%d", kib)
	}
	if o.Key != nil {
		if db.keyed, err = engine.RegisterKey(o.Key); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		db.opts.VFS, db.opts.Encrypted = db.keyed.Name, true
	}
	defer func() {
		if err != nil {
			db.release()
		}
	}()

	// An existing file is checked read-only first: opening for writing
	// switches the journal mode, which must not happen to a file that is
	// not a database of this schema and version.
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if err := CheckFile(path, schema); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		err := precheck(path, db.opts, schema)
		if errors.Is(err, sqlite3.READONLY_ROLLBACK) {
			// A hot rollback journal: a read-only connection cannot
			// play it back, so the check could never run. Playing it
			// back is what any SQLite connection does first, and
			// leaves the database as its last commit; then check.
			if err = rollBack(path, db.opts); err == nil {
				err = precheck(path, db.opts, schema)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	c, err := engine.Open(path, db.opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, annotate(nil, err))
	}
	db.wprag = writerPragmas(o)
	if err := setUp(c, schema, db.wprag, o.Init); err != nil {
		err = annotate(c, err)
		c.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.w = newWriter(c, schema, db.openWriter)
	return db, nil
}

// openWriter opens a new write connection to the database, once Open
// has migrated it, with the write connection's pragmas (not Init, which
// loads what the schema keeps in memory once).
func (db *DB) openWriter() (*sqlite3.Conn, error) {
	c, err := engine.Open(db.path, db.opts)
	if err != nil {
		return nil, annotate(nil, err)
	}
	if err := execPragmas(c, db.wprag); err != nil {
		err = annotate(c, err)
		c.Close()
		return nil, err
	}
	return c, nil
}

// precheck checks, through a read-only connection, that the existing
// database at path is one of schema at a version this build can open.
func precheck(path string, o engine.Options, schema *Schema) error {
	o.ReadOnly = true
	c, err := engine.Open(path, o)
	if err != nil {
		return annotate(nil, err)
	}
	_, err = checkStore(c, schema)
	err = annotate(c, err)
	c.Close()
	return err
}

// rollBack plays back the hot rollback journal next to the database at
// path, or, if it is not a valid journal (its header does not match),
// lets SQLite delete it, through a read-write connection that leaves the
// journal mode alone. An error (the journal cannot be read, the database
// is locked) carries the VFS's typed error, as every error of this package.
func rollBack(path string, o engine.Options) error {
	o.KeepJournalMode = true
	c, err := engine.Open(path, o)
	if err != nil {
		return annotate(nil, err)
	}
	_, err = QueryInt(c, "SELECT count(*) FROM sqlite_schema")
	err = annotate(c, err)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

// setUp migrates the database on the write connection c, then runs the
// pragmas and init.
func setUp(c *sqlite3.Conn, schema *Schema, pragmas []string, init func(*sqlite3.Conn) error) error {
	if err := migrate(c, schema); err != nil {
		return err
	}
	if err := execPragmas(c, pragmas); err != nil {
		return err
	}
	if init != nil {
		return init(c)
	}
	return nil
}

// writerPragmas returns the pragmas of o the write connection runs.
func writerPragmas(o Options) []string {
	pragmas := slices.Clone(o.Pragmas)
	if o.WriterCacheKiB > 0 {
		pragmas = append([]string{fmt.Sprintf("cache_size=-%d", o.WriterCacheKiB)}, pragmas...)
	}
	return pragmas
}

// execPragmas runs each of pragmas on c as "PRAGMA " + p.
func execPragmas(c *sqlite3.Conn, pragmas []string) error {
	for _, p := range pragmas {
		if err := c.Exec("PRAGMA " + p); err != nil {
			return fmt.Errorf("PRAGMA %s: %w", p, err)
		}
	}
	return nil
}

func checkArgs(path string, schema *Schema, o Options) error {
	switch {
	case path == "":
		return fmt.Errorf("open: %w: empty path", ErrInvalidArgument)
	case schema == nil || schema.AppID == 0:
		return fmt.Errorf("open %s: %w: the schema has no application ID", path, ErrInvalidArgument)
	case len(schema.Migrations) == 0:
		return fmt.Errorf("open %s: %w: the schema has no migrations", path, ErrInvalidArgument)
	case o.Readers > maxReaders:
		return fmt.Errorf("open %s: %w: %d read connections, at most %d", path, ErrInvalidArgument, o.Readers, maxReaders)
	case o.Readers < 0:
		return fmt.Errorf("open %s: %w: negative reader count %d", path, ErrInvalidArgument, o.Readers)
	case o.BusyTimeout < 0:
		return fmt.Errorf("open %s: %w: negative busy timeout %v", path, ErrInvalidArgument, o.BusyTimeout)
	case o.Key != nil && len(o.Key) != sqlitevfs.KeySize:
		return fmt.Errorf("open %s: %w: key must be %d bytes", path, ErrInvalidArgument, sqlitevfs.KeySize)
	}
	names := make(map[string]bool, len(schema.Counters))
	for _, k := range schema.Counters {
		switch {
		case k == nil || k.Name == "":
			return fmt.Errorf("open %s: %w: a counter has no name", path, ErrInvalidArgument)
		case names[k.Name]:
			return fmt.Errorf("open %s: %w: counter %q declared twice", path, ErrInvalidArgument, k.Name)
		}
		names[k.Name] = true
	}
	return nil
}

// orDefault returns v, or def if v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Path returns the path the database was opened with.
func (db *DB) Path() string { return db.path }

// BatchStats returns how many group commits the writer has run and how
// many writes they held.
func (db *DB) BatchStats() (commits, writes int64) {
	return db.w.commits.Load(), db.w.committed.Load()
}

// Close waits for reads and writes in progress, then closes the read
// connections and, last, the write connection: the last connection to a
// WAL database checkpoints the whole WAL into the database file and
// removes it, so the database file alone (a backup, a copy) then holds
// every commit. Later calls return the first call's result; other methods
// return [ErrClosed].
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.mu.Lock() // waits for reads in progress
		db.closed = true
		db.mu.Unlock()
		db.closeReaders()
		db.closeErr = db.w.close()
		db.release()
	})
	return db.closeErr
}

// closeReaders closes the idle read connections.
func (db *DB) closeReaders() {
	for {
		select {
		case r := <-db.readers:
			r.close()
			continue
		default:
		}
		break
	}
}

// release closes the read connections and unregisters the VFS.
func (db *DB) release() {
	db.closeReaders()
	if db.keyed != nil {
		db.keyed.Close()
	}
}
