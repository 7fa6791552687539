package sqlitevfs_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// Tamper tests damage copies of a pristine store and check that reading
// them either fails with the typed error naming the file and page, or (WAL
// recovery only) returns an older committed state; never modified rows,
// never a panic.

const tamperPageSize = 4096

// dbStore is a pristine database in rollback mode, all rows in the file.
type dbStore struct {
	key   []byte
	raw   []byte // the database file
	rows  []row
	pages int
}

// newDBStore builds a store whose every page is read by a full scan of t:
// one rowid table, rows only inserted, no free pages.
func newDBStore(t *testing.T, rng *mrand.Rand) *dbStore {
	t.Helper()
	s := &dbStore{key: newKey(t)}
	path := filepath.Join(testDir(t), "pristine.db")
	c := open(t, path, encrypted(register(t, s.key), "delete"))
	mustExec(t, c, schema)
	s.rows = genRows(rng, 1, 60, fixed(500), nil)
	s.rows = append(s.rows, genRows(rng, 61, 4, fixed(20_000), nil)...)
	insertRows(t, c, s.rows[:30])
	insertRows(t, c, s.rows[30:])
	if n := queryInt(t, c, "PRAGMA freelist_count"); n != 0 {
		t.Fatalf("pristine store has %d free pages", n)
	}
	closeConn(t, c)
	s.raw = readFile(t, path)
	s.pages = len(s.raw) / tamperPageSize
	if s.pages < 8 {
		t.Fatalf("pristine store has %d pages, want at least 8", s.pages)
	}
	return s
}

// trialOptions opens tampered copies: durability does not matter there.
func trialOptions(k *engine.Keyed, mode string) engine.Options {
	o := encrypted(k, mode)
	o.Synchronous = "off"
	return o
}

// readAll opens path and reads every row and the integrity check; it
// returns the rows read and the first error, with the typed error the VFS
// reported for the connection (ConnError). A typed error the VFS reported
// that the first error does not carry is joined to it, also after a
// successful read, so that "no PageError" means the VFS reported none.
func readAll(path string, o engine.Options) (rows []row, err error) {
	c, err := engine.Open(path, o)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	defer func() {
		if rec := sqlitevfs.PendingError(c); rec != nil {
			err = errors.Join(err, fmt.Errorf("also reported by the VFS: %w", rec))
		}
	}()
	rows, err = readRows(c)
	if err != nil {
		return rows, sqlitevfs.ConnError(c, err)
	}
	res, err := integrity(c)
	if err != nil {
		return rows, sqlitevfs.ConnError(c, err)
	}
	if res != "ok" {
		return rows, fmt.Errorf("integrity_check: %s", res)
	}
	return rows, nil
}

// checkSubset reports rows that are not, byte for byte, one of want.
func checkSubset(got, want []row) error {
	byID := make(map[int64][]byte, len(want))
	for _, r := range want {
		byID[r.id] = r.v
	}
	for _, r := range got {
		v, ok := byID[r.id]
		if !ok || string(v) != string(r.v) {
			return fmt.Errorf("row %d returned with a modified value", r.id)
		}
	}
	return nil
}

// wantError is the failure a tampered read must produce.
type wantError struct {
	code  sqlite3.ExtendedErrorCode // or a primary code as extended
	typed error                     // sentinel, or nil for a PageError
	kind  string                    // PageError fields
	file  string
	page  uint32
	off   int64
}

func (w wantError) String() string {
	if w.typed != nil {
		return fmt.Sprintf("%v with %v", w.code, w.typed)
	}
	return fmt.Sprintf("%v with PageError{%s page %d at %d}", w.code, w.kind, w.page, w.off)
}

// check compares err, and the typed error it carries, with w.
func (w wantError) check(err error) error {
	if err == nil {
		return fmt.Errorf("no error, want %v", w)
	}
	if !errors.Is(err, w.code) {
		return fmt.Errorf("error %v, want %v", err, w)
	}
	if w.typed != nil {
		if !errors.Is(err, w.typed) {
			return fmt.Errorf("error %v does not carry %v", err, w.typed)
		}
		if pe := pageErr(err); pe != nil {
			return fmt.Errorf("error %v carries a PageError, want only %v", err, w.typed)
		}
		return nil
	}
	pe := pageErr(err)
	if pe == nil {
		return fmt.Errorf("error %v (%T) carries no *PageError", err, err)
	}
	if pe.Kind != w.kind || pe.File != w.file || pe.Page != w.page || pe.Offset != w.off {
		return fmt.Errorf("PageError %+v, want %v in %s", pe, w, w.file)
	}
	if !errors.Is(pe, sqlitevfs.ErrAuth) && !(w.page == 1 && errors.Is(pe, io.ErrUnexpectedEOF)) {
		return fmt.Errorf("PageError cause %v, want ErrAuth", pe.Err)
	}
	return nil
}

// expectDB says how a database whose page pg had the bytes at offs (page
// offsets) changed must fail. Page 1's first 24 bytes are checked before
// anything is decrypted, in this order: magic, key check, reserved bytes,
// page size; any other change fails authentication.
func expectDB(path string, tampered []byte, pg int, offs []int) wantError {
	in := func(lo, hi int) bool {
		return slices.ContainsFunc(offs, func(o int) bool { return o >= lo && o < hi })
	}
	if pg == 1 {
		size := int(binary.BigEndian.Uint16(tampered[16:18]))
		if size == 1 {
			size = 65536
		}
		switch {
		case in(0, 8):
			return wantError{code: sqlite3.ExtendedErrorCode(sqlite3.NOTADB), typed: sqlitevfs.ErrNotEncrypted}
		case in(8, 16):
			return wantError{code: sqlite3.IOERR_BADKEY, typed: sqlitevfs.ErrWrongKey}
		case in(20, 21):
			return wantError{code: sqlite3.ExtendedErrorCode(sqlite3.NOTADB), typed: sqlitevfs.ErrReserve}
		case size < 512 || size > 65536 || size&(size-1) != 0:
			return wantError{code: sqlite3.ExtendedErrorCode(sqlite3.NOTADB), typed: sqlitevfs.ErrNotEncrypted}
		}
	}
	return wantError{code: sqlite3.IOERR_DATA, kind: "db", file: path, page: uint32(pg), off: int64(pg-1) * tamperPageSize}
}

// TestTamperDB flips 1–8 random bytes of a random page of the database
// file, hundreds of times, and reads everything back: each trial fails with
// the error expectDB predicts, and rows returned before the failure are
// unmodified.
func TestTamperDB(t *testing.T) {
	rng := seededRand(t)
	s := newDBStore(t, rng)
	base := testDir(t)
	n := trials(300, 60)
	for i := range n {
		dir := trialDir(t, base, i)
		path := filepath.Join(dir, "t.db")
		raw := slices.Clone(s.raw)
		pg := 1 + rng.IntN(s.pages)
		lo := (pg - 1) * tamperPageSize
		offs := flip(rng, raw, lo, lo+tamperPageSize, 1+rng.IntN(8))
		for j := range offs {
			offs[j] -= lo
		}
		writeFile(t, path, raw)
		want := expectDB(path, raw[lo:], pg, offs)

		k, err := engine.RegisterKey(s.key)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := readAll(path, trialOptions(k, "delete"))
		if e := want.check(err); e != nil {
			t.Errorf("trial %d (page %d, offsets %v): %v", i, pg, offs, e)
		}
		if e := checkSubset(rows, s.rows); e != nil {
			t.Errorf("trial %d (page %d, offsets %v): %v", i, pg, offs, e)
		}
		k.Close()
		os.RemoveAll(dir)
	}
}

// TestPageSwap copies page 5's image over page 6: page 6 fails to
// authenticate (the page number is bound to the image).
func TestPageSwap(t *testing.T) {
	rng := seededRand(t)
	s := newDBStore(t, rng)
	path := filepath.Join(testDir(t), "swap.db")
	raw := slices.Clone(s.raw)
	copy(raw[5*tamperPageSize:6*tamperPageSize], raw[4*tamperPageSize:5*tamperPageSize])
	writeFile(t, path, raw)
	k := register(t, s.key)
	rows, err := readAll(path, trialOptions(k, "delete"))
	want := wantError{code: sqlite3.IOERR_DATA, kind: "db", file: path, page: 6, off: 5 * tamperPageSize}
	if e := want.check(err); e != nil {
		t.Error(e)
	}
	if e := checkSubset(rows, s.rows); e != nil {
		t.Error(e)
	}
}

// walFrame is one frame of a WAL file.
type walFrame struct {
	off    int64  // start of the frame header
	pgno   uint32 // page number
	commit uint32 // database size after a commit frame, else 0
	txn    int    // commits before this frame
	latest bool   // last frame of its page: what readers read
}

// walStore is a pristine database with committed transactions in its WAL
// and no WAL index (as after a crash): states[j] is the table after the
// first j WAL transactions.
type walStore struct {
	key      []byte
	db, wal  []byte
	states   [][]row
	frames   []walFrame
	pageSize int
}

func newWALStore(t *testing.T, rng *mrand.Rand) *walStore {
	t.Helper()
	s := &walStore{key: newKey(t)}
	dir, snap := testDir(t), testDir(t)
	path := filepath.Join(dir, "w.db")
	c := open(t, path, encrypted(register(t, s.key), "wal"))
	mustExec(t, c, schema)
	rows := genRows(rng, 1, 20, fixed(500), nil)
	insertRows(t, c, rows)
	checkpoint(t, c, sqlite3.CHECKPOINT_TRUNCATE)
	if err := c.WALAutoCheckpoint(0); err != nil {
		t.Fatal(err)
	}
	s.states = append(s.states, slices.Clone(rows))
	for j := range 8 {
		batch := genRows(rng, int64(len(rows)+1), 5, fixed(800), nil)
		if j%3 == 0 {
			batch = append(batch, genRows(rng, int64(len(rows)+6), 1, fixed(9000), nil)...)
		}
		insertRows(t, c, batch)
		rows = append(rows, batch...)
		s.states = append(s.states, slices.Clone(rows))
	}
	if n := queryInt(t, c, "PRAGMA freelist_count"); n != 0 {
		t.Fatalf("pristine store has %d free pages", n)
	}
	// Copy while the connection is open: closing would checkpoint.
	copyFiles(t, dir, snap, "w.db", "w.db-wal")
	closeConn(t, c)
	s.db = readFile(t, filepath.Join(snap, "w.db"))
	s.wal = readFile(t, filepath.Join(snap, "w.db-wal"))
	s.pageSize, s.frames = parseWAL(t, s.wal)
	if got := s.frames[len(s.frames)-1].txn; got != len(s.states)-2 {
		t.Fatalf("WAL holds %d commits before its last frame, want %d", got, len(s.states)-2)
	}
	return s
}

// parseWAL returns the page size and the frames of a WAL with consistent
// salts (https://sqlite.org/fileformat2.html#walformat).
func parseWAL(t testing.TB, wal []byte) (int, []walFrame) {
	t.Helper()
	if len(wal) < 32 {
		t.Fatalf("WAL of %d bytes", len(wal))
	}
	size := int(binary.BigEndian.Uint32(wal[8:12]))
	var frames []walFrame
	commits := 0
	last := map[uint32]int{}
	for off := int64(32); off+24+int64(size) <= int64(len(wal)); off += 24 + int64(size) {
		h := wal[off : off+24]
		if string(h[8:16]) != string(wal[16:24]) {
			break // salts of an older generation
		}
		pgno, commit := binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8])
		last[pgno] = len(frames)
		frames = append(frames, walFrame{off: off, pgno: pgno, commit: commit, txn: commits})
		if commit != 0 {
			commits++
		}
	}
	for _, i := range last {
		frames[i].latest = true
	}
	if len(frames) == 0 {
		t.Fatal("WAL has no frames")
	}
	return size, frames
}

// provenDamaged reports whether damage at offsets offs of frame fr must be
// reported: a later transaction follows fr's in the WAL, or, when the
// damage hits the trailer of a commit frame (which its checksum mask
// binds, so the next frame's checksum no longer authenticates it), two
// later transactions do. This store writes no padding frames and no
// transaction rewrites one page with the same content.
func (s *walStore) provenDamaged(fr walFrame, offs []int) bool {
	last := s.frames[len(s.frames)-1].txn
	trailer := int(fr.off) + 24 + s.pageSize - 32
	if fr.commit != 0 && slices.ContainsFunc(offs, func(o int) bool { return o >= trailer }) {
		return fr.txn < last-1
	}
	return fr.txn < last
}

// TestTamperWALRecovery flips bytes inside one frame's page image of a WAL
// that has to be recovered (no WAL index, as after a crash). A frame
// followed by intact frames of a later transaction is damage, not a torn
// tail: recovery fails with a PageError naming the frame (ErrWALDamaged)
// instead of silently dropping the committed transactions after it. A
// frame of the last transaction cannot be told from a torn write: the
// trial returns exactly the state committed before that transaction,
// without an error. Never a modified row.
func TestTamperWALRecovery(t *testing.T) {
	rng := seededRand(t)
	s := newWALStore(t, rng)
	base := testDir(t)
	n := trials(300, 60)
	var reported, rolledBack int
	for i := range n {
		dir := trialDir(t, base, i)
		path := filepath.Join(dir, "w.db")
		fr := s.frames[rng.IntN(len(s.frames))]
		switch i {
		case 0: // both cases every run: a frame of the last transaction,
			fr = s.frames[len(s.frames)-1]
		case 1: // and one of the first
			fr = s.frames[0]
		}
		wal := slices.Clone(s.wal)
		img := int(fr.off) + 24
		offs := flip(rng, wal, img, img+s.pageSize, 1+rng.IntN(8))
		writeFile(t, path, s.db)
		writeFile(t, path+"-wal", wal)

		k, err := engine.RegisterKey(s.key)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := readAll(path, trialOptions(k, "wal"))
		what := fmt.Sprintf("trial %d (frame at %d, page %d, txn %d, offsets %v)", i, fr.off, fr.pgno, fr.txn, offs)
		if s.provenDamaged(fr, offs) {
			reported++
			pe := pageErr(err)
			switch {
			case pe == nil || !errors.Is(err, sqlitevfs.ErrWALDamaged):
				t.Errorf("%s: %v, want a PageError with ErrWALDamaged", what, err)
			case !errors.Is(err, sqlite3.IOERR_DATA):
				t.Errorf("%s: %v, want IOERR_DATA", what, err)
			case pe.Kind != "wal" || pe.Offset != fr.off || pe.Page != fr.pgno || pe.File != path+"-wal":
				t.Errorf("%s: %+v does not name the frame", what, pe)
			}
		} else {
			rolledBack++
			if err != nil {
				t.Errorf("%s: %v", what, err)
			} else if d := diffRows(rows, s.states[fr.txn]); d != "" {
				t.Errorf("%s: not the state before the frame's transaction: %s", what, d)
			}
		}
		if err := checkSubset(rows, s.states[len(s.states)-1]); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		k.Close()
		os.RemoveAll(dir)
	}
	t.Logf("%d trials: %d reported as damage, %d in the last transaction rolled back", n, reported, rolledBack)
	if reported == 0 || rolledBack == 0 {
		t.Errorf("trials cover only one case: %d reported, %d rolled back", reported, rolledBack)
	}
}

// liveWAL opens a copy of s in dir and builds its WAL index with a first
// connection, which it returns (still open): later connections read pages
// from the WAL strictly, without recovery.
func liveWAL(t *testing.T, s *walStore, dir string, k *engine.Keyed) (path string, first *sqlite3.Conn) {
	t.Helper()
	path = filepath.Join(dir, "w.db")
	writeFile(t, path, s.db)
	writeFile(t, path+"-wal", s.wal)
	c, err := engine.Open(path, trialOptions(k, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := queryInt(t, c, "SELECT count(*) FROM t"), len(s.states[len(s.states)-1]); got != int64(want) {
		c.Close()
		t.Fatalf("recovered %d rows, want %d", got, want)
	}
	return path, c
}

// patchFile overwrites b at off in a file that SQLite has open.
func patchFile(t testing.TB, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestTamperWALLive flips bytes inside one frame's page image while the WAL
// index is intact, so readers take pages straight from the WAL: reading a
// frame that is the latest version of its page fails with a PageError
// naming the WAL and the page; a superseded frame is never read and the
// data is intact.
func TestTamperWALLive(t *testing.T) {
	rng := seededRand(t)
	s := newWALStore(t, rng)
	final := s.states[len(s.states)-1]
	base := testDir(t)
	n := trials(300, 60)
	read := 0
	for i := range n {
		dir := trialDir(t, base, i)
		k, err := engine.RegisterKey(s.key)
		if err != nil {
			t.Fatal(err)
		}
		path, first := liveWAL(t, s, dir, k)
		fr := s.frames[rng.IntN(len(s.frames))]
		img := fr.off + 24
		page := slices.Clone(s.wal[img : img+int64(s.pageSize)])
		offs := flip(rng, page, 0, len(page), 1+rng.IntN(8))
		patchFile(t, path+"-wal", page, img)

		rows, err := readAll(path, trialOptions(k, "wal"))
		what := fmt.Sprintf("trial %d (frame at %d, page %d, latest %v, offsets %v)", i, fr.off, fr.pgno, fr.latest, offs)
		if fr.latest {
			read++
			want := wantError{code: sqlite3.IOERR_DATA, kind: "wal", file: path + "-wal", page: fr.pgno, off: img}
			if e := want.check(err); e != nil {
				t.Errorf("%s: %v", what, e)
			}
		} else {
			if err != nil {
				t.Errorf("%s: %v", what, err)
			} else if d := diffRows(rows, final); d != "" {
				t.Errorf("%s: %s", what, d)
			}
		}
		if e := checkSubset(rows, final); e != nil {
			t.Errorf("%s: %v", what, e)
		}
		first.Close()
		k.Close()
		os.RemoveAll(dir)
	}
	t.Logf("%d of %d trials damaged a frame that readers read", read, n)
	if read == 0 || read == n {
		t.Errorf("%d of %d trials damaged a frame that readers read: both cases must occur", read, n)
	}
}

// TestWALImageSwap moves sealed images around inside a live WAL. Another
// frame's image (another page) fails to authenticate: the page number is
// bound to each image. The database file's older image of the same page
// opens, by design (WAL frames are sealed as database pages so checkpoints
// copy them unopened): that is page rollback, which the package documents
// it does not prevent, and the reader gets that older version of the page,
// never a mix.
func TestWALImageSwap(t *testing.T) {
	rng := seededRand(t)
	s := newWALStore(t, rng)
	var latest []walFrame
	for _, fr := range s.frames {
		if fr.latest && fr.pgno != 1 {
			latest = append(latest, fr)
		}
	}
	if len(latest) < 2 {
		t.Fatalf("%d latest frames", len(latest))
	}
	dbPages := len(s.db) / s.pageSize
	var inDB *walFrame
	for i := range latest {
		if int(latest[i].pgno) <= dbPages {
			inDB = &latest[i]
			break
		}
	}
	if inDB == nil {
		t.Fatal("no WAL frame rewrites a page of the database file")
	}
	size := int64(s.pageSize)
	cases := []struct {
		name string
		dst  walFrame
		src  func() []byte
	}{
		{"other frame", latest[1], func() []byte {
			return s.wal[latest[0].off+24 : latest[0].off+24+size]
		}},
	}
	t.Run("database image", func(t *testing.T) {
		k := register(t, s.key)
		path, first := liveWAL(t, s, testDir(t), k)
		defer first.Close()
		off := int64(inDB.pgno-1) * size
		patchFile(t, path+"-wal", s.db[off:off+size], inDB.off+24)
		c := open(t, path, trialOptions(k, "wal"))
		defer c.Close()
		// The page reads back as its older, checkpointed version: the
		// b-tree may then be inconsistent, which integrity_check reports,
		// but nothing fails authentication.
		if _, err := integrity(c); err != nil && errors.Is(err, sqlite3.IOERR_DATA) {
			t.Fatalf("the database's own image of page %d failed authentication in the WAL: %v", inDB.pgno, err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := register(t, s.key)
			path, first := liveWAL(t, s, testDir(t), k)
			defer first.Close()
			patchFile(t, path+"-wal", tc.src(), tc.dst.off+24)
			rows, err := readAll(path, trialOptions(k, "wal"))
			want := wantError{code: sqlite3.IOERR_DATA, kind: "wal", file: path + "-wal", page: tc.dst.pgno, off: tc.dst.off + 24}
			if e := want.check(err); e != nil {
				t.Error(e)
			}
			if e := checkSubset(rows, s.states[len(s.states)-1]); e != nil {
				t.Error(e)
			}
		})
	}
}

// TestTamperHeader changes each byte of page 1's plaintext prefix in turn,
// and rewrites the page size and reserved-bytes fields to chosen values:
// each fails as expectDB predicts (magic → ErrNotEncrypted, key check →
// ErrWrongKey, reserved bytes → ErrReserve, invalid page size →
// ErrNotEncrypted, anything else → PageError on page 1), and the file is
// never modified.
func TestTamperHeader(t *testing.T) {
	rng := seededRand(t)
	s := newDBStore(t, rng)
	type tc struct {
		name  string
		patch map[int]byte
	}
	var cases []tc
	for b := range 24 {
		for _, x := range []byte{0x01, 0x80} {
			cases = append(cases, tc{fmt.Sprintf("byte %d ^ %#x", b, x), map[int]byte{b: s.raw[b] ^ x}})
		}
	}
	for _, v := range []struct {
		name   string
		hi, lo byte
	}{{"8192", 0x20, 0}, {"512", 0x02, 0}, {"65536", 0, 1}, {"1000", 0x03, 0xe8}, {"0", 0, 0}, {"256", 1, 0}} {
		cases = append(cases, tc{"page size " + v.name, map[int]byte{16: v.hi, 17: v.lo}})
	}
	for _, r := range []byte{0, 8, 28, 40} {
		cases = append(cases, tc{fmt.Sprintf("reserve %d", r), map[int]byte{20: r}})
	}
	dir := testDir(t)
	for i, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("h%d.db", i))
		raw := slices.Clone(s.raw)
		var offs []int
		for off, v := range c.patch {
			if raw[off] != v {
				offs = append(offs, off)
			}
			raw[off] = v
		}
		if len(offs) == 0 {
			continue // the field already has that value
		}
		writeFile(t, path, raw)
		want := expectDB(path, raw, 1, offs)
		k, err := engine.RegisterKey(s.key)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := readAll(path, trialOptions(k, "delete"))
		if e := want.check(err); e != nil {
			t.Errorf("%s: %v", c.name, e)
		}
		if len(rows) != 0 {
			t.Errorf("%s: %d rows returned", c.name, len(rows))
		}
		if got := hashFile(t, path); got != hashBytes(raw) {
			t.Errorf("%s: file modified", c.name)
		}
		k.Close()
	}
}

// trialDir creates and returns a fresh directory for trial i under base.
func trialDir(t *testing.T, base string, i int) string {
	t.Helper()
	dir := filepath.Join(base, fmt.Sprint(i))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
