package sqlitevfs_test

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

var journalModes = []string{"wal", "delete", "truncate", "persist"}

// checkOnDisk checks the raw database file: this package's magic instead
// of SQLite's, the page size and reserved bytes in the plaintext prefix,
// whole pages only.
func checkOnDisk(t testing.TB, path string, pageSize int) {
	t.Helper()
	raw := readFile(t, path)
	if len(raw) == 0 || len(raw)%pageSize != 0 {
		t.Fatalf("%s: size %d is not a positive multiple of the page size %d", filepath.Base(path), len(raw), pageSize)
	}
	if got, want := string(raw[:8]), "gfstore\x01"; got != want {
		t.Errorf("magic = %q, want %q", got, want)
	}
	if strings.Contains(string(raw), "SQLite format 3") {
		t.Errorf("raw file contains SQLite's plaintext magic")
	}
	size := int(binary.BigEndian.Uint16(raw[16:18]))
	if size == 1 {
		size = 65536
	}
	if size != pageSize {
		t.Errorf("header page size = %d, want %d", size, pageSize)
	}
	if got := raw[20]; got != sqlitevfs.ReserveBytes {
		t.Errorf("header reserved bytes = %d, want %d", got, sqlitevfs.ReserveBytes)
	}
}

// TestRoundTrip writes rows, small and spanning overflow pages, through
// every page size and journal mode, updates and deletes some, closes, and
// reopens through a fresh VFS with the same key: every row comes back byte
// for byte, integrity_check is ok, the page size and journal mode stick.
func TestRoundTrip(t *testing.T) {
	for _, size := range []int{512, 1024, 4096, 65536} {
		for _, mode := range journalModes {
			t.Run(fmt.Sprintf("%d/%s", size, mode), func(t *testing.T) {
				rng := seededRand(t)
				key := newKey(t)
				path := filepath.Join(testDir(t), "rt.db")
				o := encrypted(register(t, key), mode)
				o.PageSize = size

				c := open(t, path, o)
				mustExec(t, c, schema)
				var want []row
				for _, batch := range [][]row{
					genRows(rng, 1, 30, func(i int) int { return 1 + i*7 }, nil),
					genRows(rng, 31, 5, fixed(5000), nil),
					genRows(rng, 36, 2, fixed(200_000), nil),
				} {
					insertRows(t, c, batch)
					want = append(want, batch...)
				}
				// Rewrite an overflow chain and free some pages.
				big := genRows(rng, 2, 1, fixed(150_000), nil)[0]
				stmt, _, err := c.Prepare(`UPDATE t SET v = ? WHERE id = 2`)
				if err != nil {
					t.Fatal(err)
				}
				stmt.BindBlob(1, big.v)
				if err := stmt.Exec(); err != nil {
					t.Fatal(err)
				}
				stmt.Close()
				want[1] = big
				mustExec(t, c, "DELETE FROM t WHERE id IN (3, 37)")
				want = append(want[:2], want[3:]...) // id 3
				want = want[:len(want)-1]            // id 37
				checkRows(t, mustReadRows(t, c), want)
				if got := queryInt(t, c, "PRAGMA page_size"); got != int64(size) {
					t.Fatalf("page_size = %d, want %d", got, size)
				}
				closeConn(t, c)
				if mode == "wal" || mode == "delete" {
					for _, suffix := range []string{"-wal", "-journal"} {
						if _, err := os.Stat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
							t.Errorf("%s left after close: %v", suffix, err)
						}
					}
				}
				checkOnDisk(t, path, size)

				c = open(t, path, encrypted(register(t, key), mode))
				checkRows(t, mustReadRows(t, c), want)
				checkIntegrity(t, c)
				if got := queryInt(t, c, "PRAGMA page_size"); got != int64(size) {
					t.Errorf("page_size after reopen = %d, want %d", got, size)
				}
				if got, err := queryString(c, "PRAGMA journal_mode"); err != nil || got != mode {
					t.Errorf("journal_mode = %q, %v; want %q", got, err, mode)
				}
				if got := queryInt(t, c, "PRAGMA freelist_count"); got == 0 {
					t.Errorf("freelist_count = 0: the update and deletes freed no page")
				}
			})
		}
	}
}

// TestLargeDatabase round trips a database of more than 20 MiB.
func TestLargeDatabase(t *testing.T) {
	rng := seededRand(t)
	key := newKey(t)
	path := filepath.Join(testDir(t), "large.db")
	c := open(t, path, encrypted(register(t, key), "wal"))
	mustExec(t, c, schema)
	var want []row
	for i := range 3 {
		batch := genRows(rng, int64(1+i*8), 8, fixed(1<<20), nil)
		batch = append(batch, genRows(rng, int64(1000+i*100), 100, fixed(300), nil)...)
		insertRows(t, c, batch)
		want = append(want, batch...)
	}
	closeConn(t, c)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 20<<20 {
		t.Fatalf("database is %d bytes, want at least 20 MiB", fi.Size())
	}
	checkOnDisk(t, path, 4096)

	c = open(t, path, encrypted(register(t, key), "wal"))
	got := mustReadRows(t, c)
	byID := make(map[int64][]byte, len(got))
	for _, r := range got {
		byID[r.id] = r.v
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for _, r := range want {
		if string(byID[r.id]) != string(r.v) {
			t.Fatalf("row %d differs", r.id)
		}
	}
	checkIntegrity(t, c)
}

// TestRollbackAfterSpill rolls back a write transaction bigger than the
// page cache, whose dirty pages already reached the database file: the
// journal is played back and the old rows come back intact.
func TestRollbackAfterSpill(t *testing.T) {
	for _, mode := range journalModes {
		t.Run(mode, func(t *testing.T) {
			rng := seededRand(t)
			k := register(t, newKey(t))
			path := filepath.Join(testDir(t), "rb.db")
			c := open(t, path, encrypted(k, mode))
			mustExec(t, c, schema)
			want := genRows(rng, 1, 60, fixed(2000), nil)
			insertRows(t, c, want)

			mustExec(t, c, "PRAGMA cache_size=8")
			mustExec(t, c, "BEGIN IMMEDIATE")
			mustExec(t, c, "UPDATE t SET v = randomblob(length(v))")
			if err := c.Exec("ROLLBACK"); err != nil {
				t.Fatalf("ROLLBACK: %v", err)
			}
			got, err := readRows(c)
			if err != nil {
				t.Fatalf("read after rollback: %v", err)
			}
			checkRows(t, got, want)
			checkIntegrity(t, c)
			closeConn(t, c)

			c = open(t, path, encrypted(k, mode))
			checkRows(t, mustReadRows(t, c), want)
			checkIntegrity(t, c)
		})
	}
}

// TestHotJournalRecovery copies a database and its hot journal in the
// middle of a write transaction that spilled (as a crash would leave them)
// and opens the copy: SQLite plays the journal back through the VFS and
// the committed rows come back.
func TestHotJournalRecovery(t *testing.T) {
	for _, mode := range []string{"delete", "truncate", "persist"} {
		t.Run(mode, func(t *testing.T) {
			rng := seededRand(t)
			key := newKey(t)
			k := register(t, key)
			dir, crash := testDir(t), testDir(t)
			path := filepath.Join(dir, "hot.db")
			c := open(t, path, encrypted(k, mode))
			mustExec(t, c, schema)
			want := genRows(rng, 1, 60, fixed(2000), nil)
			insertRows(t, c, want)

			mustExec(t, c, "PRAGMA cache_size=8")
			mustExec(t, c, "BEGIN IMMEDIATE")
			mustExec(t, c, "UPDATE t SET v = randomblob(length(v))")
			if fi, err := os.Stat(path + "-journal"); err != nil || fi.Size() == 0 {
				t.Fatalf("no hot journal: %v", err)
			}
			copyFiles(t, dir, crash, "hot.db", "hot.db-journal")
			mustExec(t, c, "ROLLBACK")
			closeConn(t, c)

			k2 := register(t, key)
			c, err := engine.Open(filepath.Join(crash, "hot.db"), encrypted(k2, mode))
			if err != nil {
				t.Fatalf("open after crash: %v", err)
			}
			defer c.Close()
			got, err := readRows(c)
			if err != nil {
				t.Fatalf("read after hot journal playback: %v", err)
			}
			checkRows(t, got, want)
			checkIntegrity(t, c)
		})
	}
}

// TestPageSizeFixed: once a database exists its page size cannot change,
// not even by PRAGMA page_size + VACUUM, which would orphan every page.
func TestPageSizeFixed(t *testing.T) {
	rng := seededRand(t)
	k := register(t, newKey(t))
	path := filepath.Join(testDir(t), "ps.db")
	c := open(t, path, encrypted(k, "delete"))
	mustExec(t, c, schema)
	want := genRows(rng, 1, 20, fixed(1000), nil)
	insertRows(t, c, want)
	mustExec(t, c, "PRAGMA page_size=8192")
	mustExec(t, c, "VACUUM")
	if got := queryInt(t, c, "PRAGMA page_size"); got != 4096 {
		t.Errorf("page_size = %d, want 4096", got)
	}
	checkRows(t, mustReadRows(t, c), want)
	closeConn(t, c)
	checkOnDisk(t, path, 4096)
	c = open(t, path, encrypted(k, "delete"))
	checkRows(t, mustReadRows(t, c), want)
	checkIntegrity(t, c)
}

// TestVacuum vacuums in place, in WAL and rollback mode: the file stays
// encrypted (marker scan clean), shrinks, and the rows survive.
func TestVacuum(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			rng := seededRand(t)
			dir, tmp := testDir(t), tempDir(t)
			marker := newMarker()
			k := register(t, newKey(t))
			path := filepath.Join(dir, "v.db")
			c := open(t, path, encrypted(k, mode))
			mustExec(t, c, "PRAGMA temp_store=FILE")
			mustExec(t, c, schema)
			want := genRows(rng, 1, 40, fixed(4000), marker)
			insertRows(t, c, want)
			insertRows(t, c, genRows(rng, 100, 40, fixed(4000), marker))
			mustExec(t, c, "DELETE FROM t WHERE id >= 100")
			checkpoint(t, c, sqlite3.CHECKPOINT_TRUNCATE)
			before := queryInt(t, c, "PRAGMA page_count")
			mustExec(t, c, "VACUUM")
			after := queryInt(t, c, "PRAGMA page_count")
			if after >= before {
				t.Errorf("page_count %d after VACUUM, %d before: nothing reclaimed", after, before)
			}
			if got := queryInt(t, c, "PRAGMA freelist_count"); got != 0 {
				t.Errorf("freelist_count after VACUUM = %d", got)
			}
			checkRows(t, mustReadRows(t, c), want)
			closeConn(t, c)
			checkOnDisk(t, path, 4096)
			if hits, _ := scanDirs(t, marker, dir, tmp); len(hits) > 0 {
				t.Errorf("marker found after VACUUM: %v", hits)
			}
			c = open(t, path, encrypted(k, mode))
			checkRows(t, mustReadRows(t, c), want)
			checkIntegrity(t, c)
		})
	}
}

// TestVacuumInto copies an encrypted database into a new encrypted file
// with VACUUM INTO on the same keyed VFS, and on another key's VFS (a
// re-key): each copy opens only with its key, holds the rows, and is
// encrypted.
func TestVacuumInto(t *testing.T) {
	rng := seededRand(t)
	dir, tmp := testDir(t), tempDir(t)
	marker := newMarker()
	keyA, keyB := newKey(t), newKey(t)
	kA, kB := register(t, keyA), register(t, keyB)
	src := filepath.Join(dir, "src.db")
	c := open(t, src, encrypted(kA, "wal"))
	mustExec(t, c, schema)
	want := genRows(rng, 1, 30, fixed(3000), marker)
	want = append(want, genRows(rng, 31, 1, fixed(100_000), marker)...)
	insertRows(t, c, want)

	for _, tc := range []struct {
		name  string
		via   *engine.Keyed
		other *engine.Keyed
	}{
		{"same key", kA, kB},
		{"new key", kB, kA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".db")
			if err := sqlitevfs.SetReserve(c, "main"); err != nil {
				t.Fatal(err)
			}
			stmt, _, err := c.Prepare("VACUUM INTO ?")
			if err != nil {
				t.Fatal(err)
			}
			stmt.BindText(1, engine.URI(dst, tc.via.Name))
			if err := stmt.Exec(); err != nil {
				t.Fatalf("VACUUM INTO: %v", err)
			}
			stmt.Close()
			checkOnDisk(t, dst, 4096)

			d := open(t, dst, encrypted(tc.via, "wal"))
			checkRows(t, mustReadRows(t, d), want)
			checkIntegrity(t, d)
			closeConn(t, d)

			_, err = engine.Open(dst, encrypted(tc.other, "wal"))
			if !errors.Is(err, sqlitevfs.ErrWrongKey) {
				t.Errorf("open copy with the other key: %v, want ErrWrongKey", err)
			}
		})
	}
	checkRows(t, mustReadRows(t, c), want)
	closeConn(t, c)
	if hits, scanned := scanDirs(t, marker, dir, tmp); len(hits) > 0 {
		t.Errorf("marker found: %v (scanned %v)", hits, scanned)
	}
}

// TestCheckpoints runs every checkpoint mode, through the API and through
// PRAGMA wal_checkpoint, with a second connection reading: all frames move
// to the database, TRUNCATE empties the -wal, rows stay intact and nothing
// is written in plaintext.
func TestCheckpoints(t *testing.T) {
	rng := seededRand(t)
	dir, tmp := testDir(t), tempDir(t)
	marker := newMarker()
	k := register(t, newKey(t))
	path := filepath.Join(dir, "ck.db")
	c := open(t, path, encrypted(k, "wal"))
	mustExec(t, c, schema)
	if err := c.WALAutoCheckpoint(0); err != nil {
		t.Fatal(err)
	}
	r := open(t, path, encrypted(k, "wal"))

	var want []row
	modes := []struct {
		name string
		mode sqlite3.CheckpointMode
	}{
		{"PASSIVE", sqlite3.CHECKPOINT_PASSIVE},
		{"FULL", sqlite3.CHECKPOINT_FULL},
		{"RESTART", sqlite3.CHECKPOINT_RESTART},
		{"TRUNCATE", sqlite3.CHECKPOINT_TRUNCATE},
	}
	for i, m := range modes {
		for _, viaPragma := range []bool{false, true} {
			batch := genRows(rng, int64(len(want)+1), 20, fixed(3000), marker)
			insertRows(t, c, batch)
			want = append(want, batch...)
			var nLog, nCkpt int64
			if viaPragma {
				stmt, _, err := c.Prepare("PRAGMA wal_checkpoint(" + m.name + ")")
				if err != nil {
					t.Fatal(err)
				}
				if !stmt.Step() {
					t.Fatalf("wal_checkpoint(%s): %v", m.name, stmt.Err())
				}
				if busy := stmt.ColumnInt(0); busy != 0 {
					t.Errorf("wal_checkpoint(%s): busy", m.name)
				}
				nLog, nCkpt = stmt.ColumnInt64(1), stmt.ColumnInt64(2)
				stmt.Close()
			} else {
				l, ck, err := c.WALCheckpoint("main", m.mode)
				if err != nil {
					t.Fatalf("WALCheckpoint(%s): %v", m.name, err)
				}
				nLog, nCkpt = int64(l), int64(ck)
			}
			if nLog != nCkpt {
				t.Errorf("%s (pragma %v): %d of %d frames checkpointed", m.name, viaPragma, nCkpt, nLog)
			}
			fi, err := os.Stat(path + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			if m.mode == sqlite3.CHECKPOINT_TRUNCATE && fi.Size() != 0 {
				t.Errorf("TRUNCATE left a %d-byte WAL", fi.Size())
			}
			checkRows(t, mustReadRows(t, r), want)
			if hits, _ := scanDirs(t, marker, dir, tmp); len(hits) > 0 {
				t.Fatalf("after %s checkpoint %d: marker found: %v", m.name, i, hits)
			}
		}
	}
	checkIntegrity(t, r)
	closeConn(t, r)
	closeConn(t, c)
	c = open(t, path, encrypted(k, "wal"))
	checkRows(t, mustReadRows(t, c), want)
	checkIntegrity(t, c)
}

// TestJournalModeSwitch switches wal → delete → wal with data in between:
// the header's file format bytes follow, the -wal goes away in rollback
// mode, and rows survive every switch and a reopen.
func TestJournalModeSwitch(t *testing.T) {
	rng := seededRand(t)
	dir, tmp := testDir(t), tempDir(t)
	marker := newMarker()
	k := register(t, newKey(t))
	path := filepath.Join(dir, "sw.db")
	c := open(t, path, encrypted(k, "wal"))
	mustExec(t, c, schema)
	var want []row
	for i, mode := range []string{"wal", "delete", "wal", "delete", "wal"} {
		if got, err := queryString(c, "PRAGMA journal_mode="+mode); err != nil || got != mode {
			t.Fatalf("journal_mode=%s: %q, %v", mode, got, err)
		}
		batch := genRows(rng, int64(len(want)+1), 10, fixed(5000), marker)
		insertRows(t, c, batch)
		want = append(want, batch...)
		checkRows(t, mustReadRows(t, c), want)

		raw := readFile(t, path)
		ver := byte(1)
		if mode == "wal" {
			ver = 2
		}
		if raw[18] != ver || raw[19] != ver {
			t.Errorf("step %d (%s): file format bytes = %d,%d, want %d", i, mode, raw[18], raw[19], ver)
		}
		_, err := os.Stat(path + "-wal")
		if mode == "delete" && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("step %d: -wal present in delete mode: %v", i, err)
		}
	}
	closeConn(t, c)
	if hits, _ := scanDirs(t, marker, dir, tmp); len(hits) > 0 {
		t.Errorf("marker found: %v", hits)
	}
	c = open(t, path, encrypted(k, "wal"))
	checkRows(t, mustReadRows(t, c), want)
	checkIntegrity(t, c)
}

// TestFileControls checks that optional file interfaces of the OS file
// reach SQLite through the encrypting files.
func TestFileControls(t *testing.T) {
	t.Run("persist WAL", func(t *testing.T) {
		rng := seededRand(t)
		k := register(t, newKey(t))
		path := filepath.Join(testDir(t), "pw.db")
		c := open(t, path, encrypted(k, "wal"))
		mustExec(t, c, schema)
		if got, err := c.FileControl("main", sqlite3.FCNTL_PERSIST_WAL); err != nil || got != false {
			t.Fatalf("FCNTL_PERSIST_WAL = %v, %v; want false, nil", got, err)
		}
		if _, err := c.FileControl("main", sqlite3.FCNTL_PERSIST_WAL, true); err != nil {
			t.Fatalf("set FCNTL_PERSIST_WAL: %v", err)
		}
		if got, err := c.FileControl("main", sqlite3.FCNTL_PERSIST_WAL); err != nil || got != true {
			t.Fatalf("FCNTL_PERSIST_WAL after set = %v, %v; want true, nil", got, err)
		}
		want := genRows(rng, 1, 10, fixed(2000), nil)
		insertRows(t, c, want)
		closeConn(t, c)
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Errorf("-wal not persisted after close: %v", err)
		}
		c = open(t, path, encrypted(k, "wal"))
		checkRows(t, mustReadRows(t, c), want)
		checkIntegrity(t, c)
	})

	t.Run("powersafe overwrite", func(t *testing.T) {
		k := register(t, newKey(t))
		c := open(t, filepath.Join(testDir(t), "psow.db"), encrypted(k, "wal"))
		mustExec(t, c, schema)
		if got, err := c.FileControl("main", sqlite3.FCNTL_POWERSAFE_OVERWRITE); err != nil || got != true {
			t.Errorf("FCNTL_POWERSAFE_OVERWRITE = %v, %v; want true (the OS file's default)", got, err)
		}
		if _, err := c.FileControl("main", sqlite3.FCNTL_POWERSAFE_OVERWRITE, false); err != nil {
			t.Fatal(err)
		}
		if got, err := c.FileControl("main", sqlite3.FCNTL_POWERSAFE_OVERWRITE); err != nil || got != false {
			t.Errorf("FCNTL_POWERSAFE_OVERWRITE after clear = %v, %v; want false", got, err)
		}
	})

	t.Run("lock state", func(t *testing.T) {
		k := register(t, newKey(t))
		c := open(t, filepath.Join(testDir(t), "lk.db"), encrypted(k, "delete"))
		mustExec(t, c, schema)
		lock := func() any {
			t.Helper()
			got, err := c.FileControl("main", sqlite3.FCNTL_LOCKSTATE)
			if err != nil {
				t.Fatalf("FCNTL_LOCKSTATE: %v", err)
			}
			return got
		}
		if got := lock(); got != vfs.LOCK_NONE {
			t.Errorf("idle: lock state %v, want LOCK_NONE", got)
		}
		mustExec(t, c, "BEGIN; SELECT count(*) FROM t")
		if got := lock(); got != vfs.LOCK_SHARED {
			t.Errorf("read transaction: lock state %v, want LOCK_SHARED", got)
		}
		mustExec(t, c, "COMMIT; BEGIN EXCLUSIVE")
		if got := lock(); got != vfs.LOCK_EXCLUSIVE {
			t.Errorf("exclusive transaction: lock state %v, want LOCK_EXCLUSIVE", got)
		}
		mustExec(t, c, "COMMIT")
	})

	t.Run("vfs name", func(t *testing.T) {
		k := register(t, newKey(t))
		c := open(t, filepath.Join(testDir(t), "n.db"), encrypted(k, "wal"))
		if got, err := c.FileControl("main", sqlite3.FCNTL_VFSNAME); err != nil || got != k.Name {
			t.Errorf("FCNTL_VFSNAME = %v, %v; want %q", got, err, k.Name)
		}
	})

	t.Run("has moved", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("open files cannot be deleted on Windows")
		}
		k := register(t, newKey(t))
		path := filepath.Join(testDir(t), "mv.db")
		c := open(t, path, encrypted(k, "delete"))
		mustExec(t, c, schema)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		err := c.Exec("INSERT INTO t VALUES(1, x'00')")
		if !errors.Is(err, sqlite3.READONLY_DBMOVED) {
			t.Errorf("write after the file was unlinked: %v, want READONLY_DBMOVED", err)
		}
	})
}

// TestConcurrentReaders runs one writer, three readers on separate
// connections and an opener that keeps opening fresh connections (whose
// first, unlocked read of page 1 races with the writer), in WAL mode (shared
// memory forwarded) and in rollback mode: no errors, and every reader always
// sees a consistent, non-decreasing committed state.
func TestConcurrentReaders(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) { concurrentReaders(t, mode) })
	}
}

func concurrentReaders(t *testing.T, mode string) {
	rng := seededRand(t)
	k := register(t, newKey(t))
	path := filepath.Join(testDir(t), "cc.db")
	w := open(t, path, encrypted(k, mode))
	mustExec(t, w, schema)
	mustExec(t, w, "CREATE TABLE n(k INTEGER PRIMARY KEY, count INTEGER NOT NULL); INSERT INTO n VALUES(0, 0)")
	readers := make([]*sqlite3.Conn, 3)
	for i := range readers {
		readers[i] = open(t, path, encrypted(k, mode))
	}
	// Several connections in WAL mode need the -shm forwarded; without it
	// SQLite would stay in rollback mode.
	for i, c := range append([]*sqlite3.Conn{w}, readers...) {
		if got, err := queryString(c, "PRAGMA journal_mode"); err != nil || got != mode {
			t.Fatalf("connection %d: journal_mode = %q, %v; want %s", i, got, err, mode)
		}
	}
	if _, err := os.Stat(path + "-shm"); mode == "wal" && err != nil {
		t.Fatalf("no -shm: %v", err)
	}

	d := 1500 * time.Millisecond
	if testing.Short() {
		d = 500 * time.Millisecond
	}
	deadline := time.Now().Add(d)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		commits atomic.Int64
		reads   atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	payload := genRows(rng, 0, 1, fixed(700), nil)[0].v
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := int64(1); time.Now().Before(deadline); {
			err := func() error {
				if err := w.Exec("BEGIN IMMEDIATE"); err != nil {
					return err
				}
				stmt, _, err := w.Prepare("INSERT INTO t VALUES(?, ?)")
				if err != nil {
					return err
				}
				defer stmt.Close()
				for range 10 {
					stmt.BindInt64(1, id)
					stmt.BindBlob(2, payload)
					if err := stmt.Exec(); err != nil {
						return err
					}
					id++
				}
				if err := w.Exec("UPDATE n SET count = count + 10"); err != nil {
					return err
				}
				return w.Exec("COMMIT")
			}()
			if err != nil {
				fail(fmt.Errorf("writer: %w", err))
				w.Exec("ROLLBACK")
				return
			}
			commits.Add(1)
		}
	}()
	// Reader len(readers) is the opener: a fresh connection every time.
	for i := range len(readers) + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for time.Now().Before(deadline) {
				rows, count, err := func() (int64, int64, error) {
					r := (*sqlite3.Conn)(nil)
					if i < len(readers) {
						r = readers[i]
					} else {
						c, err := engine.Open(path, encrypted(k, mode))
						if err != nil {
							return 0, 0, fmt.Errorf("open: %w", err)
						}
						defer c.Close()
						r = c
					}
					if err := r.Exec("BEGIN"); err != nil {
						return 0, 0, err
					}
					defer r.Exec("COMMIT")
					stmt, _, err := r.Prepare("SELECT (SELECT count(*) FROM t), (SELECT count FROM n), (SELECT sum(length(v)) FROM t)")
					if err != nil {
						return 0, 0, err
					}
					defer stmt.Close()
					if !stmt.Step() {
						return 0, 0, fmt.Errorf("no row: %w", stmt.Err())
					}
					rows, count, size := stmt.ColumnInt64(0), stmt.ColumnInt64(1), stmt.ColumnInt64(2)
					if size != rows*int64(len(payload)) {
						return 0, 0, fmt.Errorf("%d rows hold %d bytes", rows, size)
					}
					return rows, count, stmt.Close()
				}()
				if err != nil {
					fail(fmt.Errorf("reader %d: %w", i, err))
					return
				}
				if rows != count || rows%10 != 0 || rows < last {
					fail(fmt.Errorf("reader %d: %d rows, counter %d, previously %d", i, rows, count, last))
					return
				}
				last = rows
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	t.Logf("%d commits, %d consistent reads", commits.Load(), reads.Load())
	if commits.Load() < 2 || reads.Load() < 2 {
		t.Errorf("no concurrency: %d commits, %d reads", commits.Load(), reads.Load())
	}
	checkIntegrity(t, w)
}

// TestURIKey uses the stable-name VFS with the key in the URI: a round
// trip, the same file through a VFS keyed directly, and bad, missing and
// wrong hexkeys, which fail without leaking the key or touching the file.
func TestURIKey(t *testing.T) {
	sqlitevfs.Register()
	sqlitevfs.Register() // idempotent
	_, ok := vfs.Find(sqlitevfs.Name).(*sqlitevfs.VFS)
	if !ok {
		t.Fatalf("vfs.Find(%q) = %T, want *sqlitevfs.VFS", sqlitevfs.Name, vfs.Find(sqlitevfs.Name))
	}
	rng := seededRand(t)
	key := newKey(t)
	hexkey := hex.EncodeToString(key)
	dir := testDir(t)
	path := filepath.Join(dir, "uri.db")
	uri := func(query string) string { return engine.URI(path, sqlitevfs.Name) + query }

	c, err := sqlite3.Open(uri("&hexkey=" + hexkey))
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitevfs.SetReserve(c, "main"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "PRAGMA journal_mode=wal")
	mustExec(t, c, schema)
	want := genRows(rng, 1, 20, fixed(3000), nil)
	insertRows(t, c, want)
	closeConn(t, c)
	checkOnDisk(t, path, 4096)

	c, err = sqlite3.Open(uri("&hexkey=" + strings.ToUpper(hexkey)))
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, mustReadRows(t, c), want)
	checkIntegrity(t, c)
	closeConn(t, c)

	// The same format as a VFS keyed directly.
	c = open(t, path, encrypted(register(t, key), "wal"))
	checkRows(t, mustReadRows(t, c), want)
	closeConn(t, c)

	before := snapshot(t, dir)
	other := hex.EncodeToString(newKey(t))
	for _, tc := range []struct {
		name, query string
		want        error
	}{
		{"missing", "", sqlite3.IOERR_BADKEY},
		{"empty", "&hexkey=", sqlite3.IOERR_BADKEY},
		{"short", "&hexkey=" + hexkey[:62], sqlite3.IOERR_BADKEY},
		{"long", "&hexkey=" + hexkey + "00", sqlite3.IOERR_BADKEY},
		{"not hex", "&hexkey=" + strings.Repeat("zz", 32), sqlite3.IOERR_BADKEY},
		{"wrong", "&hexkey=" + other, sqlitevfs.ErrWrongKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sqlite3.Open(uri(tc.query))
			if err == nil {
				err = c.Exec("SELECT count(*) FROM t")
				c.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("open: %v, want %v", err, tc.want)
			}
			if !errors.Is(err, sqlite3.IOERR_BADKEY) {
				t.Errorf("open: %v, want IOERR_BADKEY", err)
			}
			for _, s := range []string{fmt.Sprint(err)} {
				if strings.Contains(strings.ToLower(s), hexkey) || strings.Contains(s, other) {
					t.Errorf("error reveals a key: %s", s)
				}
			}
		})
	}
	checkUnchanged(t, dir, before)
}

// TestAttach attaches a second encrypted database on the same VFS and
// commits and rolls back transactions spanning both in rollback mode, which
// go through a super-journal and journals that point to it: both databases
// keep exactly the committed rows.
func TestAttach(t *testing.T) {
	rng := seededRand(t)
	k := register(t, newKey(t))
	dir := testDir(t)
	pathA, pathB := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	c := open(t, pathA, encrypted(k, "delete"))
	mustExec(t, c, schema)
	stmt, _, err := c.Prepare("ATTACH ? AS aux")
	if err != nil {
		t.Fatal(err)
	}
	stmt.BindText(1, engine.URI(pathB, k.Name))
	if err := stmt.Exec(); err != nil {
		t.Fatal(err)
	}
	stmt.Close()
	if err := sqlitevfs.SetReserve(c, "aux"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "CREATE TABLE aux.t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)")

	wantA := genRows(rng, 1, 20, fixed(1500), nil)
	insertRows(t, c, wantA)
	mustExec(t, c, "INSERT INTO aux.t SELECT * FROM main.t")
	wantB := slices.Clone(wantA)

	// One transaction over both: a super-journal commit.
	more := genRows(rng, 21, 10, fixed(1500), nil)
	mustExec(t, c, "BEGIN IMMEDIATE")
	for _, r := range more {
		for _, db := range []string{"main", "aux"} {
			stmt, _, err := c.Prepare("INSERT INTO " + db + ".t VALUES(?, ?)")
			if err != nil {
				t.Fatal(err)
			}
			stmt.BindInt64(1, r.id)
			stmt.BindBlob(2, r.v)
			if err := stmt.Exec(); err != nil {
				t.Fatal(err)
			}
			stmt.Close()
		}
	}
	mustExec(t, c, "COMMIT")
	wantA, wantB = append(wantA, more...), append(wantB, more...)

	mustExec(t, c, "BEGIN IMMEDIATE; DELETE FROM main.t WHERE id < 5; UPDATE aux.t SET v = x'00'; ROLLBACK")
	closeConn(t, c)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "-mj") || strings.HasSuffix(e.Name(), "-journal") {
			t.Errorf("%s left behind", e.Name())
		}
	}

	for _, tc := range []struct {
		path string
		want []row
	}{{pathA, wantA}, {pathB, wantB}} {
		checkOnDisk(t, tc.path, 4096)
		c := open(t, tc.path, encrypted(k, "delete"))
		checkRows(t, mustReadRows(t, c), tc.want)
		checkIntegrity(t, c)
		closeConn(t, c)
	}
}

// TestWALRewriteInPlace writes one transaction bigger than the page cache
// that changes the same pages again after they spilled to the WAL: SQLite
// overwrites those frames in place and rewrites the frame checksums at
// commit, reading whole frames back. A copy taken before any checkpoint
// must recover every committed row.
func TestWALRewriteInPlace(t *testing.T) {
	rng := seededRand(t)
	key := newKey(t)
	k := register(t, key)
	dir, crash := testDir(t), testDir(t)
	path := filepath.Join(dir, "rw.db")
	c := open(t, path, encrypted(k, "wal"))
	mustExec(t, c, schema)
	if err := c.WALAutoCheckpoint(0); err != nil {
		t.Fatal(err)
	}
	want := genRows(rng, 1, 100, fixed(1500), nil)
	insertRows(t, c, want)
	mustExec(t, c, "PRAGMA cache_size=4")
	mustExec(t, c, "BEGIN IMMEDIATE")
	for pass := range 3 {
		for i := range want {
			v := genRows(rng, 0, 1, fixed(1500), nil)[0].v
			stmt, _, err := c.Prepare("UPDATE t SET v = ? WHERE id = ?")
			if err != nil {
				t.Fatal(err)
			}
			stmt.BindBlob(1, v)
			stmt.BindInt64(2, want[i].id)
			if err := stmt.Exec(); err != nil {
				t.Fatalf("pass %d: %v", pass, err)
			}
			stmt.Close()
			want[i].v = v
		}
	}
	mustExec(t, c, "COMMIT")
	got, err := readRows(c)
	if err != nil {
		t.Fatalf("read after commit: %v", err)
	}
	checkRows(t, got, want)
	copyFiles(t, dir, crash, "rw.db", "rw.db-wal")
	closeConn(t, c)

	k2 := register(t, key)
	c = open(t, filepath.Join(crash, "rw.db"), encrypted(k2, "wal"))
	got, err = readRows(c)
	if err != nil {
		t.Fatalf("read after recovery: %v", err)
	}
	checkRows(t, got, want)
	checkIntegrity(t, c)
}

// TestBackup uses SQLite's online backup: an encrypted database backs up
// into a new file on another key's VFS (it keeps the reserved bytes), and a
// plaintext one cannot be backed up into an encrypted file (ErrReserve,
// nothing written).
func TestBackup(t *testing.T) {
	rng := seededRand(t)
	dir := testDir(t)
	kA, kB := register(t, newKey(t)), register(t, newKey(t))
	want := genRows(rng, 1, 30, fixed(2000), nil)

	src := open(t, filepath.Join(dir, "src.db"), encrypted(kA, "wal"))
	mustExec(t, src, schema)
	insertRows(t, src, want)
	dst := filepath.Join(dir, "dst.db")
	if err := src.Backup("main", engine.URI(dst, kB.Name)); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	checkOnDisk(t, dst, 4096)
	c := open(t, dst, encrypted(kB, "wal"))
	checkRows(t, mustReadRows(t, c), want)
	checkIntegrity(t, c)
	closeConn(t, c)

	plain := open(t, filepath.Join(dir, "plain.db"), engine.Options{JournalMode: "wal"})
	mustExec(t, plain, schema)
	insertRows(t, plain, want)
	dst2 := filepath.Join(dir, "dst2.db")
	err := plain.Backup("main", engine.URI(dst2, kB.Name))
	if !errors.Is(err, sqlite3.IOERR_WRITE) {
		t.Errorf("plaintext backup into the encrypting VFS: %v, want IOERR_WRITE", err)
	}
	// The destination is a handle inside plain's connection, not a Conn:
	// SQLite's cleanup of plain replaces the typed error before Backup
	// returns, and no ConnError can reach it. A restore is driven by the
	// destination connection, whose typed error ConnError adds.
	checkEmpty(t, dst2)
	closeConn(t, plain)
	dst3 := filepath.Join(dir, "dst3.db")
	c = open(t, dst3, encrypted(kB, "delete"))
	err = sqlitevfs.ConnError(c, c.Restore("main", engine.URI(filepath.Join(dir, "plain.db"), "")))
	if !errors.Is(err, sqlite3.IOERR_WRITE) || !errors.Is(err, sqlitevfs.ErrReserve) {
		t.Errorf("restore of a plaintext database into the encrypting VFS: %v, want IOERR_WRITE with ErrReserve", err)
	}
	closeConn(t, c)
	checkEmpty(t, dst3)
}

// TestPragmaVariants round trips under settings that change how SQLite
// drives the files: exclusive locking (WAL index in heap memory), mmap_size
// (no memory mapping of ciphertext may happen), auto-vacuum (pages moved
// and the file truncated at commit), in-memory and no journal, secure
// delete, with deletes and an in-place incremental blob write.
func TestPragmaVariants(t *testing.T) {
	for _, tc := range []struct {
		name, mode, pragma string
		check              string
		want               int64
	}{
		{"exclusive locking", "wal", "PRAGMA locking_mode=EXCLUSIVE", "", 0},
		{"mmap", "wal", "PRAGMA mmap_size=268435456", "", 0},
		{"auto_vacuum full", "delete", "PRAGMA auto_vacuum=FULL", "PRAGMA auto_vacuum", 1},
		{"auto_vacuum incremental", "delete", "PRAGMA auto_vacuum=INCREMENTAL", "PRAGMA auto_vacuum", 2},
		{"journal memory", "delete", "PRAGMA journal_mode=MEMORY", "", 0},
		{"journal off", "delete", "PRAGMA journal_mode=OFF", "", 0},
		{"secure delete", "wal", "PRAGMA secure_delete=ON", "PRAGMA secure_delete", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := seededRand(t)
			k := register(t, newKey(t))
			path := filepath.Join(testDir(t), "p.db")
			o := encrypted(k, tc.mode)
			c := open(t, path, o)
			mustExec(t, c, tc.pragma)
			mustExec(t, c, schema)
			if tc.check != "" {
				if got := queryInt(t, c, tc.check); got != tc.want {
					t.Fatalf("%s = %d, want %d", tc.check, got, tc.want)
				}
			}
			rows := genRows(rng, 1, 50, fixed(5000), nil)
			insertRows(t, c, rows)
			mustExec(t, c, "DELETE FROM t WHERE id % 2 = 0")
			mustExec(t, c, "PRAGMA incremental_vacuum")
			var want []row
			for _, r := range rows {
				if r.id%2 == 1 {
					want = append(want, r)
				}
			}
			b, err := c.OpenBlob("main", "t", "v", 1, true)
			if err != nil {
				t.Fatal(err)
			}
			patch := []byte("written through incremental blob I/O")
			if _, err := b.Seek(3000, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Write(patch); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			copy(want[0].v[3000:], patch)
			checkRows(t, mustReadRows(t, c), want)
			checkIntegrity(t, c)
			closeConn(t, c)
			checkOnDisk(t, path, 4096)

			c = open(t, path, o)
			checkRows(t, mustReadRows(t, c), want)
			checkIntegrity(t, c)
		})
	}
}

// TestWALWithoutPowersafeOverwrite opens a WAL store with psow=0 (a
// documented SQLite URI parameter, forwarded to the OS file). SQLite then
// pads each commit to a sector boundary with extra frames and splits the
// write that crosses the boundary in two around an fsync, so the VFS sees
// part of a page image. Commits must still work and round trip.
func TestWALWithoutPowersafeOverwrite(t *testing.T) {
	rng := seededRand(t)
	k := register(t, newKey(t))
	path := filepath.Join(testDir(t), "psow.db")
	uri := engine.URI(path, k.Name) + "&psow=0"
	c, err := sqlite3.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := sqlitevfs.SetReserve(c, "main"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "PRAGMA journal_mode=wal; PRAGMA synchronous=FULL")
	if got, err := c.FileControl("main", sqlite3.FCNTL_POWERSAFE_OVERWRITE); err != nil || got != false {
		t.Fatalf("FCNTL_POWERSAFE_OVERWRITE = %v, %v; want false", got, err)
	}
	if err := c.Exec(schema); err != nil {
		t.Fatalf("first commit: %v", err)
	}
	var want []row
	for i := range 5 {
		batch := genRows(rng, int64(i*10+1), 10, fixed(1000), nil)
		if err := tryInsertRows(c, batch); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		want = append(want, batch...)
	}
	closeConn(t, c)
	c, err = sqlite3.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkRows(t, mustReadRows(t, c), want)
	checkIntegrity(t, c)
}
