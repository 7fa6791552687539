package sqlitevfs_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/sqlitevfs"
)

// The WAL tests below read frames the way an attacker with the key would
// not be able to: they recompute SQLite's frame checksums over the
// decrypted pages (https://sqlite.org/fileformat2.html#walformat) and
// compare them with the file.

// walSum continues SQLite's WAL checksum over b.
func walSum(bigEndian bool, s [2]uint32, b []byte) [2]uint32 {
	order := binary.ByteOrder(binary.LittleEndian)
	if bigEndian {
		order = binary.BigEndian
	}
	for i := 0; i+8 <= len(b); i += 8 {
		s[0] += order.Uint32(b[i:]) + s[1]
		s[1] += order.Uint32(b[i+4:]) + s[0]
	}
	return s
}

// plainFrames decrypts every frame of the current generation of wal with
// key and returns, per frame, SQLite's checksum over the plaintext and the
// checksum stored in the file.
func plainFrames(t *testing.T, key, wal []byte) (real, stored [][2]uint32) {
	t.Helper()
	c, err := pagecrypt.New(key)
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian.Uint32(wal[0:4])&1 == 1
	size, frames := parseWAL(t, wal)
	s := [2]uint32{binary.BigEndian.Uint32(wal[24:28]), binary.BigEndian.Uint32(wal[28:32])}
	plain := make([]byte, size)
	for _, f := range frames {
		h := wal[f.off : f.off+24]
		var ad [16]byte
		ad[0] = 1 // a database page
		copy(ad[4:8], h[0:4])
		if err := c.Open(plain, wal[f.off+24:f.off+24+int64(size)], 0, ad[:]); err != nil {
			t.Fatalf("frame at %d (page %d) does not open: %v", f.off, f.pgno, err)
		}
		s = walSum(be, s, h[:8])
		s = walSum(be, s, plain)
		real = append(real, s)
		stored = append(stored, [2]uint32{binary.BigEndian.Uint32(h[16:20]), binary.BigEndian.Uint32(h[20:24])})
	}
	return real, stored
}

// openURI opens path on k with extra URI parameters (psow=0 makes SQLite
// pad commits to a sector boundary and split the padding frame around a
// sync) and the store's usual settings.
func openURI(t *testing.T, path, vfsName, params string) *sqlite3.Conn {
	t.Helper()
	c, err := sqlite3.OpenFlags(engine.URI(path, vfsName)+params, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE|sqlite3.OPEN_URI)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := sqlitevfs.SetReserve(c, "main"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "PRAGMA journal_mode=wal; PRAGMA synchronous=full")
	if err := c.WALAutoCheckpoint(0); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWALChecksumsHidden writes transactions that take every path SQLite
// has for WAL frames (appends; pages spilled and overwritten in place
// within a transaction, whose checksums SQLite rewrites at commit; commits
// padded to a sector boundary with a frame split around a sync) and checks
// that no checksum in the file equals SQLite's checksum of the plaintext,
// and that the WAL still recovers to every committed row.
func TestWALChecksumsHidden(t *testing.T) {
	for _, params := range []string{"", "&psow=0"} {
		t.Run("params="+params, func(t *testing.T) {
			rng := seededRand(t)
			key := newKey(t)
			k := register(t, key)
			dir, snap := testDir(t), testDir(t)
			path := filepath.Join(dir, "h.db")
			c := openURI(t, path, k.Name, params)
			mustExec(t, c, schema)
			checkpoint(t, c, sqlite3.CHECKPOINT_TRUNCATE)
			var rows []row
			for j := range 6 {
				batch := genRows(rng, int64(len(rows)+1), 3+j, fixed(700), nil)
				insertRows(t, c, batch)
				rows = append(rows, batch...)
			}
			// A transaction larger than the cache: pages spill to the WAL
			// and are overwritten there before the commit.
			mustExec(t, c, "PRAGMA cache_size=4")
			mustExec(t, c, "BEGIN")
			mustExec(t, c, insertSeries(1000, 60, 900))
			mustExec(t, c, "UPDATE t SET v = randomblob(900) WHERE id > 0")
			mustExec(t, c, "COMMIT")
			want := mustReadRows(t, c)
			copyFiles(t, dir, snap, "h.db", "h.db-wal")

			wal := readFile(t, filepath.Join(snap, "h.db-wal"))
			real, stored := plainFrames(t, key, wal)
			for i := range real {
				if real[i] == stored[i] {
					t.Errorf("frame %d: stored checksum %08x equals SQLite's checksum of the plaintext", i+1, stored[i])
				}
				if stored[i][0] == real[i][0] || stored[i][1] == real[i][1] {
					t.Errorf("frame %d: half of the stored checksum equals SQLite's", i+1)
				}
			}
			// Nor anywhere else in the database or the WAL.
			db := readFile(t, filepath.Join(snap, "h.db"))
			for i, sum := range real {
				var be [8]byte
				binary.BigEndian.PutUint32(be[0:], sum[0])
				binary.BigEndian.PutUint32(be[4:], sum[1])
				for name, b := range map[string][]byte{"database": db, "WAL": wal} {
					if at := bytes.Index(b, be[:]); at >= 0 {
						t.Errorf("frame %d: its plaintext checksum is in the %s at offset %d", i+1, name, at)
					}
				}
			}
			t.Logf("%d frames, none with a plaintext checksum", len(real))

			// The copy (a crash image) recovers to every committed row.
			got := mustReadRows(t, open(t, filepath.Join(snap, "h.db"), encrypted(k, "wal")))
			checkRows(t, got, want)
		})
	}
}

// insertSeries is SQL that inserts n rows of size random bytes from id on.
func insertSeries(id, n, size int) string {
	return fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT %d UNION ALL SELECT i+1 FROM s WHERE i < %d)
		INSERT INTO t(id, v) SELECT i, randomblob(%d) FROM s`, id, id+n-1, size)
}

// forgeCommit makes frame f of wal a commit frame of a database of size
// pages and fixes every checksum from f on the way an attacker can without
// the key: SQLite's checksum is linear, so a change to one word moves every
// later checksum by an amount that does not depend on the data.
func forgeCommit(wal []byte, pageSize int, f walFrame, size uint32) {
	be := binary.BigEndian.Uint32(wal[0:4])&1 == 1
	h := wal[f.off : f.off+24]
	old := binary.BigEndian.Uint32(h[4:8])
	binary.BigEndian.PutUint32(h[4:8], size)
	// The commit field is the second checksum word of the header.
	var d [2]uint32
	if be {
		d[1] = size - old
	} else {
		d[1] = binary.LittleEndian.Uint32(h[4:8]) - bits32le(old)
	}
	frame := int64(24 + pageSize)
	for off := f.off; off+frame <= int64(len(wal)); off += frame {
		hh := wal[off : off+24]
		if off != f.off {
			// The next frame's header and page words.
			for range 1 + pageSize/8 {
				d[0] += d[1]
				d[1] += d[0]
			}
		} else {
			for range pageSize / 8 {
				d[0] += d[1]
				d[1] += d[0]
			}
		}
		binary.BigEndian.PutUint32(hh[16:20], binary.BigEndian.Uint32(hh[16:20])+d[0])
		binary.BigEndian.PutUint32(hh[20:24], binary.BigEndian.Uint32(hh[20:24])+d[1])
	}
}

// bits32le is v's big-endian bytes read little-endian.
func bits32le(v uint32) uint32 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return binary.LittleEndian.Uint32(b[:])
}

// TestWALForgedCommit turns the frames of a rolled-back transaction, left
// in the WAL after the last commit, into a committed transaction the way
// the linearity of SQLite's checksum allows (commit marker set, checksums
// adjusted), and flips the salts or the commit marker of a frame in the
// middle of the log. Recovery never serves the forged or altered frames as
// committed data: the rolled-back rows never appear, and an altered frame
// that later transactions follow is reported (ErrWALDamaged).
func TestWALForgedCommit(t *testing.T) {
	rng := seededRand(t)
	key := newKey(t)
	k := register(t, key)
	dir, snap := testDir(t), testDir(t)
	path := filepath.Join(dir, "f.db")
	c := openURI(t, path, k.Name, "")
	mustExec(t, c, schema)
	checkpoint(t, c, sqlite3.CHECKPOINT_TRUNCATE)
	var rows []row
	states := [][]row{nil} // states[j]: the rows after j transactions
	for range 5 {
		batch := genRows(rng, int64(len(rows)+1), 4, fixed(700), nil)
		insertRows(t, c, batch)
		rows = append(rows, batch...)
		states = append(states, slices.Clone(rows))
	}
	committed := len(mustReadRows(t, c))
	// A transaction that spills to the WAL and rolls back: its frames,
	// after the last commit, hold every row with another value.
	mustExec(t, c, "PRAGMA cache_size=4")
	mustExec(t, c, "BEGIN")
	mustExec(t, c, "UPDATE t SET v = randomblob(700)")
	mustExec(t, c, "ROLLBACK")
	copyFiles(t, dir, snap, "f.db", "f.db-wal")
	db := readFile(t, filepath.Join(snap, "f.db"))
	pristine := readFile(t, filepath.Join(snap, "f.db-wal"))

	// parseWAL stops at the salts of an older generation; the rolled-back
	// frames share the current ones.
	size, frames := parseWAL(t, pristine)
	lastCommit := -1
	var maxPage uint32
	for i, f := range frames {
		if f.commit != 0 {
			lastCommit = i
		}
		maxPage = max(maxPage, f.pgno)
	}
	if lastCommit < 0 || lastCommit == len(frames)-1 {
		t.Fatalf("no rolled-back frames after the last commit (%d frames, last commit %d)", len(frames), lastCommit)
	}

	try := func(name string, wal []byte) ([]row, error) {
		d := filepath.Join(testDir(t), name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, "f.db")
		writeFile(t, p, db)
		writeFile(t, p+"-wal", wal)
		kk := register(t, key)
		return readAll(p, trialOptions(kk, "wal"))
	}

	// The rolled-back tail, forged into a commit.
	for i := lastCommit + 1; i < len(frames); i++ {
		wal := slices.Clone(pristine)
		forgeCommit(wal, size, frames[i], max(maxPage, frames[lastCommit].commit))
		got, err := try(fmt.Sprintf("tail%d", i), wal)
		if err != nil {
			t.Errorf("forged commit at rolled-back frame %d: %v", i+1, err)
		}
		if len(got) != committed {
			t.Errorf("forged commit at rolled-back frame %d: %d rows, want the %d committed (forged frames served as committed)", i+1, len(got), committed)
		}
		if err := checkSubset(got, rows); err != nil {
			t.Errorf("forged commit at rolled-back frame %d: %v", i+1, err)
		}
	}

	// A frame in the middle with its salts altered: it is invalid, and the
	// intact transactions after it prove it damaged.
	mid := frames[1]
	for _, b := range []int64{8, 15} {
		wal := slices.Clone(pristine)
		wal[mid.off+b] ^= 0x01
		got, err := try(fmt.Sprintf("salt%d", b), wal)
		pe := pageErr(err)
		if !errors.Is(err, sqlitevfs.ErrWALDamaged) || pe == nil || pe.Offset != mid.off {
			t.Errorf("byte %d of frame 2 altered: %v (%d rows), want ErrWALDamaged naming the frame at %d", b, err, len(got), mid.off)
		}
		if err := checkSubset(got, rows); err != nil {
			t.Errorf("byte %d of frame 2 altered: %v", b, err)
		}
	}

	// Frame 2 forged into a commit frame, every checksum after it adjusted:
	// the forged frame is refused (so are the ones whose checksums the
	// forgery moved), and the store is the state before its transaction,
	// never a part of that transaction.
	wal := slices.Clone(pristine)
	forgeCommit(wal, size, mid, max(maxPage, frames[lastCommit].commit))
	got, err := try("mid-commit", wal)
	if err != nil && !errors.Is(err, sqlitevfs.ErrWALDamaged) {
		t.Errorf("frame 2 forged into a commit: %v", err)
	} else if err == nil {
		if d := diffRows(got, states[mid.txn]); d != "" {
			t.Errorf("frame 2 forged into a commit: not the state before its transaction: %s", d)
		}
	}
}

// TestWALSpillRollbackThenOtherWriter: connection A spills a large
// transaction to the WAL and rolls it back; connection B then commits
// frames at the same offsets; A reads. Nothing A wrote for its rolled-back
// transaction may reach the file after B's commit: every row B committed
// survives a reopen and the database passes integrity_check.
func TestWALSpillRollbackThenOtherWriter(t *testing.T) {
	rng := seededRand(t)
	k := register(t, newKey(t))
	path := filepath.Join(testDir(t), "s.db")
	a := open(t, path, encrypted(k, "wal"))
	mustExec(t, a, schema)
	if err := a.WALAutoCheckpoint(0); err != nil {
		t.Fatal(err)
	}
	b := open(t, path, encrypted(k, "wal"))
	if err := b.WALAutoCheckpoint(0); err != nil {
		t.Fatal(err)
	}
	var want []row
	for round := range 5 {
		mustExec(t, a, "PRAGMA cache_size=4")
		mustExec(t, a, "BEGIN")
		mustExec(t, a, insertSeries(100000*(round+1), 50, 900))
		mustExec(t, a, "ROLLBACK")
		batch := genRows(rng, int64(len(want)+1), 30, fixed(900), nil)
		insertRows(t, b, batch)
		want = append(want, batch...)
		checkRows(t, mustReadRows(t, a), want)
	}
	closeConn(t, a)
	closeConn(t, b)
	c := open(t, path, encrypted(k, "wal"))
	checkRows(t, mustReadRows(t, c), want)
	checkIntegrity(t, c)
}

// TestWALDamageSinglePageCommits damages a WAL of transactions that each
// write one frame of the same page (same page number and database size in
// every frame header): damage followed by later transactions is reported,
// whichever part of a frame or of the WAL header it hits; damage to the last
// transaction rolls it back.
func TestWALDamageSinglePageCommits(t *testing.T) {
	key := newKey(t)
	k := register(t, key)
	dir, snap := testDir(t), testDir(t)
	path := filepath.Join(dir, "p.db")
	c := openURI(t, path, k.Name, "")
	mustExec(t, c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
	checkpoint(t, c, sqlite3.CHECKPOINT_TRUNCATE)
	var states []string // states[j]: v of row 1 after j transactions
	states = append(states, "a")
	for j := range 6 {
		v := fmt.Sprintf("a%d", j)
		mustExec(t, c, "UPDATE t SET v = '"+v+"' WHERE id = 1")
		states = append(states, v)
	}
	copyFiles(t, dir, snap, "p.db", "p.db-wal")
	db := readFile(t, filepath.Join(snap, "p.db"))
	pristine := readFile(t, filepath.Join(snap, "p.db-wal"))
	size, frames := parseWAL(t, pristine)
	if len(frames) != 6 {
		t.Fatalf("%d frames, want one per transaction", len(frames))
	}
	for _, f := range frames[1:] {
		if f.pgno != frames[0].pgno || f.commit != frames[0].commit {
			t.Fatalf("frames differ in page or size: %+v", frames)
		}
	}

	read := func(name string, wal []byte) (string, error) {
		d := filepath.Join(testDir(t), name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, "p.db")
		writeFile(t, p, db)
		writeFile(t, p+"-wal", wal)
		c, err := engine.Open(p, trialOptions(register(t, key), "wal"))
		if err != nil {
			return "", err
		}
		defer c.Close()
		v, err := queryString(c, "SELECT v FROM t WHERE id = 1")
		return v, sqlitevfs.ConnError(c, err)
	}
	img := func(f int) int64 { return frames[f].off + 24 + int64(size)/2 }
	for _, tc := range []struct {
		name string
		off  int64 // byte flipped
		at   int64 // offset the error names
	}{
		{"frame 1 image", img(0), frames[0].off},
		{"frame 3 image", img(2), frames[2].off},
		{"frame 3 commit", frames[2].off + 7, frames[2].off},
		{"frame 3 salt", frames[2].off + 9, frames[2].off},
		{"frame 3 checksum", frames[2].off + 17, frames[2].off},
		{"WAL header salt", 17, 0},
		{"WAL header checksum", 25, 0},
	} {
		wal := slices.Clone(pristine)
		wal[tc.off] ^= 0x04
		v, err := read(tc.name, wal)
		pe := pageErr(err)
		if !errors.Is(err, sqlitevfs.ErrWALDamaged) || pe == nil || pe.Offset != tc.at {
			t.Errorf("%s damaged: got %q, %v; want ErrWALDamaged naming offset %d", tc.name, v, err, tc.at)
		}
	}
	// A zeroed 4 KiB block over the end of frame 2 and the header of
	// frame 3: two invalid frames in a row, still followed by intact
	// transactions.
	{
		wal := slices.Clone(pristine)
		at := img(1)
		clear(wal[at : at+4096])
		v, err := read("block", wal)
		if pe := pageErr(err); !errors.Is(err, sqlitevfs.ErrWALDamaged) || pe == nil || pe.Offset != frames[1].off {
			t.Errorf("4 KiB zeroed over frames 2 and 3: got %q, %v; want ErrWALDamaged naming offset %d", v, err, frames[1].off)
		}
	}
	// The last transaction's frame cannot be told from a torn write, nor
	// the one before it, which a padding copy could follow: rolled back.
	for _, f := range []int{5, 4} {
		wal := slices.Clone(pristine)
		wal[img(f)] ^= 0x04
		if v, err := read(fmt.Sprint("tail", f), wal); err != nil || v != states[f] {
			t.Errorf("frame %d damaged: got %q, %v; want %q (the state before its transaction)", f+1, v, err, states[f])
		}
	}
}

// TestWALNoFalseDamage recovers WALs that crashes leave behind and that
// hold frames of a rolled-back transaction after the last commit: a writer
// killed right after its commit's sync while it writes the sector padding
// (psow=0: the padding frame is split around the sync), and a power loss
// that kept only part of an unacknowledged last transaction. Neither is
// damage: recovery returns every acknowledged commit, without an error.
func TestWALNoFalseDamage(t *testing.T) {
	key := newKey(t)
	o, _, shim := registerShim(t, key, 0, "wal")
	dir, snap := testDir(t), testDir(t)
	path := filepath.Join(dir, "n.db")
	c := openURI(t, path, o.VFS, "&psow=0")
	mustExec(t, c, "PRAGMA cache_size=10")
	mustExec(t, c, schema)
	mustExec(t, c, insertSeries(1, 50, 300))
	// Spilled and rolled back: its frames stay after the last commit.
	mustExec(t, c, "BEGIN;"+insertSeries(1000, 300, 3000)+"; ROLLBACK")
	before := len(mustReadRows(t, c))

	// Copy the files at the first WAL write after the commit's sync: what
	// a SIGKILL there leaves on disk.
	var synced, copied bool
	shim.mu.Lock()
	shim.onSync = func(name string) {
		if strings.HasSuffix(name, "-wal") {
			synced = true
		}
	}
	shim.onChange = func(name string, off int64, p []byte) {
		if synced && !copied && strings.HasSuffix(name, "-wal") {
			copied = true
			copyFiles(t, dir, snap, "n.db", "n.db-wal")
		}
	}
	shim.mu.Unlock()
	mustExec(t, c, "INSERT INTO t(id, v) VALUES (51, x'00')")
	shim.mu.Lock()
	shim.onSync, shim.onChange = nil, nil
	shim.mu.Unlock()
	if !copied {
		t.Fatal("no WAL write after the commit's sync (no sector padding?)")
	}
	k := register(t, key)
	got, err := readAll(filepath.Join(snap, "n.db"), trialOptions(k, "wal"))
	if err != nil || len(got) != before+1 {
		t.Errorf("killed in the commit's padding: %d rows, %v; want %d rows, no error", len(got), err, before+1)
	}

	// A power loss during the next transaction's sync: one of its frames
	// still holds what was there before (a rolled-back frame).
	copyFiles(t, dir, snap, "n.db", "n.db-wal")
	prior := readFile(t, filepath.Join(snap, "n.db-wal"))
	mustExec(t, c, "BEGIN;"+insertSeries(2000, 30, 1000)+"; COMMIT")
	copyFiles(t, dir, snap, "n.db", "n.db-wal")
	wal := readFile(t, filepath.Join(snap, "n.db-wal"))
	pageSize, frames := parseWAL(t, wal)
	var txn []walFrame // the new transaction's frames
	lastCommit := -1
	for i, f := range frames {
		if f.commit != 0 {
			lastCommit = i
		}
	}
	// psow=0 pads the commit with copies of its frame: find the first.
	for lastCommit > 0 && frames[lastCommit-1].commit != 0 && frames[lastCommit-1].pgno == frames[lastCommit].pgno {
		lastCommit--
	}
	for _, f := range frames[:lastCommit+1] {
		if f.txn == frames[lastCommit].txn {
			txn = append(txn, f)
		}
	}
	if len(txn) < 3 {
		t.Fatalf("the last transaction has %d frames", len(txn))
	}
	lost := txn[1].off
	if string(prior[lost:lost+24]) == string(wal[lost:lost+24]) {
		t.Fatal("the frame replaced did not change")
	}
	fs := int64(24 + pageSize)
	copy(wal[lost:lost+fs], prior[lost:lost+fs])
	writeFile(t, filepath.Join(snap, "n.db-wal"), wal)
	got, err = readAll(filepath.Join(snap, "n.db"), trialOptions(register(t, key), "wal"))
	if err != nil || len(got) != before+1 {
		t.Errorf("power loss in an unacknowledged transaction: %d rows, %v; want %d rows, no error", len(got), err, before+1)
	}
}

// TestWALPaddingPowerLoss: with powersafe overwrite off SQLite syncs a
// commit inside its sector padding and writes the rest of the padding frame
// after the sync. A power loss before the next transaction's sync may keep
// that transaction's frames but lose the padding frame's late write.
// Recovery must open with every acknowledged commit and no ErrWALDamaged:
// nothing acknowledged was damaged.
func TestWALPaddingPowerLoss(t *testing.T) {
	key := newKey(t)
	o, _, shim := registerShim(t, key, 0, "wal")
	dir, snap := testDir(t), testDir(t)
	path := filepath.Join(dir, "q.db")
	c := openURI(t, path, o.VFS, "&psow=0")
	mustExec(t, c, schema)
	checkpoint(t, c, sqlite3.CHECKPOINT_TRUNCATE)

	var atSync [][]byte // the WAL at each of its syncs
	shim.mu.Lock()
	shim.onSync = func(name string) {
		if strings.HasSuffix(name, "-wal") {
			atSync = append(atSync, readFile(t, path+"-wal"))
		}
	}
	shim.mu.Unlock()
	defer func() { shim.mu.Lock(); shim.onSync = nil; shim.mu.Unlock() }()

	tried := 0
	for round := range 12 {
		// Transaction T, acknowledged when it returns.
		mustExec(t, c, insertSeries(100*round+1, 1+round%3, 200+37*round))
		copyFiles(t, dir, snap, "q.db")
		synced := atSync[len(atSync)-1] // the WAL at T's commit sync
		afterT := readFile(t, path+"-wal")
		acked := len(mustReadRows(t, c))
		if bytes.Equal(synced, afterT) {
			continue // no write after the sync: nothing to lose
		}
		// Transaction T+1: the WAL as it reaches its sync, unacknowledged.
		n := len(atSync)
		mustExec(t, c, insertSeries(100*round+50, 3, 900))
		if len(atSync) == n {
			t.Fatal("T+1 did not sync the WAL")
		}
		wal := bytes.Clone(atSync[n])
		// Lose the bytes T wrote after its sync.
		for i := range min(len(afterT), len(wal)) {
			if i >= len(synced) || afterT[i] != synced[i] {
				if i < len(synced) {
					wal[i] = synced[i]
				} else {
					wal[i] = 0
				}
			}
		}
		writeFile(t, filepath.Join(snap, "q.db-wal"), wal)
		os.Remove(filepath.Join(snap, "q.db-shm"))
		got, err := readAll(filepath.Join(snap, "q.db"), trialOptions(register(t, key), "wal"))
		if err != nil || len(got) != acked {
			t.Errorf("round %d: %d rows, %v; want the %d acknowledged, no error", round, len(got), err, acked)
		}
		tried++
	}
	if tried == 0 {
		t.Fatal("no commit wrote padding after its sync (psow=0 should)")
	}
	t.Logf("%d power losses in a commit's padding", tried)
}
