package sqldb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/internal/engine"
)

// The toy schema of these tests: items with IDs drawn from a counter.
var (
	toyIDs = &Counter{Name: "item_id", Floor: "SELECT max(id) FROM items"}
	toy    = &Schema{
		AppID: 0x746f7931, // "toy1"
		Migrations: []string{
			CountersTable + `
			CREATE TABLE items (
				id    INTEGER PRIMARY KEY,
				owner TEXT NOT NULL,
				note  TEXT
			);`,
			`ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0;`,
		},
		Counters: []*Counter{toyIDs},
	}
)

// testKey and otherKey are fixed data keys of these tests, not secrets.
var (
	testKey  = bytes.Repeat([]byte{0x5a}, 32)
	otherKey = bytes.Repeat([]byte{0xa5}, 32)
)

func tempPath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "toy.db")
}

// openToy opens the toy schema at path (encrypted with key unless it is
// nil) and closes it when the test ends.
func openToy(tb testing.TB, path string, key []byte) *DB {
	tb.Helper()
	db, err := Open(path, toy, Options{Key: key})
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// addItem inserts an item with the next ID inside tx, after checking that
// the ID is above every committed one, and returns it.
func addItem(tx *Tx, owner string) (uint64, error) {
	id, err := tx.Next(toyIDs)
	if err != nil {
		return 0, err
	}
	top, err := QueryInt(tx.Conn(), `SELECT coalesce(max(id), 0) FROM items`)
	if err != nil {
		return 0, err
	}
	if id <= uint64(top) {
		return 0, fmt.Errorf("drew ID %d with ID %d already committed", id, top)
	}
	_, err = tx.Exec(`INSERT INTO items (id, owner) VALUES (?, ?)`, id, owner)
	return id, err
}

// countItems returns the number of items, read through db.
func countItems(tb testing.TB, db *DB, where string, args ...any) int64 {
	tb.Helper()
	var n int64
	err := db.Read(context.Background(), func(q *ReadTx) error {
		var err error
		n, err = QueryInt(q.Conn(), `SELECT count(*) FROM items WHERE `+where, args...)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// createForeignDB creates an SQLite database of no schema of these tests,
// with one table and one row, through the engine.
func createForeignDB(t *testing.T, path string, o engine.Options) {
	t.Helper()
	c, err := engine.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me')`); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// rawExec runs sql on path through a connection of its own.
func rawExec(t *testing.T, path string, key []byte, sql string) {
	t.Helper()
	o := engine.Options{}
	if key != nil {
		k, err := engine.RegisterKey(key)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		o = engine.Options{VFS: k.Name, Encrypted: true}
	}
	c, err := engine.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec(sql); err != nil {
		t.Fatal(err)
	}
}

// rawInt reads one integer from path through a read-only connection.
func rawInt(t *testing.T, path, query string) int64 {
	t.Helper()
	c, err := engine.Open(path, engine.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := QueryInt(c, query)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fileBytes returns the contents of path, for before-and-after checks.
func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// childEnv returns the environment that makes children load the SQLite
// module from this process's compilation cache, or from a fresh one.
func childEnv(t *testing.T) string {
	dir := engine.CacheDir()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "wazero-cache")
	}
	return engine.EnvCacheDir + "=" + dir
}

// fileBytesOK returns the contents of path, or nil if it cannot be read.
func fileBytesOK(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}
