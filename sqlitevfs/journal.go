package sqlitevfs

import (
	"encoding/binary"
	"io"
)

// Rollback journal geometry (https://sqlite.org/fileformat2.html#the_rollback_journal):
// headers at sector-aligned offsets, then records of pgno[4] ‖ page ‖
// checksum[4]. Page images therefore start at offsets ≡ 4 (mod 8) and are
// exactly one page long; nothing else written to a journal is.
const (
	journalHeaderMin = 28
	journalMagic     = "\xd9\xd5\x05\xf9\x20\xa1\x63\xd7"
	// lockBytePage is the offset of the page SQLite never stores; the
	// super-journal pointer record uses its page number.
	lockBytePage = 0x40000000
)

// journalFile is a rollback journal. Record page images are sealed with the
// page number from the record as associated data; headers, page numbers,
// checksums and the super-journal pointer pass through.
type journalFile struct {
	pager
	pageSize int
	pgnoOff  int64 // offset of the page number in pgno, or -1 (0 is a header)
	pgno     [4]byte
}

// learn parses a journal header for the page size.
func (j *journalFile) learn(h []byte, off int64) {
	if off%512 != 0 || len(h) < journalHeaderMin || string(h[:8]) != journalMagic {
		return
	}
	if size := int(binary.BigEndian.Uint32(h[24:28])); validPageSize(size) {
		j.pageSize = size
	}
}

// image reports whether a read or write of n bytes at off is a page image.
func (j *journalFile) image(n int, off int64) bool {
	if j.pageSize == 0 {
		var h [journalHeaderMin]byte
		if m, _ := j.readFull(h[:], 0); m == len(h) {
			j.learn(h[:], 0)
		}
	}
	return j.pageSize != 0 && n == j.pageSize && off%8 == 4
}

// isImage reports whether pgno is a real page (not the super-journal
// pointer's marker).
func (j *journalFile) isImage(pgno uint32) bool {
	return pgno != lockBytePage/uint32(j.pageSize)+1
}

func (j *journalFile) WriteAt(p []byte, off int64) (int, error) {
	if !j.image(len(p), off) {
		j.learn(p, off)
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
	if !j.isImage(pgno) {
		return j.File.WriteAt(p, off)
	}
	ad := associated(kindJournal, pgno, nil)
	return j.seal(p, off, 0, ad[:])
}

// ReadAt opens page images; one that fails authentication is an error, so
// a damaged journal is never played back into the database.
func (j *journalFile) ReadAt(p []byte, off int64) (int, error) {
	if !j.image(len(p), off) {
		n, err := j.File.ReadAt(p, off)
		j.learn(p[:n], off)
		return n, err
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
	if !j.isImage(pgno) {
		return copy(p, raw[4:]), nil
	}
	ad := associated(kindJournal, pgno, nil)
	if err := j.cipher.Open(p, raw[4:], 0, ad[:]); err != nil {
		return 0, j.pageError(kindJournal, pgno, off, ErrAuth)
	}
	return len(p), nil
}
