package sqlitevfs_test

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
)

// fuzzKey is fixed so that corpus entries found by fuzzing keep meaning the
// same thing on the next run.
var fuzzKey = bytes.Repeat([]byte{0x5a}, 32)

// fuzzVFS is the one keyed VFS every fuzz iteration uses; it stays
// registered for the life of the process.
var fuzzVFS = sync.OnceValues(func() (*engine.Keyed, error) {
	return engine.RegisterKey(fuzzKey)
})

// FuzzReadPath makes arbitrary bytes the database file (and, when not
// empty, its -wal), opens them through the encrypting VFS and reads
// everything: schema, integrity_check, table t. Errors are fine; a panic, a
// hang or a crash of the runtime is not, and neither is a row of t that no
// seed store wrote: every page must authenticate, so what the fuzzer can
// make readable is at most a splice of genuine pages (a row keeps the id
// and length of a genuine cell, and a row stored whole in one page is a
// genuine row; the plaintext seed never reads).
//
//	go test -run='^$' -fuzz=FuzzReadPath -fuzztime=20s ./sqlitevfs/
func FuzzReadPath(f *testing.F) {
	k, err := fuzzVFS()
	if err != nil {
		f.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	db, walDB, wal, rows := fuzzSeeds(f, k, rng)
	genuine := map[int64][][]byte{}
	for _, r := range rows {
		genuine[r.id] = append(genuine[r.id], r.v)
	}
	const P = 1024
	f.Add(db, []byte(nil))
	f.Add(walDB, wal)
	f.Add([]byte(nil), []byte(nil))
	f.Add(walDB, []byte(nil))
	for _, n := range []int{1, 10, 24, 100, P - 1, P, P + 100, len(db) - 1} {
		f.Add(db[:n], []byte(nil))
	}
	for _, n := range []int{32, 32 + 24 + P/2, len(wal) - 1} {
		f.Add(walDB, wal[:n])
	}
	for _, off := range []int{0, 8, 16, 18, 20, 24, 100, P - 1, P + 7, 3*P + 200} {
		b := slices.Clone(db)
		b[off] ^= 0x10
		f.Add(b, []byte(nil))
	}
	for _, off := range []int{0, 8, 12, 16, 32, 32 + 8, 32 + 24 + 100, 32 + 24 + P - 1, len(wal) - 5} {
		b := slices.Clone(wal)
		b[off] ^= 0x10
		f.Add(walDB, b)
	}
	f.Add(fuzzPlaintext(f), []byte(nil))

	f.Fuzz(func(t *testing.T, db, wal []byte) {
		if len(db) > 1<<20 || len(wal) > 1<<20 {
			t.Skip("too large to be cheap")
		}
		// A hang is a failure too: turn it into a crash the fuzzer records.
		watchdog := time.AfterFunc(fuzzHang, func() {
			debug.SetTraceback("all")
			panic(fmt.Sprintf("FuzzReadPath: iteration still running after %v (db %d bytes, wal %d bytes)", fuzzHang, len(db), len(wal)))
		})
		defer watchdog.Stop()
		path := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(path, db, 0o600); err != nil {
			t.Fatal(err)
		}
		if len(wal) > 0 {
			if err := os.WriteFile(path+"-wal", wal, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c, err := sqlite3.OpenFlags(engine.URI(path, k.Name), sqlite3.OPEN_READWRITE|sqlite3.OPEN_URI)
		if err != nil {
			return
		}
		defer c.Close()
		fuzzDrain(c, "SELECT * FROM sqlite_master")
		fuzzDrain(c, "PRAGMA integrity_check")
		if bad := fuzzForged(c, genuine); bad != "" {
			t.Fatalf("read a row no seed store wrote: %s (db %d bytes, wal %d bytes)", bad, len(db), len(wal))
		}
	})
}

// fuzzHang bounds one iteration; inputs are at most 1 MiB.
const fuzzHang = 10 * time.Second

// fuzzDrain steps through every row and column of sql, ignoring errors.
func fuzzDrain(c *sqlite3.Conn, sql string) {
	stmt, _, err := c.Prepare(sql)
	if err != nil {
		return
	}
	defer stmt.Close()
	for stmt.Step() {
		for i := range stmt.ColumnCount() {
			stmt.ColumnRawBlob(i)
		}
	}
}

// fuzzLocalMax is the largest value fuzzSeeds writes that SQLite stores
// whole in one 1 KiB page (larger ones continue on overflow pages).
const fuzzLocalMax = 300

// fuzzForged reads every row of t and describes the first that is not
// genuine: an id or a value length no seed row has, or a value stored in
// one page that differs from every seed value of its id. Errors while
// reading are fine.
func fuzzForged(c *sqlite3.Conn, genuine map[int64][][]byte) string {
	stmt, _, err := c.Prepare("SELECT * FROM t")
	if err != nil {
		return ""
	}
	defer stmt.Close()
	for stmt.Step() {
		if stmt.ColumnCount() != 2 {
			return fmt.Sprintf("a row of %d columns", stmt.ColumnCount())
		}
		id, v := stmt.ColumnInt64(0), stmt.ColumnRawBlob(1)
		vs, ok := genuine[id]
		if !ok {
			return fmt.Sprintf("id %d", id)
		}
		match := false
		for _, g := range vs {
			if len(v) == len(g) && (len(g) > fuzzLocalMax || bytes.Equal(v, g)) {
				match = true
				break
			}
		}
		if !match {
			return fmt.Sprintf("id %d with a value of %d bytes", id, len(v))
		}
	}
	return ""
}

// fuzzSeeds builds real stores under fuzzKey with 1 KiB pages: one in
// rollback mode, and one in WAL mode with its -wal still full. It also
// returns every row it wrote.
func fuzzSeeds(f *testing.F, k *engine.Keyed, rng *mrand.Rand) (db, walDB, wal []byte, rows []row) {
	dir, snap := testDir(f), testDir(f)
	o := encrypted(k, "delete")
	o.PageSize = 1024
	c := open(f, filepath.Join(dir, "r.db"), o)
	mustExec(f, c, schema)
	ins := func(rs []row) {
		insertRows(f, c, rs)
		rows = append(rows, rs...)
	}
	ins(genRows(rng, 1, 6, fixed(200), nil))
	ins(genRows(rng, 7, 1, fixed(3000), nil))
	closeConn(f, c)
	db = readFile(f, filepath.Join(dir, "r.db"))

	o.JournalMode = "wal"
	c = open(f, filepath.Join(dir, "w.db"), o)
	mustExec(f, c, schema)
	ins(genRows(rng, 1, 4, fixed(200), nil))
	checkpoint(f, c, sqlite3.CHECKPOINT_TRUNCATE)
	if err := c.WALAutoCheckpoint(0); err != nil {
		f.Fatal(err)
	}
	ins(genRows(rng, 5, 3, fixed(300), nil))
	ins(genRows(rng, 8, 1, fixed(2500), nil))
	copyFiles(f, dir, snap, "w.db", "w.db-wal")
	closeConn(f, c)
	return db, readFile(f, filepath.Join(snap, "w.db")), readFile(f, filepath.Join(snap, "w.db-wal")), rows
}

// fuzzPlaintext returns a small plaintext SQLite database.
func fuzzPlaintext(f *testing.F) []byte {
	path := filepath.Join(testDir(f), "p.db")
	c := open(f, path, engine.Options{JournalMode: "delete", PageSize: 1024})
	mustExec(f, c, schema)
	mustExec(f, c, "INSERT INTO t VALUES(1, x'0102')")
	closeConn(f, c)
	return readFile(f, path)
}
