package sqlitevfs

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"slices"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/pagecrypt"
)

// WAL geometry (https://sqlite.org/fileformat2.html#walformat): a 32-byte
// header, then frames of a 24-byte frame header and one page image. A frame
// header is pgno[4] ‖ commit[4] ‖ salt1[4] ‖ salt2[4] ‖ checksum[8].
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walChecksumOff     = 16 // the checksum within a frame header

	headerComplete = 1<<walFrameHeaderSize - 1 // every byte of a frame header
)

// walFile is a write-ahead log.
//
// A frame's page image is sealed exactly as the page would be in the
// database file, bound to the page number from its frame header, so a frame
// cannot be redirected to another page, and a checkpoint copies sealed
// images into the database without opening and resealing them (see
// dbFile.copySealed).
//
// SQLite's frame checksum is a running sum over the plaintext of every
// frame, so it never reaches the file as is: it is stored XORed with a mask
// (pagecrypt's Cipher.Mask) over the frame's page number, commit marker,
// salts, file offset and the trailer of its sealed image. The trailer's
// random epoch and nonce make every mask fresh, and a frame whose header
// fields were changed unmasks to a checksum SQLite rejects: the commit
// structure of the log is authenticated by SQLite's own checksum test.
// Because the mask depends on the image, a frame header SQLite writes is
// held until its image arrives, which masks it with the new trailer (the
// append path), or, where SQLite rewrites the checksum of a frame it just
// read (a transaction whose pages it overwrote in place,
// walRewriteChecksums), masked at once with the trailer of the image in the
// file. Any other operation but a sync writes a held header as the file's
// image masks it. A page image
// overwritten in place keeps the header masked for its old image until
// SQLite rewrites that header, which it always does before the
// transaction commits.
//
// WAL recovery (whole-frame reads in order after a read of the WAL header)
// also checks each frame itself; see recovery.
//
// Without powersafe overwrite, SQLite pads a commit to a sector boundary
// and splits the padding frame that crosses it around an fsync. The first
// piece of a split image (or header) is held until the rest arrives, and
// the frame is sealed and written whole: the padding frame only matters
// once complete, and the commit before it is synced.
type walFile struct {
	pager
	db       *dbFile // the connection's database file
	pageSize int

	// The frame header SQLite wrote last, with its real checksum.
	hdrOff  int64 // frame offset of hdr, or -1
	hdr     [walFrameHeaderSize]byte
	hdrHave uint32 // bytes of hdr written so far (bit i: byte i)
	pending bool   // hdr is complete and not yet masked and written

	// The trailer of the last whole frame read (recovery, checksum
	// rewrites), for masking a header SQLite rewrites right after.
	readOff     int64
	readTrailer [pagecrypt.Overhead]byte

	pendOff int64  // offset of the image whose first piece is pend, or -1
	pend    []byte // first piece of a split image

	rec recovery
}

func newWALFile(p pager, db *dbFile) *walFile {
	return &walFile{pager: p, db: db, hdrOff: -1, readOff: -1, pendOff: -1}
}

// learn parses a WAL header for the page size.
func (w *walFile) learn(h []byte) {
	if len(h) < walHeaderSize {
		return
	}
	magic := binary.BigEndian.Uint32(h[0:4])
	size := int(binary.BigEndian.Uint32(h[8:12]))
	if (magic == 0x377f0682 || magic == 0x377f0683) && validPageSize(size) {
		w.pageSize = size
	}
}

// frame locates off: the frame's start offset and off's position in it.
// ok is false for offsets in the WAL header or before the page size is
// known.
func (w *walFile) frame(off int64) (start, rel int64, ok bool) {
	if w.pageSize == 0 {
		var h [walHeaderSize]byte
		if n, _ := w.readFull(h[:], 0); n == walHeaderSize {
			w.learn(h[:])
		}
	}
	if w.pageSize == 0 || off < walHeaderSize {
		return 0, 0, false
	}
	size := int64(walFrameHeaderSize + w.pageSize)
	rel = (off - walHeaderSize) % size
	return off - rel, rel, true
}

// frameSize is the size of one frame.
func (w *walFile) frameSize() int { return walFrameHeaderSize + w.pageSize }

// walAD returns the associated data of the image whose frame header is
// hdr: the same as the page's in the database file.
func walAD(hdr []byte) [adSize]byte {
	return associated(kindDB, binary.BigEndian.Uint32(hdr[0:4]))
}

// maskChecksum XORs the mask of the frame at off, whose sealed image ends
// with trailer, into the checksum of hdr: it masks a real checksum and
// unmasks a stored one.
func (w *walFile) maskChecksum(hdr []byte, off int64, trailer []byte) {
	var in [1 + walChecksumOff + 8 + pagecrypt.Overhead]byte
	in[0] = kindWAL
	copy(in[1:], hdr[:walChecksumOff])
	binary.BigEndian.PutUint64(in[1+walChecksumOff:], uint64(off))
	copy(in[1+walChecksumOff+8:], trailer)
	w.cipher.Mask(hdr[walChecksumOff:walFrameHeaderSize], in[:])
}

// WriteAt seals page images and masks frame checksums; the WAL header
// passes through. Anything SQLite writes that is not one of those is
// refused.
func (w *walFile) WriteAt(p []byte, off int64) (int, error) {
	start, rel, ok := w.frame(off)
	ps := int64(w.pageSize)
	switch {
	case !ok:
	case rel+int64(len(p)) <= walFrameHeaderSize: // a frame header, or a piece of one
		if err := w.writeHeader(p, start, rel); err != nil {
			return 0, err
		}
		return len(p), nil
	case rel == walFrameHeaderSize && int64(len(p)) == ps:
		return w.writeImage(p, start)
	case rel == walFrameHeaderSize && int64(len(p)) < ps:
		if err := w.other(start); err != nil {
			return 0, err
		}
		w.pend = append(w.pend[:0], p...)
		w.pendOff = start
		return len(p), nil
	case rel > walFrameHeaderSize && rel+int64(len(p)) == walFrameHeaderSize+ps &&
		w.pendOff == start && walFrameHeaderSize+int64(len(w.pend)) == rel:
		w.pend = append(w.pend, p...)
		w.pendOff = -1
		if _, err := w.writeImage(w.pend, start); err != nil {
			return 0, err
		}
		return len(p), nil
	case rel == 0 && int64(len(p)) == walFrameHeaderSize+ps:
		if err := w.writeHeader(p[:walFrameHeaderSize], start, 0); err != nil {
			return 0, err
		}
		if _, err := w.writeImage(p[walFrameHeaderSize:], start); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if err := w.settle(); err != nil {
		return 0, err
	}
	if off == 0 && len(p) == walHeaderSize {
		w.learn(p)
		w.hdrOff, w.readOff = -1, -1
		return w.File.WriteAt(p, off)
	}
	return 0, w.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
}

// writeHeader records (a piece of) the header of the frame at start. A
// write at the header's start begins a new header.
func (w *walFile) writeHeader(p []byte, start, rel int64) error {
	if w.hdrOff != start || rel == 0 {
		if w.hdrOff != start {
			if err := w.resolve(); err != nil {
				return err
			}
		}
		w.hdrOff, w.hdrHave, w.pending = start, 0, false
	}
	copy(w.hdr[rel:], p)
	w.hdrHave |= (1<<len(p) - 1) << rel
	w.pending = w.hdrHave == headerComplete
	if w.pending && w.readOff == start {
		// SQLite rewrites the checksum of a frame it just read: its
		// image is in the file. Should an image follow after all, it
		// masks the header again.
		return w.resolve()
	}
	return nil
}

// other resolves a pending header unless it belongs to the frame at start.
func (w *walFile) other(start int64) error {
	if w.hdrOff == start {
		return nil
	}
	return w.resolve()
}

// resolve masks a pending header with the trailer of the image already in
// the file (from the last whole-frame read of that frame, else read back)
// and writes it.
func (w *walFile) resolve() error {
	if !w.pending {
		return nil
	}
	w.pending = false
	var trailer [pagecrypt.Overhead]byte
	if w.readOff == w.hdrOff {
		trailer = w.readTrailer
	} else if _, err := w.readFull(trailer[:], w.hdrOff+int64(w.frameSize()-pagecrypt.Overhead)); err != nil && err != io.EOF {
		// A frame without an image is incomplete whatever its mask:
		// a zero trailer will do.
		return err
	}
	h := w.hdr
	w.maskChecksum(h[:], w.hdrOff, trailer[:])
	_, err := w.File.WriteAt(h[:], w.hdrOff)
	return err
}

// settle resolves a pending header: every operation other than writing
// frames sees the file as SQLite wrote it.
func (w *walFile) settle() error { return w.resolve() }

// writeImage seals the page image of the frame at start and writes it,
// after its header if SQLite wrote that last (header and image in one
// write).
//
// Each frame reaches the file before WriteAt returns. Holding frames back
// to write a transaction in one call is not safe: a transaction that
// spilled frames and rolled back gives no sign to the VFS, and frames
// written later, after another connection appended its own at the same
// offsets, would destroy that connection's commits.
func (w *walFile) writeImage(page []byte, start int64) (int, error) {
	if err := w.other(start); err != nil {
		return 0, err
	}
	w.readOff = -1
	fresh := w.hdrOff == start && w.hdrHave == headerComplete
	n := len(page)
	if fresh {
		n += walFrameHeaderSize
	}
	buf := slices.Grow(w.buf[:0], n)[:n]
	w.buf = buf
	hdr, img := buf[:0], buf
	if fresh {
		hdr, img = buf[:walFrameHeaderSize], buf[walFrameHeaderSize:]
		copy(hdr, w.hdr[:])
	} else {
		// An image overwritten in place: its header is in the file.
		var h [walFrameHeaderSize]byte
		if _, err := w.readFull(h[:], start); err != nil {
			return 0, err
		}
		hdr = h[:]
	}
	ad := walAD(hdr)
	w.cipher.Seal(img, page, 0, ad[:])
	off := start + walFrameHeaderSize
	if fresh {
		w.maskChecksum(hdr, start, img[len(img)-pagecrypt.Overhead:])
		w.pending = false
		off = start
	}
	if _, err := w.File.WriteAt(buf, off); err != nil {
		return 0, err
	}
	return len(page), nil
}

// Every operation other than writing frames sees the file with a pending
// header written.

// Sync keeps a pending header held: SQLite syncs between a header and its
// image only when it splits a padding frame around the sync point, and the
// image follows right after. Written now, masked for whatever image the
// file held there, the header would let the next transaction's frames link
// to a frame a power loss then leaves torn.
func (w *walFile) Sync(flags vfs.SyncFlag) error {
	return w.File.Sync(flags)
}

func (w *walFile) Size() (int64, error) {
	if err := w.settle(); err != nil {
		return 0, err
	}
	return w.File.Size()
}

func (w *walFile) Truncate(size int64) error {
	if err := w.settle(); err != nil {
		return err
	}
	w.hdrOff, w.readOff = -1, -1
	return w.File.Truncate(size)
}

func (w *walFile) Close() error {
	err := w.settle()
	if cerr := w.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadAt opens page images and unmasks frame checksums. A page read
// (readers, checkpoints) that fails authentication is an error. A
// whole-frame read (WAL recovery, checksum rewrites) that fails returns
// random page bytes instead, so SQLite's frame checksum rejects the frame
// and recovery stops there, as it does for a torn tail; unless recovery
// finds the frame damaged (see recovery), which is an error.
func (w *walFile) ReadAt(p []byte, off int64) (int, error) {
	if err := w.settle(); err != nil {
		return 0, err
	}
	start, rel, ok := w.frame(off)
	switch {
	case !ok:
		n, err := w.File.ReadAt(p, off)
		w.rec.stop()
		if off == 0 {
			w.learn(p[:n])
			if n == walHeaderSize && len(p) == walHeaderSize {
				if err := w.rec.begin(w, p); err != nil {
					return 0, err
				}
			}
		}
		return n, err

	case rel == walFrameHeaderSize && len(p) == w.pageSize:
		w.rec.stop()
		raw := w.scratch(w.frameSize())
		n, err := w.readFull(raw, start)
		if n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		pgno := uint32(0)
		if n >= 4 {
			pgno = binary.BigEndian.Uint32(raw[0:4])
		}
		if err == io.EOF {
			return 0, w.pageError(kindWAL, pgno, off, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, err
		}
		if w.db != nil && w.db.handOut(pgno, raw[walFrameHeaderSize:]) {
			copy(p, raw[walFrameHeaderSize:]) // a checkpoint copies it as is
			return len(p), nil
		}
		ad := walAD(raw)
		if err := w.cipher.OpenScratch(p, raw[walFrameHeaderSize:], 0, ad[:]); err != nil {
			return 0, w.pageError(kindWAL, pgno, off, authError(err))
		}
		return len(p), nil

	case rel == 0 && len(p) == w.frameSize():
		return w.readFrame(p, start)

	case rel+int64(len(p)) <= walFrameHeaderSize:
		// Part of a frame header (SQLite reads the checksum of the
		// frame before those it rewrites).
		w.rec.stop()
		raw := w.scratch(w.frameSize())
		n, err := w.readFull(raw, start)
		if n < len(raw) {
			return copy(p, raw[rel:min(int64(n), rel+int64(len(p)))]), err
		}
		w.maskChecksum(raw[:walFrameHeaderSize], start, raw[len(raw)-pagecrypt.Overhead:])
		return copy(p, raw[rel:]), nil
	}
	// Part of a page image: SQLite never reads one, and it could only be
	// answered with ciphertext.
	w.rec.stop()
	return 0, w.fail(ErrUnalignedRead, sqlite3.IOERR_READ)
}

// readFrame reads the whole frame at start into p: the header with its
// checksum unmasked and the opened page image.
func (w *walFile) readFrame(p []byte, start int64) (int, error) {
	raw := w.scratch(len(p))
	n, err := w.readFull(raw, start)
	if err != nil {
		// A short frame: hand SQLite what is there, it stops here.
		w.rec.stop()
		return copy(p, raw[:n]), err
	}
	trailer := raw[len(raw)-pagecrypt.Overhead:]
	w.readOff = start
	copy(w.readTrailer[:], trailer)
	copy(p, raw[:walFrameHeaderSize])
	w.maskChecksum(p[:walFrameHeaderSize], start, trailer)
	ad := walAD(raw)
	authentic := w.cipher.OpenScratch(p[walFrameHeaderSize:], raw[walFrameHeaderSize:], 0, ad[:]) == nil
	if err := w.rec.check(w, start, p, authentic); err != nil {
		return 0, err
	}
	if !authentic {
		rand.Read(p[walFrameHeaderSize:])
	}
	return len(p), nil
}
