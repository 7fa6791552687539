package sqlitevfs_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/sqlitevfs"
)

// journalHdr is one rollback journal header as found on disk.
type journalHdr struct {
	off                                      int
	magic                                    bool // the magic, else zeros (not synced yet)
	nRec, cksumInit, nPage, sector, pageSize uint32
	padZero                                  bool // zeros up to min(page size, sector size)
}

// journalRec is one record whose image opened under the key.
type journalRec struct {
	off   int
	pgno  uint32
	cksum uint32 // on disk
	plain uint32 // SQLite's checksum of the plaintext page
}

// parseJournal walks a rollback journal as SQLite plays it back: a header
// at a sector boundary, records after the header's sector until one does
// not open, the next header at the next sector boundary. It opens every
// record image with c and computes SQLite's checksum of the plaintext
// (pager_cksum: the header's cksumInit plus the bytes at page size - 200,
// - 400, … above 0).
func parseJournal(t testing.TB, c *pagecrypt.Cipher, j []byte) (hdrs []journalHdr, recs []journalRec) {
	t.Helper()
	be := binary.BigEndian
	off := 0
	for off+28 <= len(j) {
		h := journalHdr{
			off: off, magic: string(j[off:off+8]) == "\xd9\xd5\x05\xf9\x20\xa1\x63\xd7",
			nRec: be.Uint32(j[off+8:]), cksumInit: be.Uint32(j[off+12:]), nPage: be.Uint32(j[off+16:]),
			sector: be.Uint32(j[off+20:]), pageSize: be.Uint32(j[off+24:]),
		}
		if !h.magic && (be.Uint64(j[off:]) != 0 || h.sector < 32 || h.pageSize < 512) {
			break
		}
		n := int(min(h.sector, h.pageSize))
		h.padZero = off+n <= len(j) && allZeroBytes(j[off+28:off+n])
		hdrs = append(hdrs, h)
		size, r := int(h.pageSize), off+int(h.sector)
		for r+size+8 <= len(j) {
			pgno := be.Uint32(j[r:])
			var ad [16]byte
			ad[0] = 3 // journal record
			be.PutUint32(ad[4:], pgno)
			plain := make([]byte, size)
			if pgno == 0 || c.Open(plain, j[r+4:r+4+size], 0, ad[:]) != nil {
				break
			}
			sum := h.cksumInit
			for i := size - 200; i > 0; i -= 200 {
				sum += uint32(plain[i])
			}
			recs = append(recs, journalRec{off: r, pgno: pgno, cksum: be.Uint32(j[r+4+size:]), plain: sum})
			r += size + 8
		}
		next := (r + int(h.sector) - 1) / int(h.sector) * int(h.sector)
		if next <= off {
			break
		}
		off = next
	}
	return hdrs, recs
}

func allZeroBytes(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// checkJournal parses the journal at path with key and fails the test if
// a record's on-disk checksum is SQLite's checksum of the plaintext page,
// or a header field is not what SQLite's header holds: the magic (or
// zeros), a record count, a random cksumInit, the database size in pages
// (dbPages), the sector and page sizes, zero padding. It returns the
// headers and the number of records.
func checkJournal(t testing.TB, key []byte, path string, dbPages int64, pageSize int) ([]journalHdr, int) {
	t.Helper()
	c, err := pagecrypt.New(key)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, recs := parseJournal(t, c, readFile(t, path))
	if len(hdrs) == 0 || len(recs) == 0 {
		t.Fatalf("%s: %d headers, %d records: nothing to check", filepath.Base(path), len(hdrs), len(recs))
	}
	for _, r := range recs {
		if r.cksum == r.plain {
			t.Errorf("record of page %d at offset %d: checksum %08x is SQLite's checksum of the plaintext page", r.pgno, r.off, r.cksum)
		}
	}
	for _, h := range hdrs {
		switch {
		case h.nRec != 0 && h.nRec != 0xffffffff && int(h.nRec) > len(recs):
			t.Errorf("header at %d: nRec %d, but %d records", h.off, h.nRec, len(recs))
		case int64(h.nPage) != dbPages:
			t.Errorf("header at %d: nPage %d, want the database's %d pages", h.off, h.nPage, dbPages)
		case int(h.pageSize) != pageSize || (h.sector != 512 && h.sector != 4096):
			t.Errorf("header at %d: page size %d, sector size %d", h.off, h.pageSize, h.sector)
		case !h.padZero:
			t.Errorf("header at %d: padding is not zero", h.off)
		}
	}
	return hdrs, len(recs)
}

// TestJournalCaps runs a write transaction that spills a tiny page cache
// on a base VFS advertising each device characteristic (and all at once),
// in every journal mode, and checks: no file ever holds the rows' marker
// (raw, reversed or hex); the rollback journal's record checksums are not
// SQLite's checksums of the plaintext; a crash in the middle of the
// transaction (its hot journal) and one at a random write recover to the
// rows before or after it, intact.
//
// On ebda354 IOCAP_BATCH_ATOMIC and IOCAP_ATOMIC* reached SQLite, which
// then kept the journal in memory and spilled it in plaintext chunks, and
// the checksums were SQLite's.
func TestJournalCaps(t *testing.T) {
	names := make([]string, 0, len(shimCaps))
	for name := range shimCaps {
		names = append(names, name)
	}
	slices.Sort(names)
	modes := []string{"delete", "truncate", "persist", "wal"}
	if testing.Short() {
		names = []string{"batchatomic", "atomic4k", "safeappend", "all-but-immut"}
	}
	for _, name := range names {
		for _, mode := range modes {
			t.Run(name+"/"+mode, func(t *testing.T) { journalCaps(t, shimCaps[name], mode) })
		}
	}
}

func journalCaps(t *testing.T, caps vfs.DeviceCharacteristic, mode string) {
	rng := seededRand(t)
	key := newKey(t)
	o, _, shim := registerShim(t, key, caps, mode)
	dir := testDir(t)
	path := filepath.Join(dir, "caps.db")
	marker := newMarker()
	scanAll := func(phase string) {
		t.Helper()
		hits, scanned := scanDirs(t, marker, dir)
		for _, h := range hits {
			t.Errorf("%s: marker found in %s", phase, h)
		}
		if len(scanned) == 0 {
			t.Errorf("%s: nothing scanned", phase)
		}
	}

	c := open(t, path, o)
	mustExec(t, c, schema)
	before := genRows(rng, 1, 60, fixed(1500), marker)
	insertRows(t, c, before)
	scanAll("committed")
	pages := queryInt(t, c, "PRAGMA page_count")

	mustExec(t, c, "PRAGMA cache_size=5")
	log, stop := record(t, shim, path)
	mustExec(t, c, "BEGIN IMMEDIATE")
	if err := c.Exec("UPDATE t SET v = randomblob(length(v))"); err != nil {
		t.Fatalf("spilling UPDATE: %v", sqlitevfs.ConnError(c, err))
	}
	scanAll("spilled write transaction")
	hot := len(log.ops)
	if mode != "wal" {
		checkJournal(t, key, path+"-journal", pages, 4096)
	}
	if err := c.Exec("COMMIT"); err != nil {
		t.Fatalf("COMMIT: %v", sqlitevfs.ConnError(c, err))
	}
	stop()
	after := mustReadRows(t, c)
	scanAll("after rewrite")
	closeConn(t, c)
	scanAll("closed")

	// recover opens the files in dir as a crash left them and checks the
	// rows: those before the transaction, after it, or either.
	recover := func(what, dir, base, want string) {
		t.Helper()
		c, err := engine.Open(filepath.Join(dir, base), o)
		if err != nil {
			t.Fatalf("%s: open: %v", what, err)
		}
		defer c.Close()
		got, err := readRows(c)
		if err != nil {
			t.Fatalf("%s: read: %v", what, sqlitevfs.ConnError(c, err))
		}
		isBefore, isAfter := diffRows(got, before) == "", diffRows(got, after) == ""
		switch {
		case want == "before" && !isBefore:
			t.Fatalf("%s: not the rows before the transaction: %s", what, diffRows(got, before))
		case want == "after" && !isAfter:
			t.Fatalf("%s: not the rows after the transaction: %s", what, diffRows(got, after))
		case !isBefore && !isAfter:
			t.Fatalf("%s: rows are neither those before nor after the transaction: %s", what, diffRows(got, before))
		}
		checkIntegrity(t, c)
	}
	// A crash with the hot journal of the spilled transaction, and at
	// random points of the transaction and its commit. Recovery goes
	// through the shim too.
	base := filepath.Base(path)
	recover("crash with a hot journal", log.crash(t, hot), base, "before")
	for range trials(4, 2) {
		n := rng.IntN(len(log.ops) + 1)
		want := map[bool]string{true: "after", false: "either"}[n == len(log.ops)]
		recover(fmt.Sprintf("crash before change %d of %d", n, len(log.ops)), log.crash(t, n), base, want)
	}
}

// TestJournalChecksumMasked writes the same spilled transaction twice in
// each rollback journal mode and checks the journal against its plaintext:
// no record checksum is SQLite's checksum of the plaintext page (on
// ebda354 every one was), the headers hold only the magic, counts, sizes
// and a cksumInit that differs between the two identical transactions (it
// is random, not derived from the data), and the journal still plays back:
// ROLLBACK and a crash with the hot journal restore the rows.
func TestJournalChecksumMasked(t *testing.T) {
	for _, mode := range []string{"delete", "truncate", "persist"} {
		t.Run(mode, func(t *testing.T) {
			rng := seededRand(t)
			key := newKey(t)
			k := register(t, key)
			dir := testDir(t)
			path := filepath.Join(dir, "masked.db")
			c := open(t, path, encrypted(k, mode))
			mustExec(t, c, schema)
			want := genRows(rng, 1, 60, fixed(1500), nil)
			insertRows(t, c, want)
			pages := queryInt(t, c, "PRAGMA page_count")
			mustExec(t, c, "PRAGMA cache_size=5")

			var inits []uint32
			for i := range 2 {
				mustExec(t, c, "BEGIN IMMEDIATE")
				mustExec(t, c, "UPDATE t SET v = zeroblob(length(v))")
				hdrs, n := checkJournal(t, key, path+"-journal", pages, 4096)
				t.Logf("pass %d: %d headers, %d records", i, len(hdrs), n)
				inits = append(inits, hdrs[0].cksumInit)
				crash := testDir(t)
				copyFiles(t, dir, crash, "masked.db", "masked.db-journal")
				mustExec(t, c, "ROLLBACK")
				checkRows(t, mustReadRows(t, c), want)

				cc, err := engine.Open(filepath.Join(crash, "masked.db"), encrypted(k, mode))
				if err != nil {
					t.Fatalf("open after crash: %v", err)
				}
				got, err := readRows(cc)
				if err != nil {
					t.Fatalf("read after hot journal playback: %v", sqlitevfs.ConnError(c, err))
				}
				checkRows(t, got, want)
				checkIntegrity(t, cc)
				closeConn(t, cc)
				if _, err := os.Stat(filepath.Join(crash, "masked.db-journal")); mode == "delete" && err == nil {
					t.Error("hot journal not deleted after playback")
				}
			}
			if inits[0] == inits[1] {
				t.Errorf("cksumInit %08x repeats in two identical transactions: not random", inits[0])
			}
		})
	}
}

// TestJournalGeometry journals spilled transactions with the smallest and
// largest page sizes, with and without powersafe overwrite (sector size
// 512 or 4096, so headers shorter than, equal to and longer than a page's
// share of a sector), synchronous on and off (headers written with and
// without their magic first), in each rollback journal mode: every write
// SQLite makes is accepted, no checksum is the plaintext's, and ROLLBACK
// and hot-journal recovery restore the rows. On ebda354 sectors larger than
// pages (psow=0, pages under 4 KiB) left a plaintext record in the journal.
func TestJournalGeometry(t *testing.T) {
	for _, size := range []int{512, 4096, 65536} {
		for _, psow := range []string{"1", "0"} {
			for _, sync := range []string{"full", "off"} {
				for _, mode := range []string{"delete", "truncate", "persist"} {
					name := fmt.Sprintf("page%d/psow%s/sync-%s/%s", size, psow, sync, mode)
					t.Run(name, func(t *testing.T) { journalGeometry(t, size, psow, sync, mode) })
				}
			}
		}
	}
}

func journalGeometry(t *testing.T, size int, psow, sync, mode string) {
	rng := seededRand(t)
	key := newKey(t)
	k := register(t, key)
	dir := testDir(t)
	path := filepath.Join(dir, "geo.db")
	uri := engine.URI(path, k.Name) + "&psow=" + psow
	openConn := func(uri string) *sqlite3.Conn {
		t.Helper()
		c, err := sqlite3.Open(uri)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := sqlitevfs.SetReserve(c, "main"); err != nil {
			t.Fatal(err)
		}
		mustExec(t, c, fmt.Sprintf("PRAGMA page_size=%d; PRAGMA journal_mode=%s; PRAGMA synchronous=%s", size, mode, sync))
		return c
	}
	c := openConn(uri)
	if err := c.Exec(schema); err != nil {
		t.Fatalf("%s: %v", schema, sqlitevfs.ConnError(c, err))
	}
	marker := newMarker()
	want := genRows(rng, 1, 40, func(i int) int { return 100 + rng.IntN(2*size) }, marker)
	if err := tryInsertRows(c, want); err != nil {
		t.Fatalf("insert: %v", sqlitevfs.ConnError(c, err))
	}
	pages := queryInt(t, c, "PRAGMA page_count")
	if got := queryInt(t, c, "PRAGMA page_size"); got != int64(size) {
		t.Fatalf("page size %d, want %d", got, size)
	}
	mustExec(t, c, "PRAGMA cache_size=5")
	mustExec(t, c, "BEGIN IMMEDIATE")
	if err := c.Exec("UPDATE t SET v = randomblob(length(v))"); err != nil {
		t.Fatalf("spilling UPDATE: %v", sqlitevfs.ConnError(c, err))
	}
	checkJournal(t, key, path+"-journal", pages, size)
	hits, _ := scanDirs(t, marker, dir)
	for _, h := range hits {
		t.Errorf("spilled write transaction: marker found in %s", h)
	}
	crash := testDir(t)
	copyFiles(t, dir, crash, "geo.db", "geo.db-journal")
	if err := c.Exec("ROLLBACK"); err != nil {
		t.Fatalf("ROLLBACK: %v", sqlitevfs.ConnError(c, err))
	}
	checkRows(t, mustReadRows(t, c), want)
	if err := c.Exec("UPDATE t SET v = randomblob(length(v)) WHERE id % 2 = 0"); err != nil {
		t.Fatalf("UPDATE: %v", sqlitevfs.ConnError(c, err))
	}
	checkIntegrity(t, c)

	cc := openConn(engine.URI(filepath.Join(crash, "geo.db"), k.Name) + "&psow=" + psow)
	got, err := readRows(cc)
	if err != nil {
		t.Fatalf("read after hot-journal recovery: %v", sqlitevfs.ConnError(c, err))
	}
	checkRows(t, got, want)
	checkIntegrity(t, cc)
}
