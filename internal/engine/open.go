package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/sqlitevfs"
)

// Defaults for [Options].
const (
	DefaultJournalMode = "wal"
	DefaultSynchronous = "full"
	DefaultBusyTimeout = 5 * time.Second
)

// TempStore is the temp_store every connection runs with (see [Open]).
const TempStore = "file"

// Options says how to open one connection.
type Options struct {
	// VFS is the registered VFS name; empty means the OS VFS (as
	// sqlitevfs.PlainVFSName, which reports a full filesystem), or the
	// base set by [SetBaseVFS].
	VFS string
	// Encrypted requests sqlitevfs.ReserveBytes reserved bytes per page
	// (required by encrypting VFSes before the first write).
	Encrypted bool
	// PageSize applies to new databases only; 0 keeps SQLite's 4096.
	PageSize int
	// JournalMode is "wal" (default), "delete", "truncate", "persist".
	JournalMode string
	// KeepJournalMode leaves the journal mode as the file has it
	// (JournalMode is ignored): for a connection that only recovers a
	// database, which must not change it.
	KeepJournalMode bool
	// Synchronous is "full" (default), "normal" or "off".
	Synchronous string
	// BusyTimeout bounds waits for locks; 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ReadOnly opens the database read-only.
	ReadOnly bool
	// Immutable opens the database read-only as a file nothing changes
	// (SQLite's immutable URI parameter): no locks are taken, and no
	// -wal, -shm or -journal file is opened or created. Only for a file
	// without a WAL that no connection writes meanwhile.
	Immutable bool
	// Private creates the database and its -wal, -journal and -shm files
	// readable and writable by the owner only (0600).
	Private bool
}

// URI returns the SQLite URI for path on the named VFS.
func URI(path, vfsName string) string { return uri(path, vfsName, false, false) }

func uri(path, vfsName string, private, immutable bool) string {
	p := filepath.ToSlash(path)
	if runtime.GOOS == "windows" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: p}
	q := url.Values{}
	if vfsName != "" {
		q.Set("vfs", vfsName)
	}
	if private {
		q.Set("modeof", path) // journals and WAL take the database's mode
	}
	if immutable {
		q.Set("immutable", "1")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a connection to path and applies o.
//
// Temporary storage (statement and savepoint journals, temporary tables
// and indexes, sorts and VACUUM's copy beyond SQLite's page cache) goes
// to temporary files through the connection's VFS (temp_store=file), not
// into SQLite's own heap: that heap lives in the connection's Wasm
// memory, which is capped (256 MiB), and a large write transaction (a
// retention pass over hundreds of thousands of rows inside a savepoint)
// journals the original of every page it changes. The encrypting VFS
// (sqlitevfs) and the plaintext one (sqlitevfs.PlainVFSName) keep
// temporary files in Go memory and never write them to disk: a savepoint
// journal of a retention holds the content it drops.
func Open(path string, o Options) (*sqlite3.Conn, error) {
	if err := ensure(); err != nil {
		return nil, err
	}
	flags := sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE
	if o.ReadOnly || o.Immutable {
		flags = sqlite3.OPEN_READONLY
	}
	if o.Private {
		if err := createPrivate(path, o.ReadOnly); err != nil {
			return nil, err
		}
	}
	vfsName := o.VFS
	if vfsName == "" {
		// The OS VFS, with a full filesystem reported as
		// sqlitevfs.ErrDiskFull (ENOSPC) through sqlitevfs.ConnError.
		vfsName = plainVFSName()
	}
	c, err := sqlite3.OpenFlags(uri(path, vfsName, o.Private, o.Immutable), flags|sqlite3.OPEN_URI)
	if err != nil {
		return nil, err
	}
	if err := configure(c, o); err != nil {
		err = sqlitevfs.ConnError(c, err)
		c.Close()
		return nil, err
	}
	return c, nil
}

func configure(c *sqlite3.Conn, o Options) error {
	if o.Encrypted {
		if err := sqlitevfs.SetReserve(c, "main"); err != nil {
			return fmt.Errorf("set reserved bytes: %w", err)
		}
	}
	timeout := o.BusyTimeout
	if timeout == 0 {
		timeout = DefaultBusyTimeout
	}
	if err := c.BusyTimeout(timeout); err != nil {
		return err
	}
	pragmas := []string{"PRAGMA temp_store=" + TempStore}
	if o.PageSize != 0 {
		pragmas = append(pragmas, fmt.Sprintf("PRAGMA page_size=%d", o.PageSize))
	}
	if !o.ReadOnly && !o.Immutable && !o.KeepJournalMode {
		mode := o.JournalMode
		if mode == "" {
			mode = DefaultJournalMode
		}
		if !oneOf(mode, "wal", "delete", "truncate", "persist") {
			return fmt.Errorf("engine: unsupported journal mode %q", mode)
		}
		pragmas = append(pragmas, "PRAGMA journal_mode="+mode)
	}
	sync := o.Synchronous
	if sync == "" {
		sync = DefaultSynchronous
	}
	if !oneOf(sync, "full", "normal", "off", "extra") {
		return fmt.Errorf("engine: unsupported synchronous level %q", sync)
	}
	pragmas = append(pragmas, "PRAGMA synchronous="+sync)
	for _, p := range pragmas {
		if err := execBusy(c, p, timeout); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// execBusy runs sql, retrying for up to timeout while it fails with
// SQLITE_BUSY. Switching a new database to WAL mode needs an exclusive
// lock after reading the header under a shared one; when two connections
// do that at once SQLite returns SQLITE_BUSY without calling the busy
// handler (waiting could deadlock), so racing first opens of a new file
// retry here instead.
func execBusy(c *sqlite3.Conn, sql string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := c.Exec(sql)
		if !errors.Is(err, sqlite3.BUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
	}
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if strings.EqualFold(s, x) {
			return true
		}
	}
	return false
}

// Keyed is an encrypting VFS registered under a unique name, so its key
// never appears in a URI.
type Keyed struct {
	Name string
	*sqlitevfs.VFS
}

// RegisterKey wraps the OS VFS (or the base set by [SetBaseVFS]) with key
// and registers it under a fresh name. Call Close when no connection uses it any more.
func RegisterKey(key []byte) (*Keyed, error) {
	v, err := sqlitevfs.Wrap(currentBase(), key)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	rand.Read(id[:])
	k := &Keyed{Name: sqlitevfs.Name + "-" + hex.EncodeToString(id[:]), VFS: v}
	vfs.Register(k.Name, v)
	return k, nil
}

// Close unregisters the VFS.
func (k *Keyed) Close() { vfs.Unregister(k.Name) }

// createPrivate creates path and its -shm file with mode 0600 if they do not
// exist, so SQLite (which creates files 0666 less the umask) finds them
// owner-only. An existing file keeps its mode. A read-only open creates
// only the -shm, and only for an existing database.
func createPrivate(path string, readOnly bool) error {
	names := []string{path, path + "-shm"}
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil // SQLite reports the missing database
		}
		names = names[1:]
	}
	for _, name := range names {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		f.Close()
	}
	return nil
}
