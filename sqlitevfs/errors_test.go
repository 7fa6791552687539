package sqlitevfs_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// TestWrongKey opens a store with another key, closed (rollback mode) and
// with a live -wal: the open fails with ErrWrongKey (IOERR_BADKEY), the
// error names no key, and no file changes or appears. The right key still
// opens it afterwards.
func TestWrongKey(t *testing.T) {
	for _, mode := range []string{"delete", "wal"} {
		t.Run(mode, func(t *testing.T) {
			rng := seededRand(t)
			keyA, keyB := newKey(t), newKey(t)
			src, dir := testDir(t), testDir(t)
			path := filepath.Join(dir, "k.db")
			c := open(t, filepath.Join(src, "k.db"), encrypted(register(t, keyA), mode))
			mustExec(t, c, schema)
			want := genRows(rng, 1, 20, fixed(2000), nil)
			insertRows(t, c, want)
			if mode == "wal" {
				if err := c.WALAutoCheckpoint(0); err != nil {
					t.Fatal(err)
				}
				extra := genRows(rng, 100, 5, fixed(2000), nil)
				insertRows(t, c, extra)
				want = append(want, extra...)
			}
			copyFiles(t, src, dir, "k.db", "k.db-wal")
			closeConn(t, c)
			if mode == "wal" {
				if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
					t.Fatalf("no -wal to protect: %v", err)
				}
			}
			before := snapshot(t, dir)

			for _, ro := range []bool{false, true} {
				kB := register(t, keyB)
				o := encrypted(kB, mode)
				o.ReadOnly = ro
				c, err := engine.Open(path, o)
				if err == nil {
					err = c.Exec("SELECT count(*) FROM t")
					c.Close()
					t.Errorf("read-only %v: open with the wrong key succeeded", ro)
				}
				if !errors.Is(err, sqlite3.IOERR_BADKEY) {
					t.Errorf("read-only %v: %v, want IOERR_BADKEY", ro, err)
				}
				if !errors.Is(err, sqlitevfs.ErrWrongKey) {
					t.Errorf("read-only %v: %v, want it to wrap ErrWrongKey", ro, err)
				}
				if pe := pageErr(err); pe != nil {
					t.Errorf("read-only %v: %v carries a PageError, want only ErrWrongKey", ro, err)
				}
				for _, key := range [][]byte{keyA, keyB} {
					h := hex.EncodeToString(key)
					if strings.Contains(strings.ToLower(err.Error()), h) || strings.Contains(err.Error(), string(key)) {
						t.Errorf("error reveals a key: %v", err)
					}
				}
				checkUnchanged(t, dir, before)
			}

			c = open(t, path, encrypted(register(t, keyA), mode))
			checkRows(t, mustReadRows(t, c), want)
			checkIntegrity(t, c)
		})
	}
}

// TestNotEncrypted opens a plaintext SQLite database through the
// encrypting VFS (NOTADB, ErrNotEncrypted, file unchanged) and an
// encrypted one through the plaintext OS VFS (NOTADB: nothing readable).
func TestNotEncrypted(t *testing.T) {
	rng := seededRand(t)
	dir := testDir(t)
	plain := filepath.Join(dir, "plain.db")
	c := open(t, plain, engine.Options{JournalMode: "delete"})
	mustExec(t, c, schema)
	insertRows(t, c, genRows(rng, 1, 10, fixed(100), nil))
	closeConn(t, c)
	before := snapshot(t, dir)

	k := register(t, newKey(t))
	for _, ro := range []bool{false, true} {
		o := encrypted(k, "delete")
		o.ReadOnly = ro
		c, err := engine.Open(plain, o)
		if err == nil {
			err = sqlitevfs.ConnError(c, c.Exec("SELECT count(*) FROM t"))
			c.Close()
		}
		if !errors.Is(err, sqlite3.NOTADB) {
			t.Errorf("plaintext through the encrypting VFS (read-only %v): %v, want NOTADB", ro, err)
		}
		if !errors.Is(err, sqlitevfs.ErrNotEncrypted) {
			t.Errorf("plaintext through the encrypting VFS (read-only %v): %v, want it to carry ErrNotEncrypted", ro, err)
		}
	}
	checkUnchanged(t, dir, before)

	enc := filepath.Join(testDir(t), "enc.db")
	c = open(t, enc, encrypted(k, "delete"))
	mustExec(t, c, schema)
	closeConn(t, c)
	c, err := engine.Open(enc, engine.Options{JournalMode: "delete"})
	if err == nil {
		err = c.Exec("SELECT count(*) FROM t")
		c.Close()
	}
	if !errors.Is(err, sqlite3.NOTADB) {
		t.Errorf("encrypted through the OS VFS: %v, want NOTADB", err)
	}
}

// TestMissingReserve: a connection to a new database through the
// encrypting VFS that did not call SetReserve cannot write anything; its
// first write fails with ErrReserve (IOERR_WRITE) and the file stays
// empty. Switching to WAL is such a first write.
func TestMissingReserve(t *testing.T) {
	t.Run("delete", func(t *testing.T) {
		k := register(t, newKey(t))
		path := filepath.Join(testDir(t), "nr.db")
		c := open(t, path, engine.Options{VFS: k.Name, JournalMode: "delete"})
		err := sqlitevfs.ConnError(c, c.Exec(schema))
		if !errors.Is(err, sqlite3.IOERR_WRITE) {
			t.Errorf("first write: %v, want IOERR_WRITE", err)
		}
		if !errors.Is(err, sqlitevfs.ErrReserve) {
			t.Errorf("first write: %v, want it to carry ErrReserve", err)
		}
		closeConn(t, c)
		checkEmpty(t, path)
	})
	t.Run("wal", func(t *testing.T) {
		k := register(t, newKey(t))
		path := filepath.Join(testDir(t), "nr.db")
		c, err := engine.Open(path, engine.Options{VFS: k.Name, JournalMode: "wal"})
		if err == nil {
			err = sqlitevfs.ConnError(c, c.Exec(schema))
			c.Close()
		}
		if !errors.Is(err, sqlite3.IOERR_WRITE) {
			t.Errorf("open in WAL mode: %v, want IOERR_WRITE", err)
		}
		if !errors.Is(err, sqlitevfs.ErrReserve) {
			t.Errorf("open in WAL mode: %v, want it to carry ErrReserve", err)
		}
		checkEmpty(t, path)
	})
	t.Run("reserve 8", func(t *testing.T) {
		// What Conn.EnableChecksums asks for: refused too.
		k := register(t, newKey(t))
		path := filepath.Join(testDir(t), "nr.db")
		c := open(t, path, engine.Options{VFS: k.Name, JournalMode: "delete"})
		if _, err := c.FileControl("main", sqlite3.FCNTL_RESERVE_BYTES, 8); err != nil {
			t.Fatal(err)
		}
		err := sqlitevfs.ConnError(c, c.Exec(schema))
		if !errors.Is(err, sqlite3.IOERR_WRITE) {
			t.Errorf("first write: %v, want IOERR_WRITE", err)
		}
		if !errors.Is(err, sqlitevfs.ErrReserve) {
			t.Errorf("first write: %v, want it to carry ErrReserve", err)
		}
		closeConn(t, c)
		checkEmpty(t, path)
	})
}

// checkEmpty fails the test unless path is absent or empty and no journal
// or WAL with content is left next to it.
func checkEmpty(t testing.TB, path string) {
	t.Helper()
	for _, suffix := range []string{"", "-journal", "-wal"} {
		fi, err := os.Stat(path + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != 0 {
			t.Errorf("%s has %d bytes, want nothing written", filepath.Base(path+suffix), fi.Size())
		}
	}
}

// TestDamagedFiles opens truncated and garbage files: each is a clean,
// typed error (never a panic, never rows), except damage SQLite itself
// tolerates (a garbage -wal or hot journal is ignored).
func TestDamagedFiles(t *testing.T) {
	rng := seededRand(t)
	s := newDBStore(t, rng)
	const P = tamperPageSize
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	notADB := wantError{code: sqlite3.ExtendedErrorCode(sqlite3.NOTADB), typed: sqlitevfs.ErrNotEncrypted}
	cases := []struct {
		name     string
		db       []byte
		side     map[string][]byte // -wal, -journal
		want     *wantError        // nil: opens, all rows intact
		wantPage uint32            // PageError page, with io.ErrUnexpectedEOF
		corrupt  bool              // SQLite's own check fails (CORRUPT); the VFS saw no bad page
	}{
		{name: "cut to 10 bytes", db: s.raw[:10], want: &notADB},
		{name: "cut to 23 bytes", db: s.raw[:23], want: &notADB},
		{name: "cut to 24 bytes", db: s.raw[:24], wantPage: 1},
		{name: "cut inside page 1", db: s.raw[:P/2], wantPage: 1},
		// Shorter than the page count in (authenticated) page 1: SQLite
		// rejects the file before reading the missing pages.
		{name: "cut inside page 3", db: s.raw[:2*P+P/2], corrupt: true},
		{name: "cut after page 3", db: s.raw[:3*P], corrupt: true},
		{name: "cut inside the last page", db: s.raw[:len(s.raw)-100], wantPage: uint32(s.pages)},
		{name: "random bytes", db: random(8 * P), want: &notADB},
		{name: "zeros", db: make([]byte, 8*P), want: &notADB},
		{name: "one byte", db: []byte{'g'}, want: &notADB},
		{name: "valid prefix, random pages", db: append(append([]byte{}, s.raw[:24]...), random(8*P-24)...),
			want: &wantError{code: sqlite3.IOERR_DATA, kind: "db", page: 1, off: 0}},
		{name: "random wal", db: s.raw, side: map[string][]byte{"-wal": random(3 * P)}},
		{name: "random hot journal", db: s.raw, side: map[string][]byte{"-journal": random(3 * P)}},
		{name: "empty wal and journal", db: s.raw, side: map[string][]byte{"-wal": nil, "-journal": nil}},
	}
	dir := testDir(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("d%d.db", i))
			writeFile(t, path, tc.db)
			for suffix, b := range tc.side {
				writeFile(t, path+suffix, b)
			}
			k := register(t, s.key)
			rows, err := readAll(path, trialOptions(k, "delete"))
			switch {
			case tc.want != nil:
				w := *tc.want
				w.file = path
				if e := w.check(err); e != nil {
					t.Error(e)
				}
				if len(rows) != 0 {
					t.Errorf("%d rows returned", len(rows))
				}
			case tc.corrupt:
				if !errors.Is(err, sqlite3.CORRUPT) {
					t.Errorf("error %v, want CORRUPT", err)
				}
				if pe := pageErr(err); pe != nil || errors.Is(err, sqlitevfs.ErrAuth) {
					t.Errorf("error %v carries a PageError, want none (the VFS saw no bad page)", err)
				}
				if len(rows) != 0 {
					t.Errorf("%d rows returned", len(rows))
				}
			case tc.wantPage != 0:
				if !errors.Is(err, sqlite3.IOERR_DATA) {
					t.Errorf("error %v, want IOERR_DATA", err)
				}
				pe := pageErr(err)
				if pe == nil || pe.Page != tc.wantPage || pe.Kind != "db" || pe.File != path || !errors.Is(pe, io.ErrUnexpectedEOF) {
					t.Errorf("error %v, want a PageError for page %d with io.ErrUnexpectedEOF", err, tc.wantPage)
				}
				if e := checkSubset(rows, s.rows); e != nil {
					t.Error(e)
				}
			default:
				if err != nil {
					t.Fatalf("%v", err)
				}
				checkRows(t, rows, s.rows)
			}
		})
	}
}
