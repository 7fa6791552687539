package sqlitevfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// check runs CheckFiles and fails the test on an error.
func check(t testing.TB, path string, key []byte) *sqlitevfs.CheckReport {
	t.Helper()
	r, err := sqlitevfs.CheckFiles(context.Background(), path, key)
	if err != nil {
		t.Fatalf("CheckFiles: %v", err)
	}
	return r
}

// describe lists a report's damage for messages.
func describe(r *sqlitevfs.CheckReport) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "pages %d superseded %d frames %d uncommitted %d stale %d damaged [", r.Pages, r.Superseded, r.Frames, r.Uncommitted, r.Stale)
	for _, d := range r.Damaged {
		fmt.Fprintf(&b, " %s page %d at %d: %v;", d.Kind, d.Page, d.Offset, d.Err)
	}
	b.WriteString(" ]")
	return b.String()
}

func TestCheckClean(t *testing.T) {
	rng := seededRand(t)
	t.Run("db", func(t *testing.T) {
		s := newDBStore(t, rng)
		path := filepath.Join(testDir(t), "t.db")
		writeFile(t, path, s.raw)
		var calls int
		var last, total int64
		r, err := sqlitevfs.CheckFiles(context.Background(), path, s.key, sqlitevfs.CheckProgress(func(d, n int64) {
			calls++
			if d < last || d > n {
				t.Errorf("progress %d of %d after %d", d, n, last)
			}
			last, total = d, n
		}))
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() || r.Pages != int64(s.pages) || r.Frames != 0 || r.PageSize != tamperPageSize {
			t.Fatalf("pristine store: %s, want %d pages", describe(r), s.pages)
		}
		if calls == 0 || last != total || total != int64(len(s.raw)) {
			t.Errorf("progress: %d calls, last %d of %d, want %d", calls, last, total, len(s.raw))
		}
	})
	t.Run("wal", func(t *testing.T) {
		s := newWALStore(t, rng)
		path := filepath.Join(testDir(t), "w.db")
		writeFile(t, path, s.db)
		writeFile(t, path+"-wal", s.wal)
		r := check(t, path, s.key)
		if !r.OK() || r.Frames != int64(len(s.frames)) || r.Uncommitted != 0 || r.Stale != 0 || r.Pages != int64(len(s.db)/s.pageSize) {
			t.Fatalf("pristine store: %s, want %d frames", describe(r), len(s.frames))
		}
		// A WAL cut inside its last frame: a torn tail.
		writeFile(t, path+"-wal", s.wal[:len(s.wal)-100])
		r = check(t, path, s.key)
		if !r.OK() || r.Frames >= int64(len(s.frames)) {
			t.Fatalf("torn tail: %s", describe(r))
		}
	})
}

// TestCheckErrors: what keeps a check from running is an error, and the
// files stay as they were.
func TestCheckErrors(t *testing.T) {
	rng := seededRand(t)
	s := newWALStore(t, rng)
	dir := testDir(t)
	path := filepath.Join(dir, "w.db")
	writeFile(t, path, s.db)
	writeFile(t, path+"-wal", s.wal)
	before := snapshot(t, dir)
	ctx := context.Background()

	_, err := sqlitevfs.CheckFiles(ctx, path, newKey(t))
	if !errors.Is(err, sqlitevfs.ErrWrongKey) {
		t.Errorf("wrong key: %v, want ErrWrongKey", err)
	}
	if _, err := sqlitevfs.CheckFiles(ctx, path, s.key[:16]); err == nil {
		t.Error("a 16-byte key: no error")
	}
	_, err = sqlitevfs.CheckFiles(ctx, filepath.Join(dir, "missing.db"), s.key)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing database: %v, want fs.ErrNotExist", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sqlitevfs.CheckFiles(cancelled, path, s.key); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	checkUnchanged(t, dir, before)

	// A plaintext database is not one of this package's.
	plain := filepath.Join(testDir(t), "plain.db")
	c := open(t, plain, engine.Options{JournalMode: "delete"})
	mustExec(t, c, schema)
	closeConn(t, c)
	if _, err := sqlitevfs.CheckFiles(ctx, plain, s.key); !errors.Is(err, sqlitevfs.ErrNotEncrypted) {
		t.Errorf("plaintext database: %v, want ErrNotEncrypted", err)
	}
	// So is a database whose magic was damaged.
	raw := slices.Clone(s.db)
	raw[3] ^= 0x40
	writeFile(t, path, raw)
	if _, err := sqlitevfs.CheckFiles(ctx, path, s.key); !errors.Is(err, sqlitevfs.ErrNotEncrypted) {
		t.Errorf("damaged magic: %v, want ErrNotEncrypted", err)
	}
	// An empty database and no WAL: nothing to check, nothing wrong.
	writeFile(t, path, nil)
	os.Remove(path + "-wal")
	if r := check(t, path, s.key); !r.OK() || r.Pages != 0 {
		t.Errorf("empty database: %s", describe(r))
	}
}

// TestCheckTamperDB flips 1–8 random bytes of a random page of the
// database file (page 1's magic aside, which makes it no database of
// this package): the check names exactly that page, and nothing else.
func TestCheckTamperDB(t *testing.T) {
	rng := seededRand(t)
	s := newDBStore(t, rng)
	dir := testDir(t)
	path := filepath.Join(dir, "t.db")
	for i := range trials(300, 60) {
		raw := slices.Clone(s.raw)
		pg := 1 + rng.IntN(s.pages)
		lo := (pg - 1) * tamperPageSize
		if pg == 1 {
			lo += 8
		}
		offs := flip(rng, raw, lo, (pg)*tamperPageSize, 1+rng.IntN(8))
		writeFile(t, path, raw)
		r := check(t, path, s.key)
		what := fmt.Sprintf("trial %d (page %d, offsets %v)", i, pg, offs)
		if len(r.Damaged) != 1 {
			t.Fatalf("%s: %s, want page %d alone", what, describe(r), pg)
		}
		d := r.Damaged[0]
		if d.Kind != "db" || d.Page != uint32(pg) || d.Offset != int64(pg-1)*tamperPageSize || d.File != path || !errors.Is(d, sqlitevfs.ErrAuth) {
			t.Errorf("%s: %+v", what, d)
		}
		if r.Pages != int64(s.pages-1) {
			t.Errorf("%s: %d pages authenticated, want %d", what, r.Pages, s.pages-1)
		}
	}
}

// TestCheckTamperWAL flips bytes in one frame's page image of a WAL, as
// TestTamperWALRecovery does: the check names that frame exactly when
// recovery reports it (a later transaction follows), and otherwise sees
// a torn tail; never a database page or another frame.
func TestCheckTamperWAL(t *testing.T) {
	rng := seededRand(t)
	s := newWALStore(t, rng)
	dir := testDir(t)
	path := filepath.Join(dir, "w.db")
	writeFile(t, path, s.db)
	var reported, tail int
	last := s.frames[len(s.frames)-1].txn
	for i := range trials(300, 60) {
		fr := s.frames[rng.IntN(len(s.frames))]
		for i%6 == 0 && fr.txn != last {
			fr = s.frames[rng.IntN(len(s.frames))] // every sixth trial in the last transaction
		}
		wal := slices.Clone(s.wal)
		img := int(fr.off) + 24
		offs := flip(rng, wal, img, img+s.pageSize, 1+rng.IntN(8))
		writeFile(t, path+"-wal", wal)
		r := check(t, path, s.key)
		what := fmt.Sprintf("trial %d (frame at %d, page %d, txn %d, offsets %v)", i, fr.off, fr.pgno, fr.txn, offs)
		if !s.provenDamaged(fr, offs) {
			tail++
			if !r.OK() {
				t.Errorf("%s: %s, want a torn tail", what, describe(r))
			}
			continue
		}
		reported++
		if len(r.Damaged) != 1 {
			t.Fatalf("%s: %s, want the frame alone", what, describe(r))
		}
		d := r.Damaged[0]
		frameNo := (fr.off-32)/int64(24+s.pageSize) + 1
		if d.Kind != "wal" || d.Page != fr.pgno || d.Offset != fr.off || d.File != path+"-wal" ||
			!errors.Is(d, sqlitevfs.ErrAuth) || !bytes.Contains([]byte(d.Error()), fmt.Appendf(nil, "(frame %d)", frameNo)) {
			t.Errorf("%s: %v", what, d)
		}
		if r.Frames != int64(len(s.frames)-1) || r.Uncommitted != 0 {
			t.Errorf("%s: %s, want every other frame authenticated", what, describe(r))
		}
	}
	t.Logf("%d frames reported, %d torn tails", reported, tail)
	if reported == 0 || tail == 0 {
		t.Errorf("trials cover only one case: %d reported, %d tails", reported, tail)
	}
}

// TestCheckLive checks a store that a connection holds open and writes
// to: the WAL it is appending to is judged as it stands, and a page
// damaged meanwhile is named.
func TestCheckLive(t *testing.T) {
	rng := seededRand(t)
	key := newKey(t)
	path := filepath.Join(testDir(t), "live.db")
	c := open(t, path, encrypted(register(t, key), "wal"))
	mustExec(t, c, schema)
	insertRows(t, c, genRows(rng, 1, 40, fixed(900), nil))
	checkpoint(t, c, sqlite3.CHECKPOINT_TRUNCATE)
	if err := c.WALAutoCheckpoint(0); err != nil {
		t.Fatal(err)
	}
	insertRows(t, c, genRows(rng, 41, 10, fixed(900), nil))
	insertRows(t, c, genRows(rng, 51, 10, fixed(900), nil))
	r := check(t, path, key)
	if !r.OK() || r.Frames == 0 || r.Pages == 0 {
		t.Fatalf("live store: %s", describe(r))
	}
	// Damage page 2 of the database file, which the WAL does not hold
	// (page 2 is the table's root, rewritten by every insert: pick the
	// first leaf no frame holds instead).
	_, frames := parseWAL(t, readFile(t, path+"-wal"))
	inWAL := map[uint32]bool{}
	for _, f := range frames {
		inWAL[f.pgno] = true
	}
	pg := uint32(0)
	for p := uint32(2); int64(p) <= r.Pages; p++ {
		if !inWAL[p] {
			pg = p
			break
		}
	}
	if pg == 0 {
		t.Fatal("every page of the database is in the WAL")
	}
	off := int64(pg-1)*tamperPageSize + 100
	b := readFile(t, path)[off : off+1]
	patchFile(t, path, []byte{b[0] ^ 1}, off)
	r = check(t, path, key)
	if len(r.Damaged) != 1 || r.Damaged[0].Kind != "db" || r.Damaged[0].Page != pg {
		t.Fatalf("page %d damaged under a live connection: %s", pg, describe(r))
	}
}

// TestCheckWALOnly checks a new database whose pages are all in the WAL
// (the database file is still empty): the frames are authenticated, and
// a wrong key is told from them.
func TestCheckWALOnly(t *testing.T) {
	rng := seededRand(t)
	s := newWALStore(t, rng)
	path := filepath.Join(testDir(t), "w.db")
	writeFile(t, path, nil)
	// The frames of the first transaction alone.
	end := 0
	for _, f := range s.frames {
		if f.txn == 0 {
			end = int(f.off) + 24 + s.pageSize
		}
	}
	writeFile(t, path+"-wal", s.wal[:end])
	r := check(t, path, s.key)
	if !r.OK() || r.Pages != 0 || r.Frames == 0 {
		t.Fatalf("WAL only: %s", describe(r))
	}
	if _, err := sqlitevfs.CheckFiles(context.Background(), path, newKey(t)); !errors.Is(err, sqlitevfs.ErrWrongKey) {
		t.Errorf("wrong key: %v, want ErrWrongKey", err)
	}
}
