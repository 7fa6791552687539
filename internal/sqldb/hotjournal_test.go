package sqldb

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// TestOpenHotJournal: a database left with a hot rollback journal (a
// process died in the middle of a rollback-journal transaction) opens: the
// journal is played back first, so the database holds its last commit and
// none of the interrupted transaction, and is then checked and migrated as
// usual. A read-only connection cannot play a journal back, so the check
// that precedes every open must not be the one to meet it.
func TestOpenHotJournal(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprintf("encrypted=%v", key != nil), func(t *testing.T) {
			path := tempPath(t)
			o := engine.Options{JournalMode: "delete", Private: true}
			if key != nil {
				k, err := engine.RegisterKey(key)
				if err != nil {
					t.Fatal(err)
				}
				defer k.Close()
				o.VFS, o.Encrypted = k.Name, true
			}
			// A current toy database in rollback-journal mode, 2,000
			// committed items.
			db := openToy(t, path, key)
			db.Close()
			c, err := engine.Open(path, o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Exec(`PRAGMA journal_mode=delete; PRAGMA cache_size=10;
				WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
				INSERT INTO items (id, owner, note) SELECT i, 'committed', hex(randomblob(200)) FROM n`); err != nil {
				t.Fatal(sqlitevfs.ConnError(c, err))
			}
			// An open transaction whose changes spill into the database
			// file (cache of 10 pages), its original pages in the journal.
			if err := c.Exec(`BEGIN; UPDATE items SET owner = 'uncommitted', note = hex(randomblob(300))`); err != nil {
				t.Fatal(sqlitevfs.ConnError(c, err))
			}
			// The files as a crash now would leave them.
			crash := filepath.Join(t.TempDir(), "crash.db")
			for _, suffix := range []string{"", "-journal"} {
				b, err := os.ReadFile(path + suffix)
				if err != nil {
					t.Fatalf("the transaction left no %q file: %v", suffix, err)
				}
				if err := os.WriteFile(crash+suffix, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c.Exec("ROLLBACK")

			db, err = Open(crash, toy, Options{Key: key})
			if err != nil {
				t.Fatalf("open with a hot journal: %v", err)
			}
			defer db.Close()
			if n := countItems(t, db, "owner = 'committed'"); n != 2000 {
				t.Fatalf("%d committed items after the playback, want 2000", n)
			}
			if n := countItems(t, db, "owner != 'committed'"); n != 0 {
				t.Fatalf("%d items of the interrupted transaction survived", n)
			}
			if _, err := os.Stat(crash + "-journal"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("journal still there after the playback: %v", err)
			}
			if err := db.Write(context.Background(), func(tx *Tx) error {
				_, err := addItem(tx, "after")
				return err
			}); err != nil {
				t.Fatalf("write after the playback: %v", err)
			}
		})
	}
}

// TestOpenGarbageJournal: a -journal file that is not a journal (random
// bytes, another program's file) next to a store is removed by SQLite as
// an invalid journal, and the store opens with all of its data.
func TestOpenGarbageJournal(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprintf("encrypted=%v", key != nil), func(t *testing.T) {
			path := tempPath(t)
			db := openToy(t, path, key)
			for range 10 {
				if err := db.Write(context.Background(), func(tx *Tx) error {
					_, err := addItem(tx, "x")
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			for _, n := range []int{512, 4096, 20000} {
				junk := make([]byte, n)
				rand.Read(junk)
				// SQLite treats a journal whose first byte is zero as not
				// hot and leaves it alone (TestOpenZeroLedJournal); any
				// other first byte makes it an invalid hot journal, which
				// is deleted.
				junk[0] |= 1
				if err := os.WriteFile(path+"-journal", junk, 0o600); err != nil {
					t.Fatal(err)
				}
				db, err := Open(path, toy, Options{Key: key})
				if err != nil {
					t.Fatalf("%d random bytes as a journal: %v", n, err)
				}
				if got := countItems(t, db, "owner = 'x'"); got != 10 {
					t.Fatalf("%d items, want 10", got)
				}
				db.Close()
				if _, err := os.Stat(path + "-journal"); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("garbage journal kept: %v", err)
				}
			}
		})
	}
}

// TestOpenZeroLedJournal: junk whose first byte is zero is not a hot
// journal to SQLite; the store opens with all of its data and writes on.
func TestOpenZeroLedJournal(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprintf("encrypted=%v", key != nil), func(t *testing.T) {
			path := tempPath(t)
			db := openToy(t, path, key)
			for range 10 {
				if err := db.Write(context.Background(), func(tx *Tx) error {
					_, err := addItem(tx, "x")
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			junk := make([]byte, 4096)
			rand.Read(junk)
			junk[0] = 0
			if err := os.WriteFile(path+"-journal", junk, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, toy, Options{Key: key})
			if err != nil {
				t.Fatalf("zero-led junk journal: %v", err)
			}
			defer db.Close()
			if err := db.Write(context.Background(), func(tx *Tx) error {
				_, err := addItem(tx, "x")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if got := countItems(t, db, "owner = 'x'"); got != 11 {
				t.Fatalf("%d items, want 11", got)
			}
		})
	}
}

// TestOpenForeignHotJournal: another program's database left with a hot
// journal is refused with ErrNotStore before any connection opens it, so
// neither the database nor its journal is changed (playing the journal
// back is left to that program).
func TestOpenForeignHotJournal(t *testing.T) {
	path := tempPath(t)
	c, err := engine.Open(path, engine.Options{JournalMode: "delete"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec(`PRAGMA application_id=1234; PRAGMA cache_size=10; CREATE TABLE notes (body TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
		INSERT INTO notes SELECT hex(randomblob(200)) FROM n`); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`BEGIN; UPDATE notes SET body = hex(randomblob(300))`); err != nil {
		t.Fatal(err)
	}
	crash := filepath.Join(t.TempDir(), "crash.db")
	for _, suffix := range []string{"", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatalf("the transaction left no %q file: %v", suffix, err)
		}
		if err := os.WriteFile(crash+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.Exec("ROLLBACK")
	db, journal := fileBytes(t, crash), fileBytes(t, crash+"-journal")

	if _, err := Open(crash, toy, Options{}); !errors.Is(err, ErrNotStore) {
		t.Fatalf("Open of another program's database with a hot journal: %v, want ErrNotStore", err)
	}
	if !bytes.Equal(fileBytes(t, crash), db) || !bytes.Equal(fileBytesOK(crash+"-journal"), journal) {
		t.Fatal("the refused database or its journal was changed")
	}
}
