package sqlitevfs_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/sqlitevfs"
)

// schema is the one table every test store has. A rowid table without
// indexes: a full scan of t reads every page of the database (no free pages
// as long as rows are only inserted).
const schema = `CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)`

// newKey returns a fresh random key.
func newKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, sqlitevfs.KeySize)
	rand.Read(key)
	return key
}

// register registers a VFS keyed with key under a unique name and
// unregisters it when the test ends.
func register(t testing.TB, key []byte) *engine.Keyed {
	t.Helper()
	k, err := engine.RegisterKey(key)
	if err != nil {
		t.Fatalf("engine.RegisterKey: %v", err)
	}
	t.Cleanup(k.Close)
	return k
}

// encrypted returns options for an encrypting connection on k.
func encrypted(k *engine.Keyed, mode string) engine.Options {
	return engine.Options{VFS: k.Name, Encrypted: true, JournalMode: mode}
}

// open opens path with o and closes the connection when the test ends
// (closing twice is harmless).
func open(t testing.TB, path string, o engine.Options) *sqlite3.Conn {
	t.Helper()
	c, err := engine.Open(path, o)
	if err != nil {
		t.Fatalf("engine.Open(%s, vfs=%q mode=%q): %v", filepath.Base(path), o.VFS, o.JournalMode, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closeConn closes c and fails the test on error.
func closeConn(t testing.TB, c *sqlite3.Conn) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// mustExec runs sql and fails the test on error.
func mustExec(t testing.TB, c *sqlite3.Conn, sql string) {
	t.Helper()
	if err := c.Exec(sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// row is one row of table t.
type row struct {
	id int64
	v  []byte
}

// genRows returns n rows with ids first, first+1, …; row i's value has
// size(i) random bytes, with marker (if any) copied into its middle.
func genRows(rng *mrand.Rand, first int64, n int, size func(i int) int, marker []byte) []row {
	rows := make([]row, n)
	for i := range rows {
		v := make([]byte, max(size(i), len(marker)))
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		if len(marker) > 0 {
			copy(v[(len(v)-len(marker))/2:], marker)
		}
		rows[i] = row{id: first + int64(i), v: v}
	}
	return rows
}

// fixed returns a size function for genRows.
func fixed(n int) func(int) int { return func(int) int { return n } }

// insertRows inserts rows into t in one transaction.
func insertRows(t testing.TB, c *sqlite3.Conn, rows []row) {
	t.Helper()
	if err := tryInsertRows(c, rows); err != nil {
		t.Fatalf("insert %d rows: %v", len(rows), err)
	}
}

func tryInsertRows(c *sqlite3.Conn, rows []row) (err error) {
	if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.Exec("ROLLBACK")
		}
	}()
	stmt, _, err := c.Prepare(`INSERT INTO t(id, v) VALUES(?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range rows {
		if err := stmt.BindInt64(1, r.id); err != nil {
			return err
		}
		if err := stmt.BindBlob(2, r.v); err != nil {
			return err
		}
		if err := stmt.Exec(); err != nil {
			return err
		}
	}
	if err := stmt.Close(); err != nil {
		return err
	}
	return c.Exec("COMMIT")
}

// readRows returns every row of t in id order.
func readRows(c *sqlite3.Conn) ([]row, error) {
	stmt, _, err := c.Prepare(`SELECT id, v FROM t ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var rows []row
	for stmt.Step() {
		rows = append(rows, row{id: stmt.ColumnInt64(0), v: stmt.ColumnBlob(1, nil)})
	}
	if err := stmt.Err(); err != nil {
		return rows, err
	}
	return rows, stmt.Close()
}

// mustReadRows is readRows that fails the test on error.
func mustReadRows(t testing.TB, c *sqlite3.Conn) []row {
	t.Helper()
	rows, err := readRows(c)
	if err != nil {
		t.Fatalf("read rows: %v", err)
	}
	return rows
}

// diffRows describes the first difference between got and want, or "".
func diffRows(got, want []row) string {
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.id != w.id {
			return fmt.Sprintf("row %d: id %d, want %d", i, g.id, w.id)
		}
		if !bytes.Equal(g.v, w.v) {
			return fmt.Sprintf("row %d (id %d): value differs (len %d, want %d)", i, g.id, len(g.v), len(w.v))
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d rows, want %d", len(got), len(want))
	}
	return ""
}

// checkRows fails the test unless got equals want byte for byte.
func checkRows(t testing.TB, got, want []row) {
	t.Helper()
	if d := diffRows(got, want); d != "" {
		t.Fatalf("rows differ: %s", d)
	}
}

// queryString returns the first column of the first row of sql.
func queryString(c *sqlite3.Conn, sql string) (string, error) {
	stmt, _, err := c.Prepare(sql)
	if err != nil {
		return "", err
	}
	defer stmt.Close()
	var s string
	if stmt.Step() {
		s = stmt.ColumnText(0)
	}
	if err := stmt.Err(); err != nil {
		return "", err
	}
	return s, stmt.Close()
}

// queryInt is queryString for integers, failing the test on error.
func queryInt(t testing.TB, c *sqlite3.Conn, sql string) int64 {
	t.Helper()
	stmt, _, err := c.Prepare(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer stmt.Close()
	if !stmt.Step() {
		t.Fatalf("%s: no row: %v", sql, stmt.Err())
	}
	return stmt.ColumnInt64(0)
}

// integrity runs PRAGMA integrity_check and returns its whole result.
func integrity(c *sqlite3.Conn) (string, error) {
	stmt, _, err := c.Prepare(`PRAGMA integrity_check`)
	if err != nil {
		return "", err
	}
	defer stmt.Close()
	var lines []string
	for stmt.Step() {
		lines = append(lines, stmt.ColumnText(0))
	}
	if err := stmt.Err(); err != nil {
		return strings.Join(lines, "\n"), err
	}
	return strings.Join(lines, "\n"), stmt.Close()
}

// checkIntegrity fails the test unless integrity_check says "ok".
func checkIntegrity(t testing.TB, c *sqlite3.Conn) {
	t.Helper()
	got, err := integrity(c)
	if err != nil || got != "ok" {
		t.Fatalf("integrity_check = %q, %v; want ok", got, err)
	}
}

// checkpoint runs a TRUNCATE checkpoint, moving everything into the
// database file.
func checkpoint(t testing.TB, c *sqlite3.Conn, mode sqlite3.CheckpointMode) {
	t.Helper()
	if _, _, err := c.WALCheckpoint("main", mode); err != nil {
		t.Fatalf("WALCheckpoint(%d): %v", mode, err)
	}
}

// copyFiles copies the named files (those that exist) from src to dst.
func copyFiles(t testing.TB, src, dst string, names ...string) {
	t.Helper()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(src, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// readFile reads a file, failing the test on error.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile writes a file, failing the test on error.
func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flip XORs n distinct random bytes of b[lo:hi] with non-zero random
// values and returns their offsets in b, sorted.
func flip(rng *mrand.Rand, b []byte, lo, hi, n int) []int {
	var offs []int
	for len(offs) < n {
		o := lo + rng.IntN(hi-lo)
		if slices.Contains(offs, o) {
			continue
		}
		b[o] ^= byte(1 + rng.IntN(255))
		offs = append(offs, o)
	}
	slices.Sort(offs)
	return offs
}

// hashFile returns the hex SHA-256 of a file, or "absent".
func hashFile(t testing.TB, path string) string {
	t.Helper()
	return storefiles.Digest(t, path)
}

// snapshot returns the name, mode and hash of every file in dir (lock
// files aside; SQLite creates none here).
func snapshot(t testing.TB, dir string) storefiles.Snapshot {
	t.Helper()
	return storefiles.Take(t, dir)
}

// checkUnchanged fails the test if dir's files differ from before.
func checkUnchanged(t testing.TB, dir string, before storefiles.Snapshot) {
	t.Helper()
	storefiles.Unchanged(t, dir, before)
}

// newMarker returns a unique ASCII marker.
func newMarker() []byte { return storefiles.NewMarker() }

// scanDirs scans every regular file under dirs, and every file this
// process has open under them, for the raw, reversed and hex forms of
// marker (storefiles.Scan). It returns the hits and the names of the
// files scanned.
func scanDirs(t testing.TB, marker []byte, dirs ...string) (hits, scanned []string) {
	t.Helper()
	return storefiles.Scan(t, marker, dirs...)
}

// tempDir returns a fresh directory for SQLite's temporary files and
// points TMPDIR and SQLITE_TMPDIR at it for the rest of the test.
func tempDir(t *testing.T) string {
	t.Helper()
	dir := realDir(t, t.TempDir())
	t.Setenv("TMPDIR", dir)
	t.Setenv("SQLITE_TMPDIR", dir)
	return dir
}

// realDir resolves symbolic links, so paths compare with SQLite's.
func realDir(t testing.TB, dir string) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testDir is t.TempDir with symbolic links resolved.
func testDir(t testing.TB) string {
	t.Helper()
	return realDir(t, t.TempDir())
}

// seededRand returns a PCG generator and logs its seed (proc.Seed).
// GOFASTR_TEST_SEED replays a failure.
func seededRand(t testing.TB) *mrand.Rand {
	t.Helper()
	seed := proc.Seed(t)
	return mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// pageErr returns the *sqlitevfs.PageError in err, or nil.
func pageErr(err error) *sqlitevfs.PageError {
	var pe *sqlitevfs.PageError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// trials returns n, or short in -short mode.
func trials(n, short int) int {
	if testing.Short() {
		return short
	}
	return n
}

// hashBytes is hashFile for bytes in memory.
func hashBytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
