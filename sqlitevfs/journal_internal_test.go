package sqlitevfs

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strconv"
	"testing"
)

// testJournal returns a journal on an in-memory base file, keyed with a
// fresh key.
func testJournal(t *testing.T) (*journalFile, *memFile) {
	t.Helper()
	key := make([]byte, KeySize)
	rand.Read(key)
	v, err := Wrap(nil, key)
	if err != nil {
		t.Fatal(err)
	}
	m := &memFile{}
	return &journalFile{pager: pager{File: m, vfs: v, cipher: v.cipher, path: "test-journal", errs: new(connErrs)}, pgnoOff: -1}, m
}

// plainJournal builds the plaintext journal SQLite would hold in memory
// under IOCAP_BATCH_ATOMIC: a header (sector 512, pages of size bytes)
// and records of pages full of marker (but for the reserved bytes).
func plainJournal(size, records int, marker []byte) []byte {
	hdr := make([]byte, 512)
	copy(hdr, journalMagic[:])
	binary.BigEndian.PutUint32(hdr[8:], 0xffffffff)
	binary.BigEndian.PutUint32(hdr[12:], 0x12345678)
	binary.BigEndian.PutUint32(hdr[16:], 40)
	binary.BigEndian.PutUint32(hdr[20:], 512)
	binary.BigEndian.PutUint32(hdr[24:], uint32(size))
	j := hdr
	for i := range records {
		var pg [4]byte
		binary.BigEndian.PutUint32(pg[:], uint32(i+2))
		j = append(j, pg[:]...)
		page := bytes.Repeat(marker, size/len(marker)+1)[:size]
		clear(page[size-ReserveBytes:]) // SQLite's reserved bytes are zero
		j = append(j, page...)
		j = append(j, 0xaa, 0xbb, 0xcc, 0xdd)
	}
	return j
}

// TestJournalRefusesUnknownWrites writes to a journal what SQLite writes
// when it spills an in-memory journal (IOCAP_BATCH_ATOMIC, IOCAP_ATOMIC*):
// chunks of about 1 KiB that cut across headers, records and page images.
// Each must fail with ErrUnalignedWrite and leave the file as it was; on
// ebda354 they reached the file in plaintext. So must other writes that
// are not one of the shapes SQLite's pager writes.
func TestJournalRefusesUnknownWrites(t *testing.T) {
	const size = 4096
	marker := []byte("gofastr-refuse-marker")
	plain := plainJournal(size, 4, marker)
	chunk := 1024 - 8 // SQLite's memjournal chunk: 1 KiB less its header

	bad := map[string]struct {
		p   []byte
		off int64
	}{
		"header with data in its padding": {append(plain[:28:28], bytes.Repeat(marker, 30)[:512-28]...), 0},
		"page at a header offset":         {plain[512+4 : 512+4+size], 0},
		"page at offset ≡ 0 (mod 8)":      {plain[512+4 : 512+4+size], 512},
		"page without its page number":    {plain[512+4 : 512+4+size], 8192 + 4},
		"short piece of a page":           {plain[512+4 : 512+4+100], 512 + 4},
		"two records at once":             {plain[512 : 512+2*(size+8)], 512},
		"zero-fill of 100 bytes":          {make([]byte, 100), 0},
		"odd-sized write":                 {marker, 600},
	}
	for off := 0; off < len(plain); off += chunk {
		bad["spill chunk at "+strconv.Itoa(off)] = struct {
			p   []byte
			off int64
		}{plain[off:min(off+chunk, len(plain))], int64(off)}
	}
	for name, w := range bad {
		t.Run(name, func(t *testing.T) {
			j, m := testJournal(t)
			// A valid header first, so the journal knows the page size.
			hdr := bytes.Clone(plain[:512])
			if _, err := j.WriteAt(hdr, 0); err != nil {
				t.Fatalf("header refused: %v", err)
			}
			before := bytes.Clone(m.data)
			j.errs.reset()
			n, err := j.WriteAt(w.p, w.off)
			rec := j.errs.take()
			if err == nil || n != 0 || rec == nil || !errors.Is(rec.err, ErrUnalignedWrite) {
				t.Errorf("WriteAt(%d bytes at %d) = %d, %v (recorded %v); want 0, ErrUnalignedWrite", len(w.p), w.off, n, err, rec)
			}
			if !bytes.Equal(m.data, before) {
				t.Error("the refused write changed the file")
			}
			if bytes.Contains(m.data, marker) {
				t.Error("the journal holds plaintext")
			}
		})
	}
}

// TestJournalWriteShapes writes a journal the way SQLite's pager does
// (header, records, the header's magic and count, a stale next header's
// first byte cleared, the super-journal pointer, the persist-mode zero
// header) and reads it back: every write is accepted, no plaintext or
// plaintext checksum reaches the file, and the reads SQLite makes during
// playback see the plaintext pages and checksums.
func TestJournalWriteShapes(t *testing.T) {
	const size = 4096
	j, m := testJournal(t)
	marker := []byte("gofastr-shape-marker")
	plain := plainJournal(size, 3, marker)
	hdr := bytes.Clone(plain[:512])
	clear(hdr[:12]) // not synced yet: zero magic and count
	write := func(p []byte, off int64) {
		t.Helper()
		if n, err := j.WriteAt(p, off); err != nil || n != len(p) {
			t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
		}
	}
	write(hdr, 0)
	off := int64(512)
	for i := range 3 {
		rec := plain[512+i*(size+8):][:size+8]
		write(rec[:4], off)
		write(rec[4:4+size], off+4)
		write(rec[4+size:], off+4+size)
		off += size + 8
	}
	write(plain[:12], 0)                  // syncJournal: magic and nRec
	write([]byte{0}, 512*((off+511)/512)) // syncJournal: a stale next header's magic
	// writeSuperJournal, at the next sector boundary.
	super := []byte("/tmp/x.db-mj0123ABCD")
	var sum uint32
	for _, b := range super {
		sum += uint32(b)
	}
	soff := 512 * ((off + 511) / 512)
	var b4 [4]byte
	binary.BigEndian.PutUint32(b4[:], superPgno(size))
	write(b4[:], soff)
	write(super, soff+4)
	binary.BigEndian.PutUint32(b4[:], uint32(len(super)))
	write(b4[:], soff+4+int64(len(super)))
	binary.BigEndian.PutUint32(b4[:], sum)
	write(b4[:], soff+8+int64(len(super)))
	write(journalMagic[:], soff+12+int64(len(super)))

	if bytes.Contains(m.data, marker) {
		t.Fatal("the journal holds plaintext")
	}
	// Playback reads: page number, image, checksum.
	off = 512
	for i := range 3 {
		rec := plain[512+i*(size+8):][:size+8]
		got := make([]byte, size+8)
		if _, err := j.ReadAt(got[:4], off); err != nil {
			t.Fatal(err)
		}
		if _, err := j.ReadAt(got[4:4+size], off+4); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if _, err := j.ReadAt(got[4+size:], off+4+size); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, rec) {
			t.Errorf("record %d reads back differently", i)
		}
		if disk := m.data[off+4+size : off+8+size]; bytes.Equal(disk, rec[4+size:]) {
			t.Errorf("record %d: checksum on disk in plaintext", i)
		}
		off += size + 8
	}
	write(make([]byte, 28), 0) // zeroJournalHdr
}
