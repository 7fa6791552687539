package sqlitevfs_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// TestTypedErrorPerConnection: connections on two databases, and two on
// the same database, through ONE VFS; a typed error must reach only the
// connection whose call failed. A hits a damaged page, then B hits another one: each error names
// its own file and page. Unrelated errors of B, of a second connection on
// A's database, and A's own later errors carry no PageError.
func TestTypedErrorPerConnection(t *testing.T) {
	for _, mode := range []string{"delete", "wal"} {
		t.Run(mode, func(t *testing.T) {
			key := newKey(t)
			dir := testDir(t)
			pathA, pathB := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
			k := register(t, key)
			for _, p := range []string{pathA, pathB} {
				c := open(t, p, encrypted(k, mode))
				mustExec(t, c, "CREATE TABLE t (i INTEGER PRIMARY KEY, v BLOB); INSERT INTO t SELECT value, randomblob(3000) FROM generate_series(1, 20)")
				if mode == "wal" {
					checkpoint(t, c, sqlite3.CHECKPOINT_TRUNCATE)
				}
				closeConn(t, c)
			}
			// Damage page 4 of a.db and page 6 of b.db.
			for p, pg := range map[string]int{pathA: 4, pathB: 6} {
				raw := readFile(t, p)
				raw[(pg-1)*4096+100] ^= 1
				writeFile(t, p, raw)
			}
			plainURI := engine.URI(pathB, "os") // encrypted file, plaintext OS VFS: NOTADB
			cA, cA2, cB := open(t, pathA, encrypted(k, mode)), open(t, pathA, encrypted(k, mode)), open(t, pathB, encrypted(k, mode))

			// A fails, then B and a second connection to A's database
			// fail, before A's error is examined: ConnError must still
			// find A's own page, and each connection's error only its own.
			scan := "SELECT sum(length(v)) FROM t"
			const dup = "INSERT INTO t (i, v) VALUES (1, x'00')"
			rawA := cA.Exec(scan)
			rawB := cB.Exec(scan)
			errA2 := sqlitevfs.ConnError(cA2, cA2.Exec(dup))
			if !errors.Is(errA2, sqlite3.CONSTRAINT) || pageErr(errA2) != nil {
				t.Errorf("A2 after A and B failed: %v, want CONSTRAINT and no PageError", errA2)
			}
			if mode == "delete" {
				// Rollback mode: the unlock after the failure hands the
				// typed error back to go-sqlite3, no ConnError needed.
				if pe := pageErr(rawA); pe == nil || pe.File != pathA {
					t.Errorf("A without ConnError: %v, want its PageError", rawA)
				}
			}
			errB := sqlitevfs.ConnError(cB, rawB)
			errA := sqlitevfs.ConnError(cA, rawA)
			for _, tc := range []struct {
				name string
				err  error
				path string
				page uint32
			}{{"A", errA, pathA, 4}, {"B", errB, pathB, 6}} {
				pe := pageErr(tc.err)
				if !errors.Is(tc.err, sqlite3.IOERR_DATA) || pe == nil || pe.File != tc.path || pe.Page != tc.page {
					t.Errorf("%s: %v, want IOERR_DATA with a PageError for page %d of %s", tc.name, tc.err, tc.page, tc.path)
				}
			}

			// Unrelated errors after A's failure: a constraint error, a
			// NOTADB (an encrypted file attached through the OS VFS) and a
			// CANTOPEN (a missing directory) on B,
			// on a second connection to A's database, and on A itself
			// after a successful call.
			if err := cA.Exec("SELECT 1"); err != nil {
				t.Fatalf("A after the damaged page: %v", err)
			}
			errA = sqlitevfs.ConnError(cA, cA.Exec(scan))
			if pe := pageErr(errA); pe == nil || pe.File != pathA {
				t.Errorf("A again: %v, want its own PageError again", errA)
			}
			for _, tc := range []struct {
				name string
				c    *sqlite3.Conn
			}{{"A", cA}, {"A2", cA2}, {"B", cB}} {
				for _, q := range []struct {
					sql  string
					code sqlite3.ErrorCode
				}{
					{dup, sqlite3.CONSTRAINT},
					{fmt.Sprintf("ATTACH %s AS x; SELECT count(*) FROM x.sqlite_master", sqlQuote(plainURI)), sqlite3.NOTADB},
					{fmt.Sprintf("ATTACH %s AS x", sqlQuote(engine.URI(filepath.Join(dir, "missing", "x.db"), "os"))), sqlite3.CANTOPEN},
				} {
					err := sqlitevfs.ConnError(tc.c, tc.c.Exec(q.sql))
					if !errors.Is(err, q.code) {
						t.Errorf("%s: %s: %v, want %v", tc.name, q.sql, err, q.code)
					}
					if pe := pageErr(err); pe != nil || errors.Is(err, sqlitevfs.ErrAuth) {
						t.Errorf("%s: %s: %v carries a stale or foreign PageError", tc.name, q.sql, err)
					}
					tc.c.Exec("DETACH x")
				}
			}
			// A wrong-key open of b.db through another VFS right after A's
			// failure carries ErrWrongKey only.
			cA.Exec(scan)
			_, err := engine.Open(pathB, encrypted(register(t, newKey(t)), mode))
			if !errors.Is(err, sqlitevfs.ErrWrongKey) || pageErr(err) != nil {
				t.Errorf("wrong-key open: %v, want ErrWrongKey and no PageError", err)
			}
			// A's error, taken late but before A is used again, is A's.
			errA = sqlitevfs.ConnError(cA, cA.Exec(scan))
			if pe := pageErr(errA); pe == nil || pe.File != pathA || pe.Page != 4 {
				t.Errorf("A: %v, want its PageError for page 4", errA)
			}
			for _, c := range []*sqlite3.Conn{cA, cA2, cB} {
				closeConn(t, c)
			}
		})
	}
}

// TestOpenErrorsCarryTypedError opens a plaintext database, a database
// with the wrong reserved bytes and one with the wrong key through the
// encrypting VFS: each open fails with an error that carries the typed
// error, with no ConnError (there is no connection).
func TestOpenErrorsCarryTypedError(t *testing.T) {
	key := newKey(t)
	plain, enc, raw := foreignFiles(t, key)
	reserve := filepath.Join(testDir(t), "reserve.db")
	writeFile(t, reserve, raw)

	for _, tc := range []struct {
		name  string
		path  string
		key   []byte
		typed error
		codes []error
	}{
		{"plaintext", plain, key, sqlitevfs.ErrNotEncrypted, []error{sqlite3.CANTOPEN, sqlite3.NOTADB}},
		{"reserved bytes", reserve, key, sqlitevfs.ErrReserve, []error{sqlite3.CANTOPEN, sqlite3.NOTADB}},
		{"wrong key", enc, newKey(t), sqlitevfs.ErrWrongKey, []error{sqlite3.IOERR_BADKEY}},
	} {
		for _, ro := range []bool{false, true} {
			o := encrypted(register(t, tc.key), "delete")
			o.ReadOnly = ro
			c, err := engine.Open(tc.path, o)
			if err == nil {
				c.Close()
				t.Errorf("%s (read-only %v): open succeeded", tc.name, ro)
				continue
			}
			if !errors.Is(err, tc.typed) {
				t.Errorf("%s (read-only %v): %v, want it to carry %v", tc.name, ro, err, tc.typed)
			}
			for _, code := range tc.codes {
				if !errors.Is(err, code) {
					t.Errorf("%s (read-only %v): %v, want %v", tc.name, ro, err, code)
				}
			}
		}
	}
}

// sqlQuote quotes s as an SQL string literal.
func sqlQuote(s string) string {
	q := "'"
	for _, r := range s {
		if r == '\'' {
			q += "'"
		}
		q += string(r)
	}
	return q + "'"
}

// TestReadPathHeaderErrors opens an empty file through the encrypting VFS,
// then puts a plaintext database (ErrNotEncrypted) or one with the wrong
// reserved bytes (ErrReserve) in its place: the connection's next read
// checks the header and fails with IOERR_READ carrying the typed error,
// which still matches NOTADB.
func TestReadPathHeaderErrors(t *testing.T) {
	key := newKey(t)
	plain, _, reserve := foreignFiles(t, key)

	for _, tc := range []struct {
		name  string
		raw   []byte
		typed error
	}{
		{"plaintext", readFile(t, plain), sqlitevfs.ErrNotEncrypted},
		{"reserved bytes", reserve, sqlitevfs.ErrReserve},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(testDir(t), "late.db")
			writeFile(t, path, nil)
			c := open(t, path, encrypted(register(t, key), "delete"))
			defer c.Close()
			writeFile(t, path, tc.raw)
			err := sqlitevfs.ConnError(c, c.Exec("SELECT count(*) FROM sqlite_master"))
			for _, want := range []error{sqlite3.IOERR_READ, sqlite3.NOTADB, tc.typed} {
				if !errors.Is(err, want) {
					t.Errorf("%v, want %v", err, want)
				}
			}
		})
	}
}

// foreignFiles makes a plaintext database, a database encrypted under key,
// and the encrypted one's bytes with the wrong reserved bytes per page.
func foreignFiles(t *testing.T, key []byte) (plain, enc string, reserve []byte) {
	t.Helper()
	dir := testDir(t)
	plain = filepath.Join(dir, "plain.db")
	c := open(t, plain, engine.Options{JournalMode: "delete"})
	mustExec(t, c, schema)
	closeConn(t, c)
	enc = filepath.Join(dir, "enc.db")
	c = open(t, enc, encrypted(register(t, key), "delete"))
	mustExec(t, c, schema)
	closeConn(t, c)
	reserve = readFile(t, enc)
	reserve[20] = 8
	return plain, enc, reserve
}
