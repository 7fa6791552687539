package sqlitevfs_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/sqlitevfs"
)

// TestJournalSpill is the regression test for journal records written
// before SQLite syncs the journal header: with synchronous on, SQLite writes
// the header's magic only at sync time, after the records (which a cache
// spill forces mid-transaction). Those records must be sealed like every
// other, so that (1) the journal holds no plaintext, (2) ROLLBACK restores
// the data, and (3) a crash with that hot journal recovers.
func TestJournalSpill(t *testing.T) {
	for _, sync := range []string{"full", "normal"} {
		t.Run(sync, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spill.db")
			k := register(t, newKey(t))
			opts := encrypted(k, "delete")
			opts.Synchronous = sync
			c := open(t, path, opts)
			hexMarker := hex.EncodeToString(newKey(t)[:12])
			exec := func(sql string) {
				t.Helper()
				if err := c.Exec(sql); err != nil {
					t.Fatalf("%s: %v", sql, sqlitevfs.ConnError(c, err))
				}
			}
			exec("PRAGMA cache_size=5")
			exec("CREATE TABLE t (i INTEGER PRIMARY KEY, v TEXT)")
			exec("INSERT INTO t SELECT value, '" + hexMarker + "' || printf('%.500c', 'o') FROM generate_series(1, 400)")
			sum := func(c *sqlite3.Conn) string {
				t.Helper()
				st, _, err := c.Prepare("SELECT count(*) || ':' || sum(length(v)) || ':' || sum(v LIKE '" + hexMarker + "%') FROM t")
				if err != nil {
					t.Fatal(sqlitevfs.ConnError(c, err))
				}
				defer st.Close()
				if !st.Step() {
					t.Fatal(sqlitevfs.ConnError(c, st.Err()))
				}
				return st.ColumnText(0)
			}
			want := sum(c)

			exec("BEGIN")
			exec("UPDATE t SET v = 'changed'") // spills: records hit the journal mid-transaction
			journal, err := os.ReadFile(path + "-journal")
			if err != nil {
				t.Fatalf("no journal during the transaction: %v", err)
			}
			if bytes.Contains(journal, []byte(hexMarker)) {
				t.Fatal("the rollback journal holds plaintext")
			}
			// A crash now leaves this database and hot journal behind.
			crash := filepath.Join(t.TempDir(), "spill.db")
			for _, suffix := range []string{"", "-journal"} {
				b, err := os.ReadFile(path + suffix)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(crash+suffix, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			exec("ROLLBACK")
			if got := sum(c); got != want {
				t.Fatalf("after ROLLBACK: %s, want %s", got, want)
			}

			cc := open(t, crash, opts)
			if got := sum(cc); got != want {
				t.Fatalf("after hot-journal recovery: %s, want %s", got, want)
			}
		})
	}
}

// TestHotJournalTornRecord: a crash in the middle of writing a journal
// record can leave its page number new and its image stale (SQLite writes
// the two separately and, without a sync, does not count the records).
// Playing such a hot journal back must end at that record, as SQLite does
// for a torn record, and open the database with its committed rows, never
// fail: a killed process must not make the store unopenable.
func TestHotJournalTornRecord(t *testing.T) {
	rng := seededRand(t)
	key := newKey(t)
	k := register(t, key)
	dir, snap := testDir(t), testDir(t)
	path := filepath.Join(dir, "h.db")
	o := encrypted(k, "delete")
	o.Synchronous = "off" // no record count in the header: checksums end the playback
	c := open(t, path, o)
	mustExec(t, c, schema)
	rows := genRows(rng, 1, 40, fixed(1500), nil)
	insertRows(t, c, rows)
	// A write transaction in progress, its journal on disk.
	mustExec(t, c, "PRAGMA cache_size=5")
	mustExec(t, c, "BEGIN IMMEDIATE")
	mustExec(t, c, "UPDATE t SET v = randomblob(length(v))")
	copyFiles(t, dir, snap, "h.db", "h.db-journal")
	mustExec(t, c, "ROLLBACK")

	cph, err := pagecrypt.New(key)
	if err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(snap, "h.db-journal")
	j := readFile(t, jpath)
	hdrs, recs := parseJournal(t, cph, j)
	if len(hdrs) == 0 || len(recs) < 2 {
		t.Fatalf("journal with %d headers and %d records", len(hdrs), len(recs))
	}
	if hdrs[0].nRec != 0xffffffff {
		t.Fatalf("record count %#x, want 0xffffffff (synchronous=off)", hdrs[0].nRec)
	}
	// The last record's image, stale: sealed for another page.
	last := recs[len(recs)-1]
	first := recs[0]
	size := int(hdrs[0].pageSize)
	copy(j[last.off+4:last.off+4+size], j[first.off+4:first.off+4+size])
	writeFile(t, jpath, j)

	got, err := readAll(filepath.Join(snap, "h.db"), trialOptions(register(t, key), "delete"))
	if err != nil {
		t.Fatalf("hot journal with a torn last record: %v", err)
	}
	if err := checkSubset(got, rows); err != nil {
		t.Error(err)
	}
}
