package sqlitevfs_test

import (
	"path/filepath"
	"testing"

	"github.com/gofastr/store/internal/engine"
)

// TestPlainTempInMemory runs a write transaction whose savepoint journal
// outgrows SQLite's in-memory limit on a plaintext connection, with the
// temporary directory unusable: the plaintext VFS keeps temporary files
// in memory, as the encrypting VFS does, so the write succeeds and no
// copy of the changed (possibly retention-dropped) content reaches a
// temporary directory, whose lack of space could otherwise fail a store
// whose own disk has room.
func TestPlainTempInMemory(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
	t.Setenv("SQLITE_TMPDIR", filepath.Join(t.TempDir(), "missing"))
	path := filepath.Join(t.TempDir(), "p.db")
	c := open(t, path, engine.Options{JournalMode: "wal"})
	if err := c.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 4000)
		INSERT INTO t SELECT i, hex(randomblob(500)) FROM n;`); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`BEGIN; SAVEPOINT s; UPDATE t SET note = 'x'; RELEASE s; COMMIT;`); err != nil {
		t.Fatalf("a large savepoint with no usable temporary directory: %v", err)
	}
}
