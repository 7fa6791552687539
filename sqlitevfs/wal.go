package sqlitevfs

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"slices"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// WAL geometry (https://sqlite.org/fileformat2.html#walformat): a 32-byte
// header, then frames of a 24-byte frame header and one page image.
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
)

// walFile is a write-ahead log. Headers stay in plaintext: SQLite checksums
// them and they hold no content. A frame's page image is sealed exactly as
// the page would be in the database file, bound to the page number from its
// frame header, so a frame cannot be redirected to another page, and a
// checkpoint copies sealed images into the database without opening and
// resealing them (see dbFile.copySealed). Binding the image to the WAL's
// salts as well would stop a stale frame from being replayed into a later
// WAL generation; that is page rollback, which the package does not claim
// to prevent, and it would cost two of the three AES passes a written page
// takes.
//
// Without powersafe overwrite, SQLite pads a commit to a sector boundary
// and splits the padding frame that crosses it around an fsync. The first
// piece of a split image is held until the rest arrives, and the image is
// sealed and written whole: the padding frame only matters once complete,
// and the commit before it is synced.
type walFile struct {
	pager
	db       *dbFile // the connection's database file
	pageSize int
	hdrOff   int64 // offset of the frame header in hdr, or -1
	hdr      [walFrameHeaderSize]byte
	queued   []byte // frames written by SQLite, not yet by the base file
	queueOff int64  // file offset of queued[0]
	pendOff  int64  // offset of the image whose first piece is pend, or -1
	pend     []byte // first piece of a split image
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

// frameHeader returns the header of the frame at off, from the last header
// written if that was it, else from the file.
func (w *walFile) frameHeader(off int64) ([]byte, error) {
	if w.hdrOff == off {
		return w.hdr[:], nil
	}
	if err := w.flush(); err != nil {
		return nil, err
	}
	if _, err := w.readFull(w.hdr[:], off); err != nil {
		w.hdrOff = -1
		return nil, err
	}
	w.hdrOff = off
	return w.hdr[:], nil
}

// walAD returns the associated data of the image whose frame header is
// hdr: the same as the page's in the database file.
func walAD(hdr []byte) [adSize]byte {
	return associated(kindDB, binary.BigEndian.Uint32(hdr[0:4]))
}

// WriteAt seals page images; headers pass through. The frames of a
// transaction are queued and reach the base file in one write when its
// commit frame (a header with a non-zero database size) is complete, which
// saves a system call per frame; anything else that touches the file
// (another write, a read, a sync, size or truncate) writes the queue first,
// so no one ever observes the file without them.
func (w *walFile) WriteAt(p []byte, off int64) (int, error) {
	start, rel, ok := w.frame(off)
	switch {
	case !ok:
	case rel == 0 && len(p) == walFrameHeaderSize:
		copy(w.hdr[:], p)
		w.hdrOff = off
		return w.queue(p, off)
	case rel+int64(len(p)) <= walFrameHeaderSize:
		if err := w.flush(); err != nil { // a piece of a frame header
			return 0, err
		}
		return w.File.WriteAt(p, off)
	case rel == walFrameHeaderSize && len(p) == w.pageSize:
		return w.sealImage(p, start)
	case rel == walFrameHeaderSize && len(p) < w.pageSize:
		w.pend = append(w.pend[:0], p...)
		w.pendOff = start
		return len(p), nil
	case rel > walFrameHeaderSize && rel+int64(len(p)) == walFrameHeaderSize+int64(w.pageSize) &&
		w.pendOff == start && walFrameHeaderSize+int64(len(w.pend)) == rel:
		w.pend = append(w.pend, p...)
		w.pendOff = -1
		if _, err := w.sealImage(w.pend, start); err != nil {
			return 0, err
		}
		return len(p), nil
	case rel == 0 && len(p) == walFrameHeaderSize+w.pageSize:
		copy(w.hdr[:], p)
		w.hdrOff = off
		if _, err := w.queue(p[:walFrameHeaderSize], off); err != nil {
			return 0, err
		}
		if _, err := w.sealImage(p[walFrameHeaderSize:], off); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if err := w.flush(); err != nil {
		return 0, err
	}
	if off == 0 && len(p) == walHeaderSize {
		w.learn(p)
		w.hdrOff = -1
		return w.File.WriteAt(p, off)
	}
	return 0, w.fail(ErrUnalignedWrite, sqlite3.IOERR_WRITE)
}

// sealImage seals the page image of the frame at start and queues it; a
// commit frame's image sends the queue to the file.
func (w *walFile) sealImage(page []byte, start int64) (int, error) {
	hdr, err := w.frameHeader(start)
	if err != nil {
		return 0, err
	}
	ad := walAD(hdr)
	off := start + walFrameHeaderSize
	if len(w.queued) > 0 && off != w.queueOff+int64(len(w.queued)) {
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
	if len(w.queued) == 0 {
		w.queueOff = off
	}
	n := len(w.queued)
	w.queued = slices.Grow(w.queued, len(page))[:n+len(page)]
	w.cipher.Seal(w.queued[n:], page, 0, ad[:])
	if binary.BigEndian.Uint32(hdr[4:8]) != 0 || len(w.queued) >= maxQueued {
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
	return len(page), nil
}

// maxQueued bounds the frames held before they are written.
const maxQueued = 1 << 20

// queue appends p, to be written at off, to the queue.
func (w *walFile) queue(p []byte, off int64) (int, error) {
	if len(w.queued) > 0 && off != w.queueOff+int64(len(w.queued)) {
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
	if len(w.queued) == 0 {
		w.queueOff = off
	}
	w.queued = append(w.queued, p...)
	return len(p), nil
}

// flush writes the queue to the base file.
func (w *walFile) flush() error {
	if len(w.queued) == 0 {
		return nil
	}
	_, err := w.File.WriteAt(w.queued, w.queueOff)
	w.queued = w.queued[:0]
	return err
}

// Every operation other than queueing frames sees the file with the queue
// written.

func (w *walFile) Sync(flags vfs.SyncFlag) error {
	if err := w.flush(); err != nil {
		return err
	}
	return w.File.Sync(flags)
}

func (w *walFile) Size() (int64, error) {
	if err := w.flush(); err != nil {
		return 0, err
	}
	return w.File.Size()
}

func (w *walFile) Truncate(size int64) error {
	if err := w.flush(); err != nil {
		return err
	}
	return w.File.Truncate(size)
}

func (w *walFile) Close() error {
	err := w.flush()
	if cerr := w.File.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadAt opens page images. A page read (readers, checkpoints) that fails
// authentication is an error. A whole-frame read (WAL recovery) that fails
// returns random page bytes instead, so SQLite's frame checksum rejects the
// frame and recovery stops there, as it does for a torn tail.
func (w *walFile) ReadAt(p []byte, off int64) (int, error) {
	if err := w.flush(); err != nil {
		return 0, err
	}
	start, rel, ok := w.frame(off)
	switch {
	case !ok:
		n, err := w.File.ReadAt(p, off)
		if off == 0 {
			w.learn(p[:n])
		}
		return n, err

	case rel == walFrameHeaderSize && len(p) == w.pageSize:
		raw := w.scratch(walFrameHeaderSize + w.pageSize)
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
			return 0, w.pageError(kindWAL, pgno, off, ErrAuth)
		}
		return len(p), nil

	case rel == 0 && len(p) == walFrameHeaderSize+w.pageSize:
		raw := w.scratch(len(p))
		n, err := w.readFull(raw, off)
		if err != nil {
			// A short frame: hand SQLite what is there, it stops here.
			return copy(p, raw[:n]), err
		}
		copy(p, raw[:walFrameHeaderSize])
		ad := walAD(raw)
		if w.cipher.Open(p[walFrameHeaderSize:], raw[walFrameHeaderSize:], 0, ad[:]) != nil {
			rand.Read(p[walFrameHeaderSize:])
		}
		return len(p), nil

	case rel+int64(len(p)) > walFrameHeaderSize:
		// Part of a page image: SQLite never reads one, and it could
		// only be answered with ciphertext.
		return 0, w.fail(ErrUnalignedRead, sqlite3.IOERR_READ)
	}
	return w.File.ReadAt(p, off)
}
