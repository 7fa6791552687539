package sqlitevfs_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
)

// scan is what one marker scan saw.
type scan struct {
	phase   string
	hits    []string // "file: count× form"
	scanned []string // files read
	sizes   map[string]int64
}

// markerScenario writes rows carrying marker through o and scans dir and
// tmp at every moment a copy of it could sit in a file: committed (with the
// WAL still present in WAL mode), in the middle of a rewrite that spilled
// to the database (the hot journal in rollback modes), while a temporary
// table, a sort and an index build spill, after VACUUM, and after close.
// temp_store is FILE so SQLite opens its temporary files through the VFS.
func markerScenario(t *testing.T, dir, tmp string, o engine.Options, marker []byte) []scan {
	t.Helper()
	rng := seededRand(t)
	path := filepath.Join(dir, "store.db")
	var scans []scan
	take := func(phase string) {
		hits, scanned := scanDirs(t, marker, dir, tmp)
		sizes := make(map[string]int64)
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				sizes["store.db"+suffix] = fi.Size()
			}
		}
		scans = append(scans, scan{phase: phase, hits: hits, scanned: scanned, sizes: sizes})
	}

	c := open(t, path, o)
	mustExec(t, c, schema)
	mustExec(t, c, "PRAGMA temp_store=FILE")
	wal := o.JournalMode == "wal"
	var reader *sqlite3.Conn
	if wal {
		// No automatic checkpoint, and a second connection keeps the WAL
		// alive when the writer closes.
		if err := c.WALAutoCheckpoint(0); err != nil {
			t.Fatal(err)
		}
		reader = open(t, path, o)
		if got := queryInt(t, reader, "SELECT count(*) FROM t"); got != 0 {
			t.Fatalf("reader sees %d rows, want 0", got)
		}
	}

	// Rows 1..40 are rewritten later, 41..80 keep the marker; two rows span
	// overflow pages.
	insertRows(t, c, genRows(rng, 1, 40, fixed(3000), marker))
	insertRows(t, c, genRows(rng, 41, 40, fixed(3000), marker))
	insertRows(t, c, genRows(rng, 81, 2, fixed(100_000), marker))
	take("committed")

	// A rewrite bigger than the page cache spills dirty pages to the
	// database before commit: the journal then holds the old pages, with
	// the marker, and is hot.
	mustExec(t, c, "PRAGMA cache_size=8")
	mustExec(t, c, "BEGIN IMMEDIATE")
	mustExec(t, c, "UPDATE t SET v = randomblob(length(v)) WHERE id <= 40")
	take("spilled write transaction")
	mustExec(t, c, "COMMIT")
	take("after rewrite")

	// Temporary storage: a temp table bigger than its cache, a sort and an
	// index build bigger than the cache.
	mustExec(t, c, "PRAGMA temp.cache_size=8")
	mustExec(t, c, "CREATE TEMP TABLE tt AS SELECT * FROM t")
	take("temp table")
	stmt, _, err := c.Prepare("SELECT v FROM t ORDER BY substr(v, 7)")
	if err != nil {
		t.Fatal(err)
	}
	if !stmt.Step() {
		t.Fatalf("sort: %v", stmt.Err())
	}
	take("sorting")
	for stmt.Step() {
	}
	if err := stmt.Close(); err != nil {
		t.Fatalf("sort: %v", err)
	}
	mustExec(t, c, "CREATE INDEX t_v ON t(v)")
	mustExec(t, c, "DROP TABLE tt")
	take("index built")
	if !wal {
		mustExec(t, c, "VACUUM")
		take("vacuumed")
	}

	closeConn(t, c)
	if reader != nil {
		take("writer closed, reader open")
		closeConn(t, reader)
	}
	take("closed")
	return scans
}

// TestMarkerScan writes rows carrying a unique marker through the
// encrypting VFS, in WAL and in every rollback journal mode, and scans every
// file the store creates (database, -wal, -shm, -journal, temporary files,
// also unlinked ones) at every stage for the marker, reversed, and in hex:
// it must appear nowhere.
func TestMarkerScan(t *testing.T) {
	for _, mode := range []string{"wal", "delete", "truncate", "persist"} {
		t.Run(mode, func(t *testing.T) {
			dir, tmp := testDir(t), tempDir(t)
			marker := newMarker()
			k := register(t, newKey(t))
			scans := markerScenario(t, dir, tmp, encrypted(k, mode), marker)

			for _, s := range scans {
				for _, h := range s.hits {
					t.Errorf("%s: marker found in %s", s.phase, h)
				}
				for _, f := range s.scanned {
					if strings.Contains(f, tmp) {
						t.Errorf("%s: temporary file %s reached the filesystem", s.phase, f)
					}
				}
			}
			// The scans covered the files that hold the data.
			first := scans[0]
			if first.sizes["store.db"] == 0 && first.sizes["store.db-wal"] == 0 {
				t.Errorf("committed: nothing to scan: %v", first.sizes)
			}
			if mode == "wal" {
				for _, s := range scans {
					if s.phase != "closed" && s.sizes["store.db-wal"] == 0 {
						t.Errorf("%s: -wal missing or empty: %v", s.phase, s.sizes)
					}
				}
			} else if spilled := scans[1]; spilled.sizes["store.db-journal"] == 0 {
				t.Errorf("%s: no hot journal to scan: %v", spilled.phase, spilled.sizes)
			}
		})
	}
}

// TestMarkerScanPlaintext runs the same scenario through go-sqlite3's OS
// VFS ("os", not the store's plaintext VFS, which keeps temporary files in
// memory as the encrypting one does) and checks that each channel the
// encrypted scan watches does find the marker there: the database, the
// -wal, the hot -journal and (on Linux) an unlinked temporary file. It
// proves TestMarkerScan can fail.
func TestMarkerScanPlaintext(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			dir, tmp := testDir(t), tempDir(t)
			marker := newMarker()
			scans := markerScenario(t, dir, tmp, engine.Options{VFS: "os", JournalMode: mode}, marker)

			found := func(phase, where string) bool {
				for _, s := range scans {
					if s.phase != phase {
						continue
					}
					return slices.ContainsFunc(s.hits, func(h string) bool { return strings.Contains(h, where) })
				}
				t.Fatalf("no scan %q", phase)
				return false
			}
			want := []struct{ phase, where string }{
				{"closed", "store.db: "},
				{"temp table", "open fd " + tmp},
			}
			if mode == "wal" {
				want = append(want, struct{ phase, where string }{"writer closed, reader open", "store.db-wal: "})
			} else {
				want = append(want, struct{ phase, where string }{"spilled write transaction", "store.db-journal: "})
			}
			for _, w := range want {
				if w.phase == "temp table" && runtime.GOOS != "linux" {
					continue // unlinked temporary files are only reachable through /proc
				}
				if !found(w.phase, w.where) {
					t.Errorf("%s: plaintext marker not found in %s", w.phase, w.where)
				}
			}
		})
	}
}
