package sqlitevfs

import (
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
// checksum, unmasked) and, at the first invalid frame k, looks at the
// frames after it.
//
// Frames after k prove that k was written and synced before it was damaged
// when one of them is intact and belongs to a transaction that began after
// k's transaction committed: a frame that verifies (its image opens and its
// checksum continues the one of the frame before it) following an intact
// commit frame at or after k, and that is not a padding copy of that commit
// frame (same page and database size). SQLite syncs the WAL when a
// transaction commits (synchronous=FULL, the default of this module's
// stores) before a later one can append, so no crash or power loss leaves
// such a frame behind a torn one. Recovery then fails with a PageError
// whose Err is ErrWALDamaged and that names frame k.
//
// What cannot be told apart, and is treated as a torn tail: damage to a
// frame of the last transaction in the log (a power loss before that
// transaction's sync can leave any subset of its frames on disk), and
// damage followed only by a transaction whose single frame repeats the
// commit frame's page and size (it looks like padding). Under
// synchronous=NORMAL or OFF the WAL is not synced at each commit, and a
// power loss can leave holes that look like damage: recovery reports them
// the same way. Removing the -wal file, or truncating it at the reported
// offset, opens the store without the transactions from that frame on.
type recovery struct {
	on        bool  // following a recovery
	next      int64 // offset of the frame expected next
	bigEndian bool  // checksum byte order (WAL magic)
	salts     [8]byte
	sum       [2]uint32 // running checksum after the frames so far
}

// begin starts following a recovery that read the WAL header h.
func (r *recovery) begin(h []byte) {
	magic := binary.BigEndian.Uint32(h[0:4])
	if magic != 0x377f0682 && magic != 0x377f0683 {
		r.on = false
		return
	}
	*r = recovery{on: true, next: walHeaderSize, bigEndian: magic&1 == 1}
	copy(r.salts[:], h[16:24])
	r.sum = [2]uint32{binary.BigEndian.Uint32(h[24:28]), binary.BigEndian.Uint32(h[28:32])}
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
	frameNo, pgno, damaged := r.damaged(w, start)
	if !damaged {
		return nil
	}
	return w.pageError(kindWAL, pgno, start, fmt.Errorf("%w (frame %d)", ErrWALDamaged, frameNo))
}

// damaged reports whether the invalid frame at k is proven damaged by the
// frames after it (see recovery), with its frame number and page.
func (r *recovery) damaged(w *walFile, k int64) (frameNo, pgno uint32, damaged bool) {
	size := int64(w.frameSize())
	frameNo = uint32((k-walHeaderSize)/size) + 1
	prev := make([]byte, size)
	cur := make([]byte, size)
	plain := make([]byte, w.pageSize)
	if _, err := w.readFull(prev, k); err != nil {
		return frameNo, 0, false
	}
	pgno = binary.BigEndian.Uint32(prev[0:4])
	var end []byte // header of the commit frame that ends k's transaction
	if binary.BigEndian.Uint32(prev[4:8]) != 0 {
		end = append([]byte(nil), prev[:walFrameHeaderSize]...)
	}
	for off := k + size; ; off += size {
		if _, err := w.readFull(cur, off); err != nil || [8]byte(cur[8:16]) != r.salts {
			return frameNo, pgno, false
		}
		if r.continues(w, prev, off-size, cur, off, plain) {
			commit := binary.BigEndian.Uint32(cur[4:8])
			switch {
			case end == nil:
				if commit != 0 {
					end = append([]byte(nil), cur[:walFrameHeaderSize]...)
				}
			case commit == 0 || [8]byte(cur[0:8]) != [8]byte(end[0:8]):
				return frameNo, pgno, true
			}
		}
		prev, cur = cur, prev
	}
}

// continues reports whether the raw frame cur at off is authentic and its
// checksum continues that of the raw frame prev at prevOff.
func (r *recovery) continues(w *walFile, prev []byte, prevOff int64, cur []byte, off int64, plain []byte) bool {
	ph := [walFrameHeaderSize]byte(prev[:walFrameHeaderSize])
	w.maskChecksum(ph[:], prevOff, prev[len(prev)-pagecrypt.Overhead:])
	ch := [walFrameHeaderSize]byte(cur[:walFrameHeaderSize])
	w.maskChecksum(ch[:], off, cur[len(cur)-pagecrypt.Overhead:])
	ad := walAD(ch[:])
	if w.cipher.Open(plain, cur[walFrameHeaderSize:], 0, ad[:]) != nil {
		return false
	}
	sum := walChecksum(r.bigEndian, storedChecksum(ph[:]), ch[:8])
	sum = walChecksum(r.bigEndian, sum, plain)
	return sum == storedChecksum(ch[:])
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
