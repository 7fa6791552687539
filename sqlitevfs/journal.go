package sqlitevfs

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"io"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/pagecrypt"
)

// Rollback journal geometry (https://sqlite.org/fileformat2.html#the_rollback_journal
// and SQLite's pager.c): headers at sector-aligned offsets, then records of
// pgno[4] ‖ page ‖ checksum[4]. Page images therefore start at offsets ≡ 4
// (mod 8) and are exactly one page long; nothing else read or written is a
// power of two of at least 512 bytes at such an offset (headers sit at
// offsets ≡ 0, page numbers and checksums are 4 bytes).
const (
	// lockBytePage is the offset of the page SQLite never stores; the
	// super-journal pointer record uses its page number.
	lockBytePage = 0x40000000
	// journalHeaderFields is the size of a journal header's fields:
	// magic[8] ‖ nRec[4] ‖ cksumInit[4] ‖ nPage[4] ‖ sector size[4] ‖
	// page size[4]. Zeros pad the header to min(page size, sector size).
	journalHeaderFields = 28
	// maxSuperName bounds the super-journal name a journal records.
	maxSuperName = 4096
)

// journalMagic starts every finished journal header and ends the
// super-journal pointer record.
var journalMagic = [8]byte{0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7}

// journalFile is a rollback journal. Record page images are sealed with the
// page number from the record as associated data, and record checksums are
// masked (see maskChecksum); headers, page numbers and the super-journal
// pointer pass through. Every write is checked against the few shapes
// SQLite's pager writes to a journal (see WriteAt); anything else is
// refused, because it could only be written in plaintext.
type journalFile struct {
	pager
	pageSize int   // from the journal header, 0 until known
	pgnoOff  int64 // offset of the page number in pgno, or -1 (0 is a header)
	pgno     [4]byte

	// The record checksum that follows an image is masked with the
	// image's trailer: sealEnd and readEnd are the offsets just past the
	// last image sealed and opened (0 if none: offset 0 is a header), info
	// their mask inputs.
	sealEnd, readEnd   int64
	sealInfo, readInfo [maskInfoSize]byte

	// The super-journal pointer record being written: offset of its page
	// number (0 if none: it follows a header), then the name's length and
	// checksum.
	superOff int64
	superLen int
	superSum uint32

	// wrote is set by the first write: the journal of this connection's
	// own transaction, not a hot journal left by a crash.
	wrote bool
}

// image reports whether a read or write of n bytes at off is a page image.
func image(n int, off int64) bool {
	return off%8 == 4 && validPageSize(n)
}

// isPage reports whether pgno is a real page number for pages of size
// bytes, not the marker of the super-journal pointer record.
func isPage(pgno uint32, size int) bool {
	return pgno != superPgno(size)
}

// superPgno is the page number of the super-journal pointer record
// (SQLite's PAGER_SJ_PGNO): that of the page holding the lock byte.
func superPgno(size int) uint32 {
	return lockBytePage/uint32(size) + 1
}

// size returns the page size of the journal's records, from the last
// header written or the one at offset 0, or 0 if unknown. (SQLite plays a
// journal back with the page size in its header, too.)
func (j *journalFile) size() int {
	if j.pageSize == 0 {
		var h [journalHeaderFields]byte
		if n, _ := j.readFull(h[:], 0); n == len(h) {
			if s := int(binary.BigEndian.Uint32(h[24:28])); validPageSize(s) {
				j.pageSize = s
			}
		}
	}
	return j.pageSize
}

// WriteAt seals record images, masks record checksums and passes the rest
// through if it is one of the writes SQLite's pager makes to a journal:
//
//   - a header (writeJournalHdr): the fields and zeros, with either the
//     magic and a record count or 12 zero bytes in front, min(page size,
//     sector size) bytes long, or copies of it up to the sector size (a
//     header fills its sector; where pages are smaller than sectors, the
//     SQLite we run writes the copies in one call), at a multiple of its
//     length;
//   - a header sector followed by one record, in one write: how SQLite
//     spills a journal it buffered in memory (see journalHeaderRecord);
//   - a header's magic and nRec (syncJournal): 12 bytes at a sector
//     boundary, starting with the magic;
//   - a zero byte at a sector boundary (syncJournal clears the magic of a
//     stale next header), and 28 zero bytes at 0 (zeroJournalHdr, persist
//     mode);
//   - a record (pagerAddPageToRollbackJournal): a non-zero page number at
//     an offset ≡ 0 (mod 8), the page image right after it, its checksum
//     right after the image;
//   - the super-journal pointer record (writeSuperJournal): the page number
//     of the lock-byte page, the super-journal's name, its length, its
//     checksum (the sum of its bytes) and the magic, each right after the
//     other.
//
// Anything else is refused with ErrUnalignedWrite and not written: it
// could only reach the file in plaintext. (SQLite writes nothing else
// while DeviceCharacteristics hides the atomic-write capabilities.)
func (j *journalFile) WriteAt(p []byte, off int64) (int, error) {
	j.wrote = true
	n := len(p)
	if j.superOff > 0 {
		if ok, done := j.superRecord(p, off); ok {
			if done {
				j.superOff = 0
			}
			return j.File.WriteAt(p, off)
		}
		j.superOff = 0
	}
	size := j.size()
	switch {
	case n == 4 && off%8 == 0 && binary.BigEndian.Uint32(p) != 0:
		copy(j.pgno[:], p)
		j.pgnoOff = off
		if size != 0 && off > 0 && !isPage(binary.BigEndian.Uint32(p), size) {
			j.superOff, j.superLen = off, -1
		}
		return j.File.WriteAt(p, off)

	case image(n, off) && n == size:
		return j.sealRecord(p, off)

	case n == 4 && off%8 == 4 && size != 0:
		var info [maskInfoSize]byte
		if off == j.sealEnd && off > 0 {
			info = j.sealInfo
		} else if err := j.recordInfo(&info, off, size); err != nil {
			return 0, err
		}
		var sum [4]byte
		copy(sum[:], p)
		j.cipher.Mask(sum[:], info[:])
		return j.File.WriteAt(sum[:], off)

	case journalHeader(p, off, size):
		j.pageSize = int(binary.BigEndian.Uint32(p[24:28]))
		return j.File.WriteAt(p, off)

	case n >= journalHeaderFields && journalHeaderRecord(p, off, size):
		return j.headerRecord(p, off)

	case n == 12 && off%32 == 0 && [8]byte(p) == journalMagic,
		n == 1 && off%32 == 0 && p[0] == 0,
		n == journalHeaderFields && off == 0 && allZero(p):
		return j.File.WriteAt(p, off)
	}
	return 0, j.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
}

// journalHeader reports whether p, written at off, is a journal header as
// writeJournalHdr writes it, for records of size bytes if size is known.
func journalHeader(p []byte, off int64, size int) bool {
	n := len(p)
	if n < journalHeaderFields || off%int64(n) != 0 {
		return false
	}
	sector := int(binary.BigEndian.Uint32(p[20:24]))
	page := int(binary.BigEndian.Uint32(p[24:28]))
	if [8]byte(p) != journalMagic && !allZero(p[:12]) {
		return false // the magic and any count, or zeros (not synced yet)
	}
	if !validPageSize(page) || (size != 0 && page != size) ||
		sector < 32 || sector > 65536 || sector&(sector-1) != 0 {
		return false
	}
	// One header of min(page size, sector size) bytes, or copies of it
	// filling the header's sector.
	m := min(page, sector)
	if n%m != 0 || n > sector && n != m || !allZero(p[journalHeaderFields:m]) {
		return false
	}
	for i := m; i < n; i += m {
		if !bytes.Equal(p[i+12:i+m], p[12:m]) || !bytes.Equal(p[i:i+12], p[:12]) && !allZero(p[i:i+12]) {
			return false
		}
	}
	return true
}

// journalHeaderRecord reports whether p, written at off, is a journal
// header sector followed by one record, as SQLite's in-memory journal
// spills them in one write: SQLite buffers the journal in memory, up to one
// header and one record, when the sector size exceeds the page size (and,
// were they not hidden, with the IOCAP_ATOMIC* capabilities).
func journalHeaderRecord(p []byte, off int64, size int) bool {
	sector := int(binary.BigEndian.Uint32(p[20:24]))
	page := int(binary.BigEndian.Uint32(p[24:28]))
	if sector < journalHeaderFields || sector > 65536 || !validPageSize(page) || len(p) != sector+4+page+4 {
		return false
	}
	pgno := binary.BigEndian.Uint32(p[sector:])
	return journalHeader(p[:sector], off, size) && pgno != 0 && isPage(pgno, page)
}

// headerRecord writes a header and a record (see journalHeaderRecord),
// the record's image sealed and its checksum masked.
func (j *journalFile) headerRecord(p []byte, off int64) (int, error) {
	sector := int(binary.BigEndian.Uint32(p[20:24]))
	j.pageSize = int(binary.BigEndian.Uint32(p[24:28]))
	pgno := binary.BigEndian.Uint32(p[sector:])
	img := p[sector+4 : sector+4+j.pageSize]
	out := j.scratch(len(p))
	copy(out, p[:sector+4])
	sealed := out[sector+4 : sector+4+j.pageSize]
	ad := associated(kindJournal, pgno)
	j.cipher.Seal(sealed, img, 0, ad[:])
	info := maskInfo(pgno, sealed)
	sum := out[sector+4+j.pageSize:]
	copy(sum, p[sector+4+j.pageSize:])
	j.cipher.Mask(sum, info[:])
	j.sealEnd, j.pgnoOff = 0, -1
	if _, err := j.File.WriteAt(out, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// superRecord checks a write that continues the super-journal pointer
// record at j.superOff; done reports the record's last write.
func (j *journalFile) superRecord(p []byte, off int64) (ok, done bool) {
	n := len(p)
	switch {
	case j.superLen < 0 && off == j.superOff+4 && n >= 1 && n <= maxSuperName:
		var sum uint32
		for _, b := range p {
			if b == 0 {
				return false, false
			}
			sum += uint32(b)
		}
		j.superLen, j.superSum = n, sum
		return true, false
	case j.superLen < 0:
		return false, false
	case n == 4 && off == j.superOff+4+int64(j.superLen):
		return binary.BigEndian.Uint32(p) == uint32(j.superLen), false
	case n == 4 && off == j.superOff+8+int64(j.superLen):
		return binary.BigEndian.Uint32(p) == j.superSum, false
	case n == 8 && off == j.superOff+12+int64(j.superLen):
		return [8]byte(p) == journalMagic, true
	}
	return false, false
}

// sealRecord seals the page image of the record whose page number is at
// off-4 and remembers its mask input for the checksum that follows.
func (j *journalFile) sealRecord(p []byte, off int64) (int, error) {
	if j.pgnoOff != off-4 {
		if _, err := j.readFull(j.pgno[:], off-4); err == io.EOF {
			return 0, j.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
		} else if err != nil {
			return 0, err
		}
		j.pgnoOff = off - 4
	}
	pgno := binary.BigEndian.Uint32(j.pgno[:])
	if pgno == 0 || !isPage(pgno, len(p)) {
		return 0, j.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
	}
	ad := associated(kindJournal, pgno)
	out := j.scratch(len(p))
	j.cipher.Seal(out, p, 0, ad[:])
	j.sealEnd = 0
	if _, err := j.File.WriteAt(out, off); err != nil {
		return 0, err
	}
	j.sealInfo = maskInfo(pgno, out)
	j.sealEnd = off + int64(len(p))
	return len(p), nil
}

// maskInfoSize is the size of a checksum's mask input.
const maskInfoSize = adSize + pagecrypt.EpochSize + pagecrypt.NonceSize

// maskInfo returns the mask input of the checksum of the record of page
// pgno whose sealed image is sealed: the image's associated data and the
// epoch ‖ nonce of its trailer. SQLite computes a record checksum from the
// plaintext page (pager_cksum: a random per-journal value plus every 200th
// byte); masked with a value only the key can compute, fresh for every seal
// since the trailer is random, it reveals nothing about the page.
func maskInfo(pgno uint32, sealed []byte) [maskInfoSize]byte {
	var info [maskInfoSize]byte
	ad := associated(kindJournal, pgno)
	copy(info[:], ad[:])
	copy(info[adSize:], sealed[len(sealed)-pagecrypt.Overhead:])
	return info
}

// recordInfo reads back the mask input of the checksum at off: the page
// number and the image's trailer in front of it.
func (j *journalFile) recordInfo(info *[maskInfoSize]byte, off int64, size int) error {
	start := off - int64(size) - 4
	if start < 0 {
		return j.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
	}
	var pg [4]byte
	var tr [pagecrypt.Overhead]byte
	if _, err := j.readFull(pg[:], start); err != nil {
		return err
	}
	if _, err := j.readFull(tr[:], off-pagecrypt.Overhead); err != nil {
		return err
	}
	pgno := binary.BigEndian.Uint32(pg[:])
	if pgno == 0 || !isPage(pgno, size) {
		return j.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
	}
	*info = maskInfo(pgno, tr[:])
	return nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// ReadAt opens page images; one that fails authentication is an error, so
// a damaged journal is never played back into the database. A 4-byte read
// right after an image is its record's checksum (pager_playback_one_page
// reads page number, image and checksum in turn) and is unmasked.
func (j *journalFile) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 4 && off == j.readEnd && off > 0 {
		j.readEnd = 0
		n, err := j.readFull(p, off)
		if err != nil {
			return n, err
		}
		j.cipher.Mask(p, j.readInfo[:])
		return n, nil
	}
	j.readEnd = 0
	if !image(len(p), off) || (j.size() != 0 && len(p) != j.size()) {
		return j.File.ReadAt(p, off)
	}
	raw := j.scratch(4 + len(p))
	n, err := j.readFull(raw, off-4)
	if n <= 4 && err == io.EOF {
		return 0, io.EOF
	}
	pgno := binary.BigEndian.Uint32(raw[:4])
	if err == io.EOF {
		if !j.wrote {
			// A hot journal cut inside a record: SQLite ends the
			// playback at a short read, as for a torn tail.
			return 0, io.EOF
		}
		return 0, j.pageError(kindJournal, pgno, off, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return 0, err
	}
	if !isPage(pgno, len(p)) {
		return copy(p, raw[4:]), nil
	}
	info := maskInfo(pgno, raw[4:])
	ad := associated(kindJournal, pgno)
	if err := j.cipher.OpenScratch(p, raw[4:], 0, ad[:]); err != nil {
		if j.wrote {
			return 0, j.pageError(kindJournal, pgno, off, authError(err))
		}
		// Playing back a hot journal: a record a crash left half
		// written (its page number new, its image stale) is normal when
		// SQLite does not count the records (no sync, safe append).
		// Random bytes make SQLite's record checksum reject it and end
		// the playback there, exactly as it does for a torn record.
		rand.Read(p)
	}
	j.readInfo, j.readEnd = info, off+int64(len(p))
	return len(p), nil
}

// Truncate forgets the records it cuts off.
func (j *journalFile) Truncate(size int64) error {
	j.pgnoOff, j.sealEnd, j.readEnd, j.superOff = -1, 0, 0, 0
	return j.File.Truncate(size)
}
