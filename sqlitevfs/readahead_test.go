package sqlitevfs_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// scanTable skips the test without a second core for read-ahead, then
// creates an encrypted database with table s(id, n = id, pad) of rows rows
// of about 1.1 KiB (three per 4 KiB page), all checkpointed into the
// database file. It returns the key's VFS, the path and the writer.
func scanTable(t *testing.T, rows int) (*engine.Keyed, string, *sqlite3.Conn) {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("read-ahead runs only with GOMAXPROCS >= 2")
	}
	k := register(t, newKey(t))
	path := filepath.Join(t.TempDir(), "ra.db")
	w := open(t, path, encrypted(k, "wal"))
	mustExec(t, w, `CREATE TABLE s(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, pad BLOB NOT NULL)`)
	mustExec(t, w, fmt.Sprintf(`WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM i WHERE x < %d)
		INSERT INTO s SELECT x, x, randomblob(1100) FROM i`, rows))
	checkpoint(t, w, sqlite3.CHECKPOINT_TRUNCATE)
	return k, path, w
}

// TestReadAheadScan scans an encrypted table on a connection whose
// read-ahead holds pages opened before another connection rewrote every
// row and checkpointed: the scan must see the new rows, never the
// helper's stale plaintext.
func TestReadAheadScan(t *testing.T) {
	const rows = 6000 // ~2000 pages of 4 KiB
	k, path, w := scanTable(t, rows)

	var r *sqlite3.Conn
	sum := func(where string) int64 { return queryInt(t, r, "SELECT sum(n) FROM s "+where) }

	// A partial scan leaves the helper with opened pages past its end.
	// The reader never waits for the helper, so on a loaded machine a
	// scan may finish before the helper is scheduled: try a few.
	served := 0
	for try := 0; served <= 0 && try < raTries; try++ {
		if r != nil {
			closeConn(t, r)
		}
		r = open(t, path, encrypted(k, "wal"))
		if got, want := sum("WHERE id <= 3000"), int64(3000*3001/2); got != want {
			t.Fatalf("first half: sum = %d, want %d", got, want)
		}
		served = sqlitevfs.ReadAheadTaken(r)
	}
	if served <= 0 {
		t.Fatalf("read-ahead served no page of a ~1000-page scan in %d tries", raTries)
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
	for try := 0; sqlitevfs.ReadAheadTaken(r) <= served; try++ {
		if try == raTries {
			t.Fatalf("read-ahead served nothing on %d more scans", raTries)
		}
		sum("")
	}
	checkIntegrity(t, r)
}

// raTries bounds the scans a test repeats until read-ahead serves a page.
const raTries = 20

// TestReadAheadUnderCheckpoints runs range scans on two connections while a
// third rewrites the whole table in each transaction and checkpoints it into
// the database file: every scan must see one snapshot (all its rows of one
// generation). Range scans leave opened pages behind their end, which later
// scans starting there meet before the helper refreshes them; serving them
// without the byte compare shows rows of an older generation.
func TestReadAheadUnderCheckpoints(t *testing.T) {
	const rows, span = 3000, 600
	k, path, w := scanTable(t, rows)

	generations := 60
	if testing.Short() {
		generations = 20
	}
	done := make(chan struct{})
	errs := make(chan error, 2)
	var scanned [2]int
	for i := range 2 {
		r := open(t, path, encrypted(k, "wal"))
		rng := seededRand(t)
		go func() {
			defer func() { errs <- nil }()
			s, _, err := r.Prepare(`SELECT count(*), min(n - id), max(n - id) FROM s WHERE id BETWEEN ? AND ?`)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for {
				select {
				case <-done:
					return
				default:
				}
				lo := 1 + rng.IntN(rows-span)
				s.BindInt(1, lo)
				s.BindInt(2, lo+span-1)
				if !s.Step() {
					errs <- fmt.Errorf("scan: %w", s.Err())
					return
				}
				count, gmin, gmax := s.ColumnInt(0), s.ColumnInt64(1), s.ColumnInt64(2)
				if err := s.Reset(); err != nil {
					errs <- err
					return
				}
				if count != span || gmin != gmax {
					errs <- fmt.Errorf("scan %d of ids %d..%d saw %d rows of generations %d..%d: not one snapshot",
						scanned[i], lo, lo+span-1, count, gmin, gmax)
					return
				}
				scanned[i]++
			}
		}()
	}

	for range generations {
		mustExec(t, w, `UPDATE s SET n = n + 1`)
		// Readers hold snapshots, so a TRUNCATE checkpoint may report
		// SQLITE_BUSY after copying what it could; retry until the WAL is
		// empty, so that the readers' next scans read the database file.
		for try := 0; ; try++ {
			_, _, err := w.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE)
			if err == nil {
				break
			}
			if !errors.Is(err, sqlite3.BUSY) || try == 100 {
				t.Fatalf("checkpoint (try %d): %v", try, err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if scanned[0]+scanned[1] == 0 {
		t.Fatal("no scan completed")
	}
	t.Logf("%d generations, %d + %d scans", generations, scanned[0], scanned[1])
}

// TestSetReadAhead checks that a VFS with read-ahead off opens every page
// itself, and that turning it back on restarts the helper.
func TestSetReadAhead(t *testing.T) {
	k, path, _ := scanTable(t, 3000)

	k.SetReadAhead(false)
	r := open(t, path, encrypted(k, "wal"))
	if n := queryInt(t, r, "SELECT count(*) FROM s WHERE length(pad) = 1100"); n != 3000 {
		t.Fatalf("count = %d, want 3000", n)
	}
	if got := sqlitevfs.ReadAheadTaken(r); got != 0 {
		t.Errorf("read-ahead off: it served %d pages", got)
	}

	k.SetReadAhead(true)
	closeConn(t, r)
	r = open(t, path, encrypted(k, "wal"))
	for try := 0; sqlitevfs.ReadAheadTaken(r) <= 0; try++ {
		if try == raTries {
			t.Fatalf("read-ahead back on: it served no page in %d scans", raTries)
		}
		queryInt(t, r, "SELECT count(*) FROM s WHERE length(pad) = 1100")
	}
}
