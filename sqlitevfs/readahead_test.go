package sqlitevfs_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/sqlitevfs"
)

// TestReadAheadScan scans an encrypted table on a connection whose
// read-ahead holds pages opened before another connection rewrote every
// row and checkpointed: the scan must see the new rows, never the
// helper's stale plaintext.
func TestReadAheadScan(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("read-ahead runs only with GOMAXPROCS >= 2")
	}
	const rows = 6000 // ~2000 pages of 4 KiB
	k := register(t, newKey(t))
	path := filepath.Join(t.TempDir(), "ra.db")
	w := open(t, path, encrypted(k, "wal"))
	mustExec(t, w, `CREATE TABLE s(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, pad BLOB NOT NULL)`)
	mustExec(t, w, `WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM i WHERE x < 6000)
		INSERT INTO s SELECT x, x, randomblob(1100) FROM i`)
	checkpoint(t, w, sqlite3.CHECKPOINT_TRUNCATE)

	r := open(t, path, encrypted(k, "wal"))
	sum := func(where string) int64 { return queryInt(t, r, "SELECT sum(n) FROM s "+where) }

	// A partial scan leaves the helper with opened pages past its end.
	if got, want := sum("WHERE id <= 3000"), int64(3000*3001/2); got != want {
		t.Fatalf("first half: sum = %d, want %d", got, want)
	}
	served := sqlitevfs.ReadAheadTaken(r)
	if served <= 0 {
		t.Fatalf("read-ahead served %d pages of a ~1000-page scan", served)
	}

	// Another connection rewrites every page and checkpoints them into the
	// database file (r holds no read transaction, so all frames go in).
	mustExec(t, w, `UPDATE s SET n = n + 1000000`)
	checkpoint(t, w, sqlite3.CHECKPOINT_TRUNCATE)

	// Rows just past the first scan: their pages are the helper's stale
	// ones, read before a stream restarts the helper.
	if got, want := sum("WHERE id > 3000 AND id <= 3030"), int64(30*1000000+(3001+3030)*30/2); got != want {
		t.Fatalf("after the rewrite: sum = %d, want %d (stale pages served)", got, want)
	}
	if got, want := sum(""), int64(rows*(rows+1)/2+rows*1000000); got != want {
		t.Fatalf("after the rewrite: sum = %d, want %d (stale pages served)", got, want)
	}
	if sqlitevfs.ReadAheadTaken(r) <= served {
		t.Error("read-ahead served nothing on the second scan")
	}
	checkIntegrity(t, r)
}
