package sqlitevfs

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/gofastr/store/internal/pagecrypt"
)

// recovery follows SQLite's WAL recovery: after it reads the WAL header,
// SQLite reads whole frames in order and keeps every frame up to the last
// commit frame before the first invalid one. A torn tail after a crash is
// normal, and ends the log there. Damage in the middle of the log is not,
// and SQLite cannot tell them apart; this package can, in part, because it
// checks each frame itself (salts, image authentication and the running
// checksum, unmasked) and, at the first invalid frame k (or at a WAL header
// whose checksum fails), looks at the frames after it.
//
// A frame "links" to the frame before it when its image opens and its
// checksum continues the unmasked checksum of that frame. A link also
// authenticates the earlier frame's header: its checksum mask binds the
// page number, commit marker and salts, so a header that was altered
// unmasks to a value no later frame continues. Frames after k prove that k
// was written and synced before it was damaged when they hold a commit
// frame c at or after k whose header is authenticated (c links to its
// predecessor, or its successor links to it) and, linked to c without a
// break, a frame that is not one of c's padding copies (a padding frame
// repeats c's page number, database size and page content; where c's
// image is lost, the first frame that repeats its header stands in for
// its page). Such a frame
// belongs to a transaction that began after c's transaction committed, and
// SQLite syncs the WAL when a transaction commits (synchronous=FULL, the
// default of this module's stores) before a later one appends: no crash or
// power loss leaves it behind a torn frame of an earlier transaction.
// Recovery then fails with a PageError whose Err is ErrWALDamaged and that
// names frame k (frame 0 at offset 0 for the WAL header).
//
// What cannot be told apart, and is treated as a torn tail: damage to a
// frame of the last transaction in the log (a power loss before that
// transaction's sync can leave any subset of its frames on disk), damage
// to the WAL header's magic number or page size, damage followed only by
// transactions that rewrite the commit frame's page with the same content
// and database size (they look like padding), damage to a commit frame's
// header or image trailer (the inputs of its checksum mask) that only one
// transaction follows (the next frame can no longer authenticate its commit
// marker), and, where k repeats the page number and database size of the
// frame before it, damage to k that only one transaction follows (k may be
// the padding frame that crosses the sync point, written after the
// commit's sync). Frames of a rolled-back transaction that spilled to the
// WAL link to the last commit before them; they were written after that
// commit's sync, so they prove it like any later transaction. Frames of
// another WAL generation (other salts) break the chain and prove nothing.
// Under synchronous=NORMAL or OFF the WAL
// is not synced at each commit, and a power loss can leave holes that look
// like damage: recovery reports them the same way. Removing the -wal file,
// or truncating it at the reported offset, opens the store without the
// transactions from that frame on.
type recovery struct {
	on        bool  // following a recovery
	next      int64 // offset of the frame expected next
	bigEndian bool  // checksum byte order (WAL magic)
	salts     [8]byte
	sum       [2]uint32 // running checksum after the frames so far
}

// begin starts following a recovery that read the WAL header h. A header
// whose checksum fails while the frames after it prove it was intact
// (see recovery) is an error.
func (r *recovery) begin(w *walFile, h []byte) error {
	magic := binary.BigEndian.Uint32(h[0:4])
	if magic != 0x377f0682 && magic != 0x377f0683 || w.pageSize == 0 {
		r.on = false
		return nil
	}
	*r = recovery{on: true, next: walHeaderSize, bigEndian: magic&1 == 1}
	copy(r.salts[:], h[16:24])
	r.sum = [2]uint32{binary.BigEndian.Uint32(h[24:28]), binary.BigEndian.Uint32(h[28:32])}
	if walChecksum(r.bigEndian, [2]uint32{}, h[:24]) == r.sum {
		return nil
	}
	// SQLite will ignore every frame. Judge them by the salts of the
	// first one.
	r.on = false
	var first [walFrameHeaderSize]byte
	if _, err := w.readFull(first[:], walHeaderSize); err != nil {
		return nil
	}
	copy(r.salts[:], first[8:16])
	if !r.damaged(w, walHeaderSize, true) {
		return nil
	}
	return w.pageError(kindWAL, 0, 0, fmt.Errorf("%w (header)", ErrWALDamaged))
}

// stop ends following: any other read or write is not a recovery.
func (r *recovery) stop() { r.on = false }

// check verifies frame (header with its checksum unmasked, then the opened
// page, valid if authentic) read at start. It returns an error when the
// frame is invalid and the frames after it prove it damaged.
func (r *recovery) check(w *walFile, start int64, frame []byte, authentic bool) error {
	if !r.on || start != r.next {
		r.on = false
		return nil
	}
	hdr := frame[:walFrameHeaderSize]
	if authentic && [8]byte(hdr[8:16]) == r.salts {
		sum := walChecksum(r.bigEndian, r.sum, hdr[:8])
		sum = walChecksum(r.bigEndian, sum, frame[walFrameHeaderSize:])
		if sum == storedChecksum(hdr) {
			r.sum = sum
			r.next += int64(len(frame))
			return nil
		}
	}
	r.on = false
	if !r.damaged(w, start, false) {
		return nil
	}
	size := int64(w.frameSize())
	frameNo := (start-walHeaderSize)/size + 1
	pgno := binary.BigEndian.Uint32(hdr[0:4])
	return w.pageError(kindWAL, pgno, start, fmt.Errorf("%w (frame %d)", ErrWALDamaged, frameNo))
}

// damaged reports whether the frames after the invalid frame at k prove
// it damaged (see recovery). With intact, k itself is valid but the WAL
// header before it is not: the frames prove the header damaged the same
// way.
func (r *recovery) damaged(w *walFile, k int64, intact bool) bool {
	size := int64(w.frameSize())
	prev := make([]byte, size)
	cur := make([]byte, size)
	prevPage := make([]byte, w.pageSize)
	page := make([]byte, w.pageSize)
	if _, err := w.readFull(prev, k); err != nil {
		return false
	}
	prevOpened := intact && r.opens(w, prev, prevPage)
	// anchor is the authenticated commit frame the proof continues from:
	// its header, and its page (nil where its image does not open).
	var anchor, anchorPage []byte
	setAnchor := func(hdr, pg []byte, opened bool) {
		anchor, anchorPage = bytes.Clone(hdr[:walFrameHeaderSize]), nil
		if opened {
			anchorPage = bytes.Clone(pg)
		}
	}
	for off := k + size; ; off += size {
		if _, err := w.readFull(cur, off); err != nil {
			return false
		}
		// Frames of another WAL generation break the chain: they link
		// among themselves, but prove nothing about this one.
		current := [8]byte(cur[8:16]) == r.salts && [8]byte(prev[8:16]) == r.salts
		linked, opened := false, false
		if current {
			linked, opened = r.links(w, prev, off-size, cur, off, page)
		}
		if !linked {
			anchor = nil
		} else {
			// A link authenticates both headers. k itself anchors
			// only if it cannot be a padding frame: with powersafe
			// overwrite off, the padding frame that crosses the
			// sync point is written after the commit's sync and may
			// be torn legitimately.
			if anchor == nil && binary.BigEndian.Uint32(prev[4:8]) != 0 && (off-size != k || intact || !r.maybePadding(w, k, prev)) {
				setAnchor(prev, prevPage, prevOpened)
			}
			switch {
			case anchor != nil:
				if [8]byte(cur[0:8]) != [8]byte(anchor[0:8]) {
					return true
				}
				if anchorPage == nil {
					// The anchor's page is lost: its padding
					// copies, if this is one, all hold this page.
					anchorPage = bytes.Clone(page)
				} else if !bytes.Equal(page, anchorPage) {
					return true
				}
			case binary.BigEndian.Uint32(cur[4:8]) != 0:
				setAnchor(cur, page, true)
			}
		}
		prev, cur = cur, prev
		prevPage, page = page, prevPage
		prevOpened = opened
	}
}

// maybePadding reports whether the frame at k, whose raw bytes are frame,
// repeats the page number and database size of the frame before it, as a
// padding frame does.
func (r *recovery) maybePadding(w *walFile, k int64, frame []byte) bool {
	if k < walHeaderSize+int64(w.frameSize()) {
		return false
	}
	var before [8]byte
	if _, err := w.readFull(before[:], k-int64(w.frameSize())); err != nil {
		return true
	}
	return before == [8]byte(frame[0:8])
}

// opens opens the image of the raw frame into plain.
func (r *recovery) opens(w *walFile, frame []byte, plain []byte) bool {
	ad := walAD(frame)
	return w.cipher.Open(plain, frame[walFrameHeaderSize:], 0, ad[:]) == nil
}

// links reports whether the raw frame cur at off is authentic and its
// checksum continues that of the raw frame prev at prevOff, and whether
// cur's image opened (into plain).
func (r *recovery) links(w *walFile, prev []byte, prevOff int64, cur []byte, off int64, plain []byte) (linked, opened bool) {
	if !r.opens(w, cur, plain) {
		return false, false
	}
	ph := [walFrameHeaderSize]byte(prev[:walFrameHeaderSize])
	w.maskChecksum(ph[:], prevOff, prev[len(prev)-pagecrypt.Overhead:])
	ch := [walFrameHeaderSize]byte(cur[:walFrameHeaderSize])
	w.maskChecksum(ch[:], off, cur[len(cur)-pagecrypt.Overhead:])
	sum := walChecksum(r.bigEndian, storedChecksum(ph[:]), ch[:8])
	sum = walChecksum(r.bigEndian, sum, plain)
	return sum == storedChecksum(ch[:]), true
}

// storedChecksum returns the checksum of a frame header.
func storedChecksum(hdr []byte) [2]uint32 {
	return [2]uint32{binary.BigEndian.Uint32(hdr[16:20]), binary.BigEndian.Uint32(hdr[20:24])}
}

// walChecksum continues SQLite's WAL checksum s over b (a multiple of 8
// bytes), reading words big-endian or little-endian as the WAL magic says
// (walChecksumBytes in SQLite's wal.c).
func walChecksum(bigEndian bool, s [2]uint32, b []byte) [2]uint32 {
	order := binary.ByteOrder(binary.LittleEndian)
	if bigEndian {
		order = binary.BigEndian
	}
	s0, s1 := s[0], s[1]
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return [2]uint32{s0, s1}
}
