package sqlitevfs

import (
	"encoding/binary"
	"io"
)

// Rollback journal geometry (https://sqlite.org/fileformat2.html#the_rollback_journal):
// headers at sector-aligned offsets, then records of pgno[4] ‖ page ‖
// checksum[4]. Page images therefore start at offsets ≡ 4 (mod 8) and are
// exactly one page long; nothing else read or written is a power of two of
// at least 512 bytes at such an offset (headers sit at offsets ≡ 0, page
// numbers and checksums are 4 bytes). The image test relies on that alone:
// with synchronous on, SQLite writes a header's magic only when it syncs,
// after the records, so the header cannot tell the page size in time.
const (
	// lockBytePage is the offset of the page SQLite never stores; the
	// super-journal pointer record uses its page number.
	lockBytePage = 0x40000000
)

// journalFile is a rollback journal. Record page images are sealed with the
// page number from the record as associated data; headers, page numbers,
// checksums and the super-journal pointer pass through.
type journalFile struct {
	pager
	pgnoOff int64 // offset of the page number in pgno, or -1 (0 is a header)
	pgno    [4]byte
}

// image reports whether a read or write of n bytes at off is a page image.
func image(n int, off int64) bool {
	return off%8 == 4 && validPageSize(n)
}

// isPage reports whether pgno is a real page number for pages of size
// bytes, not the marker of the super-journal pointer record.
func isPage(pgno uint32, size int) bool {
	return pgno != lockBytePage/uint32(size)+1
}

func (j *journalFile) WriteAt(p []byte, off int64) (int, error) {
	if !image(len(p), off) {
		if len(p) == 4 {
			copy(j.pgno[:], p)
			j.pgnoOff = off
		}
		return j.File.WriteAt(p, off)
	}
	if j.pgnoOff != off-4 {
		if _, err := j.readFull(j.pgno[:], off-4); err != nil {
			return 0, err
		}
		j.pgnoOff = off - 4
	}
	pgno := binary.BigEndian.Uint32(j.pgno[:])
	if !isPage(pgno, len(p)) {
		return j.File.WriteAt(p, off)
	}
	ad := associated(kindJournal, pgno)
	return j.seal(p, off, 0, ad[:])
}

// ReadAt opens page images; one that fails authentication is an error, so
// a damaged journal is never played back into the database.
func (j *journalFile) ReadAt(p []byte, off int64) (int, error) {
	if !image(len(p), off) {
		return j.File.ReadAt(p, off)
	}
	raw := j.scratch(4 + len(p))
	n, err := j.readFull(raw, off-4)
	if n <= 4 && err == io.EOF {
		return 0, io.EOF
	}
	pgno := binary.BigEndian.Uint32(raw[:4])
	if err == io.EOF {
		return 0, j.pageError(kindJournal, pgno, off, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return 0, err
	}
	if !isPage(pgno, len(p)) {
		return copy(p, raw[4:]), nil
	}
	ad := associated(kindJournal, pgno)
	if err := j.cipher.OpenScratch(p, raw[4:], 0, ad[:]); err != nil {
		return 0, j.pageError(kindJournal, pgno, off, ErrAuth)
	}
	return len(p), nil
}
