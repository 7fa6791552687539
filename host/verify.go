package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// VerifyReport is what [Verify] found in a store's files.
type VerifyReport struct {
	// Path is the store's database file.
	Path string `json:"path"`
	// Encrypted reports whether the store is encrypted; only then are
	// pages authenticated.
	Encrypted bool `json:"encrypted"`
	// Pages counts the database pages that authenticated, and Frames the
	// WAL frames up to the log's last valid commit that did (see
	// sqlitevfs.CheckReport). Both are 0 for a plaintext store.
	Pages  int64 `json:"pages"`
	Frames int64 `json:"frames"`
	// Superseded, Uncommitted and Stale count database pages and WAL
	// frames that SQLite never reads and that are not damage: database
	// pages a committed WAL frame replaces, frames after the log's last
	// valid commit, frames of an older log generation. A frame the
	// integrity check finds damaged is counted in Damaged instead.
	// Uncommitted frames are not authenticated as committed: in a copy of
	// a store (no WAL index), a torn last write and a tampered last
	// transaction look alike, and neither makes OK false.
	Superseded  int64 `json:"superseded,omitempty"`
	Uncommitted int64 `json:"uncommitted_frames,omitempty"`
	Stale       int64 `json:"stale_frames,omitempty"`
	// Damaged lists the database pages and WAL frames that failed
	// authentication, in file order: those the check of the files found
	// and the one the integrity check failed on, if any, each once.
	Damaged []DamagedPage `json:"damaged,omitempty"`
	// Integrity holds the lines of SQLite's PRAGMA integrity_check other
	// than "ok", or why it could not run on a damaged store.
	Integrity []string `json:"integrity,omitempty"`

	pageSize int // of an encrypted store, from the check of its files
}

// DamagedPage is a page image that failed authentication.
type DamagedPage struct {
	File   string `json:"file"`            // the database or its -wal file
	Kind   string `json:"kind"`            // "db" or "wal"
	Page   uint32 `json:"page"`            // SQLite page number (0: the WAL header)
	Frame  int64  `json:"frame,omitempty"` // WAL frame number, from 1; 0 for "db" and the WAL header
	Offset int64  `json:"offset"`          // file offset of the page image or frame
	Reason string `json:"reason"`          // what failed
	// Err is the *sqlitevfs.PageError, for errors.Is with
	// sqlitevfs.ErrAuth or sqlitevfs.ErrWALDamaged.
	Err error `json:"-"`
}

// OK reports whether r found neither damaged pages nor integrity errors.
func (r *VerifyReport) OK() bool { return len(r.Damaged) == 0 && len(r.Integrity) == 0 }

// Verify checks the store at path without opening it as a [Store]: for
// an encrypted store, it authenticates every page of the database file
// and every frame of its WAL with the store's data key
// (sqlitevfs.CheckFiles); for every store, it then runs SQLite's PRAGMA
// integrity_check through a read-only connection. progress, if not nil,
// is called with the bytes authenticated so far and the total
// (sqlitevfs.CheckProgress); for a plaintext store, once with the
// database's size when the integrity check is done.
//
// cfg says how the store is encrypted, as for [OpenWithConfig]: with a
// KEK source the data key is unwrapped from the existing header
// (keyring.LoadDEK: never created), with [Config.WithKey] it is given,
// and without either the store must be plaintext. Only those options
// matter (and WithCacheDir).
//
// Verify writes nothing to a store's data: it never changes the database
// or its WAL. It may create the empty lock files <path>.lock and
// <path>.dek.lock, and holds <path>.lock shared while it runs, so a
// [Rekey] or [Encrypt] does not replace the files under it. It works while
// other handles and processes have the store open and write to it; their
// writes go on meanwhile. Beside a WAL and its index (-shm), as while the
// store is open anywhere, SQLite reads the store as an ordinary reader,
// under its locks, and like every reader records its read mark in the WAL
// index (which SQLite rebuilds if a writer crashed). On a store without a WAL (closed cleanly) SQLite reads the
// database file as it stands, without locks, creating nothing; a WAL
// without its index (a copy of a store taken while it was open) is read
// in a private copy in a temporary directory, removed afterwards. Files a
// writer changes under such a read can make it fail: a failed integrity
// check is run again, a few times, while the files changed meanwhile, so
// that a sound store is not reported damaged because others write to it.
//
// Damage is reported, with a nil error: damaged pages in Damaged (the
// integrity check is then still run; if it cannot, Integrity says why),
// what integrity_check reports in Integrity. A page or frame that fails
// authentication when the integrity check reads it is added to Damaged
// too, unless the check of the files named it already: SQLite reads the
// WAL frames its index (-shm) says are committed, and beside a live
// writer a frame of the log's last transaction that the check of the
// files alone would count as an uncommitted tail is then damage. Only a
// check that ran as an ordinary reader or while no file changed names
// such a page: one torn by a concurrent checkpoint is read again.
//
// Errors are for what keeps Verify from checking: a missing store (an error wrapping
// [fs.ErrNotExist]), a KEK that does not open the header (wrapping
// keyring.ErrWrongKEK), a data key the store is not sealed under
// (wrapping sqlitevfs.ErrWrongKey), a store opened with the wrong
// encryption ([ErrEncryptedStore], [ErrPlaintextStore]), a file that is
// no store ([ErrNotStore]), a lock held too long, ctx's error. No error
// or report holds key material.
func Verify(ctx context.Context, path string, cfg Config, progress func(done, total int64)) (*VerifyReport, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	if err := cfg.setUp(); err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	if path == "" {
		return nil, fmt.Errorf("verify: %w: empty path", ErrInvalidArgument)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("verify %s: %w: a directory", path, ErrNotStore)
	}
	encrypted := cfg.kek != nil || cfg.key != nil
	if err := checkKind(path, schema, encrypted); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	lock, err := keyring.LockStore(path)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", path, err)
	}
	defer lock.Close()

	var key []byte
	switch {
	case cfg.kek != nil:
		dek, _, err := keyring.LoadDEK(path, cfg.kek)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", path, err)
		}
		key = dek
	case cfg.key != nil:
		key = bytes.Clone(cfg.key)
	}
	defer clear(key)

	r := &VerifyReport{Path: path, Encrypted: encrypted}
	if encrypted {
		var opts []sqlitevfs.CheckOption
		if progress != nil {
			opts = append(opts, sqlitevfs.CheckProgress(progress))
		}
		cr, err := sqlitevfs.CheckFiles(ctx, path, key, opts...)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", path, err)
		}
		r.Pages, r.Frames, r.pageSize = cr.Pages, cr.Frames, cr.PageSize
		r.Superseded, r.Uncommitted, r.Stale = cr.Superseded, cr.Uncommitted, cr.Stale
		for _, pe := range cr.Damaged {
			r.Damaged = append(r.Damaged, damagedPage(pe, cr.PageSize))
		}
	}
	lines, pe, err := integrityCheck(ctx, path, key)
	if err != nil {
		if len(r.Damaged) == 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("verify %s: %w", path, err)
		}
		lines = []string{"integrity_check could not run: " + err.Error()}
	}
	r.Integrity = lines
	if pe != nil && encrypted {
		r.addDamage(pe)
	}
	if progress != nil && !encrypted {
		progress(fi.Size(), fi.Size())
	}
	return r, nil
}

// addDamage adds the database page or WAL frame that failed
// authentication when the integrity check read it to r.Damaged, in file
// order, unless the check of the files named it already. SQLite reads
// only frames its WAL index says are committed, so a frame that fails
// there is damage even where the check of the files, which judges the
// WAL as recovery does, saw the torn tail of a last transaction.
func (r *VerifyReport) addDamage(pe *sqlitevfs.PageError) {
	if !errors.Is(pe, sqlitevfs.ErrAuth) && !errors.Is(pe, sqlitevfs.ErrWALDamaged) {
		return
	}
	d := DamagedPage{Kind: pe.Kind, Page: pe.Page, Offset: pe.Offset}
	cause := pe.Err
	switch pe.Kind {
	case "db":
		d.File = r.Path
	case "wal":
		d.File = r.Path + "-wal"
		if r.pageSize > 0 && pe.Offset >= walHeaderSize {
			// The VFS names the offset of the frame's page image, the
			// check of the files the frame's.
			size := walFrameHeaderSize + int64(r.pageSize)
			d.Frame = (pe.Offset-walHeaderSize)/size + 1
			d.Offset = walHeaderSize + (d.Frame-1)*size
			cause = fmt.Errorf("%w (frame %d)", cause, d.Frame)
		}
	default:
		return
	}
	for _, e := range r.Damaged {
		if e.Kind == d.Kind && e.Offset == d.Offset {
			return // named already
		}
	}
	d.Err = &sqlitevfs.PageError{File: d.File, Kind: d.Kind, Page: d.Page, Offset: d.Offset, Err: cause}
	if cause != nil {
		d.Reason = cause.Error()
	}
	at := len(r.Damaged)
	for i, e := range r.Damaged {
		if e.Kind == d.Kind && e.Offset > d.Offset || e.Kind == "wal" && d.Kind == "db" {
			at = i
			break
		}
	}
	r.Damaged = slices.Insert(r.Damaged, at, d)
	if d.Kind == "wal" && r.Uncommitted > 0 {
		// The check of the files counted the frame as the log's
		// uncommitted tail: count it once.
		r.Uncommitted--
	}
}

// damagedPage converts a PageError of a check.
func damagedPage(pe *sqlitevfs.PageError, pageSize int) DamagedPage {
	d := DamagedPage{File: pe.File, Kind: pe.Kind, Page: pe.Page, Offset: pe.Offset, Err: pe}
	if pe.Err != nil {
		d.Reason = pe.Err.Error()
	}
	if pe.Kind == "wal" && pe.Offset >= walHeaderSize && pageSize > 0 {
		d.Frame = (pe.Offset-walHeaderSize)/int64(walFrameHeaderSize+pageSize) + 1
	}
	return d
}

// The WAL's geometry (https://sqlite.org/fileformat2.html#walformat).
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
)

// integrityCheck runs PRAGMA integrity_check on the store at path
// through a read-only connection (encrypted with key, if not nil) and
// returns its lines other than "ok". A damaged store SQLite cannot read (a
// page that fails authentication, a malformed file) is a line, not an
// error.
//
// How the files are read depends on what is beside the database, and the
// files may change meanwhile when the store is open elsewhere: a failed
// check (problems, a page that failed, an error) is run again, up to
// integrityTries times, while the database, its WAL or its WAL index
// changed during the run. A check that read files a writer changed under
// it (an immutable read of a database a checkpoint wrote to, a WAL that
// vanished before its copy) proves nothing; one run while nothing changed,
// or a run as an ordinary WAL reader, does.
func integrityCheck(ctx context.Context, path string, key []byte) ([]string, *sqlitevfs.PageError, error) {
	var (
		lines []string
		pe    *sqlitevfs.PageError
		err   error
	)
	for try := 1; ; try++ {
		before := fingerprint(path)
		lines, pe, err = integrityOnce(ctx, path, key)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if err == nil && len(lines) == 0 && pe == nil {
			return nil, nil, nil
		}
		if try == integrityTries || fingerprint(path) == before {
			return lines, pe, err
		}
	}
}

// integrityTries bounds the runs of a failing integrity check while a
// writer changes the store's files (see integrityCheck).
const integrityTries = 5

// filesState is what fingerprint saw of a store's files.
type filesState [3]struct {
	size  int64
	mtime int64
	ok    bool
}

// fingerprint returns the size and modification time of the database at
// path, its WAL and its WAL index, each if it exists.
func fingerprint(path string) filesState {
	var f filesState
	for i, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			f[i].size, f[i].mtime, f[i].ok = fi.Size(), fi.ModTime().UnixNano(), true
		}
	}
	return f
}

// integrityOnce runs the integrity check once. With a WAL and its index
// (-shm: the store is open somewhere, or was when a process died) the
// store is read as any reader reads it, under SQLite's locks, beside its
// writers; the read connection records its read mark in the WAL index as
// every reader does. With no WAL or an empty one without an index (closed
// cleanly) the database is opened immutable, without locks, creating
// nothing. A WAL without its
// index (a copy of a store taken while it was open, or a store whose
// opener has just created its WAL) is checked in a private copy in a
// temporary directory, removed afterwards, since reading it in place
// would create the index. The last two are safe only while no one writes;
// integrityCheck runs again a check that failed while the files changed.
func integrityOnce(ctx context.Context, path string, key []byte) ([]string, *sqlitevfs.PageError, error) {
	wal, err := os.Stat(path + "-wal")
	if errors.Is(err, fs.ErrNotExist) {
		return runIntegrity(ctx, path, key, true)
	} else if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(path + "-shm"); !errors.Is(err, fs.ErrNotExist) {
		return runIntegrity(ctx, path, key, false)
	}
	if wal.Size() == 0 {
		return runIntegrity(ctx, path, key, true)
	}
	dir, err := os.MkdirTemp("", "gofastr-verify-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	cp := filepath.Join(dir, filepath.Base(path))
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(path+suffix, cp+suffix); err != nil {
			return nil, nil, err
		}
	}
	return runIntegrity(ctx, cp, key, false)
}

// copyFile copies the file src to the new file dst, mode 0600.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runIntegrity runs PRAGMA integrity_check on the database at path,
// opened read-only (and immutable: without locks, WAL or WAL index).
func runIntegrity(ctx context.Context, path string, key []byte, immutable bool) ([]string, *sqlitevfs.PageError, error) {
	o := engine.Options{ReadOnly: true, Immutable: immutable}
	if key != nil {
		k, err := engine.RegisterKey(key)
		if err != nil {
			return nil, nil, err
		}
		defer k.Close()
		o.VFS, o.Encrypted = k.Name, true
	}
	c, err := engine.Open(path, o)
	if err != nil {
		return corruption(nil, err)
	}
	defer c.Close()
	stop := c.SetInterrupt(ctx)
	defer c.SetInterrupt(stop)
	st, _, err := c.Prepare("PRAGMA integrity_check")
	if err != nil {
		return corruption(c, err)
	}
	defer st.Close()
	var lines []string
	for st.Step() {
		if line := st.ColumnText(0); line != "ok" {
			lines = append(lines, line)
		}
	}
	if err := st.Err(); err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return corruption(c, err)
	}
	return lines, nil, nil
}

// corruption returns err as the line of an integrity check that found
// the store unreadable (a page that fails authentication, a malformed
// database), with the page that failed, if that is why; or as an error
// for anything else (a lock, a missing file).
func corruption(c *sqlite3.Conn, err error) ([]string, *sqlitevfs.PageError, error) {
	err = sqlitevfs.ConnError(c, err)
	if errors.Is(err, sqlite3.CORRUPT) || errors.Is(err, sqlite3.NOTADB) || errors.Is(err, sqlite3.IOERR_DATA) ||
		errors.Is(err, sqlitevfs.ErrAuth) || errors.Is(err, sqlitevfs.ErrWALDamaged) {
		var pe *sqlitevfs.PageError
		errors.As(err, &pe)
		return []string{"integrity_check could not run: " + err.Error()}, pe, nil
	}
	return nil, nil, err
}
