package abi

import (
	"encoding/binary"
	"math/bits"
	"time"
	"unsafe"
)

// The batch decoder of event lists: where a guest reading a session
// spends most of its own time. It is written for WebAssembly guests
// run with termination checks (wazero's WithCloseOnContextDone, the
// sandbox's default): there, every function call and every taken branch
// of Go code passes a check that leaves the compiled guest for the host,
// and those checks, not the arithmetic, are what an event costs. So
// eventsFast decodes a whole list in one function, with one loop
// iteration per event and no call: each varint is read from one 8-byte
// load and decoded without a loop, bounds are clamped rather than
// branched on, every way an event can be invalid is accumulated in one
// word, and strings are sliced from the input instead of allocated. An
// event that does not fit this path (a varint longer than 8 bytes, a zero
// time, a value near the end of the input, any malformed field) is
// decoded again, from its first byte, by the field-by-field decoder,
// which also produces the errors: both paths accept exactly the same
// inputs and build the same values.

// stopBits are the continuation bits of the 8 bytes of a uint64 read
// little-endian.
const stopBits = 0x8080808080808080

// uvarint8 decodes the uvarint at the start of x, the next 8 input bytes
// read little-endian. It returns the value and its length in bytes, and
// bad != 0 when the varint is longer than 8 bytes (the caller's slow path
// then decodes it) or is not minimal (a last byte of zero after the
// first). It has no branch and no loop, and is small enough to be
// inlined.
func uvarint8(x uint64) (v uint64, n int, bad uint64) {
	tz := uint(bits.TrailingZeros64(^x & stopBits))
	// tz is 8k+7 for a varint of k+1 bytes, 64 when none ends here.
	x &= ^uint64(0) >> (63 - tz) // keep bytes 0..k (none when tz is 64)
	k := tz >> 3
	// Not minimal: k > 0 and byte k is 0. Too long: tz is 64, so k is 8,
	// x is 0 and the same test fails.
	bad = -uint64(k) & (x>>(k<<3) - 1) >> 63
	// Squeeze out the continuation bits: 7-bit groups into 14-, 28-, then
	// 56-bit ones.
	x = x&0x007f007f007f007f | x>>1&0x3f803f803f803f80
	x = x&0x00003fff00003fff | x>>2&0x0fffc0000fffc000
	v = x&0x0fffffff | x>>4&0x00ffffff_f0000000
	return v, int(k) + 1, bad
}

// span8 returns the l input bytes at p, clamped to the end of buf, with
// bad != 0 when they were clamped. A p past the end of buf (after an
// invalid varint) is clamped too; the caller has already set bad then.
// The clamps are arithmetic, not min: the compiler turns a min that feeds
// an address into a branch.
func span8(buf []byte, p int, l uint64) (s []byte, bad uint64) {
	p = clamp(p, len(buf))
	rest := int64(len(buf) - p)
	d := rest - int64(l&(1<<62-1))
	bad = uint64(d>>63) | l>>62
	n := int(rest - d&^(d>>63)) // min(l, rest)
	return buf[p : p+n : p+n], bad
}

// clamp returns min(p, max) without a branch.
func clamp(p, max int) int {
	d := max - p
	return p + d&(d>>63)
}

// unixToInternal is the number of seconds between year 1 and 1970: a Unix
// time of -unixToInternal seconds and 0 nanoseconds is the zero time.Time.
const unixToInternal = (1969*365 + 1969/4 - 1969/100 + 1969/400) * 24 * 60 * 60

// eventsFast decodes events into vs, from d.off on, while they fit the
// fast path, and returns how many it decoded; d.off is then the start of
// the first event it did not decode. d.buf must be the decoder's private
// copy of the input (d.owned): the Session and Kind strings of the events
// point into it (unsafe.String), so it must never be written to or reused
// after the decoding, and nothing does. Payloads point into it too, each
// with its capacity cut at its end, so that appending to one cannot write
// over the bytes of anything else.
func (d *decoder) eventsFast(vs []EventEnvelope) int {
	buf := d.buf
	if len(buf) < 8 || !d.owned || d.err != nil {
		return 0
	}
	off := d.off
	last := len(buf) - 8 // the last position an 8-byte load can start at
	i := 0
	for ; i < len(vs); i++ {
		// Each field is read with an 8-byte load at position q, which is
		// p clamped to last: a clamped load (bad |= p-q) and anything
		// else wrong make bad nonzero, and the event is left to the slow
		// path.
		var bad, b uint64
		var n int
		p := off

		q := clamp(p, last)
		bad |= uint64(p - q)
		id, n, b := uvarint8(binary.LittleEndian.Uint64(buf[q:]))
		bad |= b
		p = q + n

		q = clamp(p, last)
		bad |= uint64(p - q)
		l, n, b := uvarint8(binary.LittleEndian.Uint64(buf[q:]))
		bad |= b
		sess, b := span8(buf, q+n, l)
		bad |= b
		p = q + n + len(sess)

		q = clamp(p, last)
		bad |= uint64(p - q)
		u, n, b := uvarint8(binary.LittleEndian.Uint64(buf[q:]))
		bad |= b
		p = q + n
		turn := int64(u>>1) ^ -int64(u&1)
		bad |= uint64(int64(int(turn)) ^ turn) // nonzero only where int is 32 bits

		q = clamp(p, last)
		bad |= uint64(p - q)
		l, n, b = uvarint8(binary.LittleEndian.Uint64(buf[q:]))
		bad |= b
		kind, b := span8(buf, q+n, l)
		bad |= b
		p = q + n + len(kind)

		// The time: flag 1 (a zero time, flag 0, takes the slow path),
		// seconds (zigzag), nanoseconds.
		q = clamp(p, last)
		bad |= uint64(p - q)
		x := binary.LittleEndian.Uint64(buf[q:])
		bad |= x&0xff ^ 1
		u, n, b = uvarint8(x >> 8)
		bad |= b | uint64(n>>3) // 8 bytes of seconds do not fit in x>>8
		p = q + 1 + n
		sec := int64(u>>1) ^ -int64(u&1)
		q = clamp(p, last)
		bad |= uint64(p - q)
		nsec, n, b := uvarint8(binary.LittleEndian.Uint64(buf[q:]))
		bad |= b
		p = q + n
		// nsec < 1e9, and not the zero time. (A varint of at most 8 bytes
		// holds at most 56 bits: sec is far inside the range of time.Time.)
		bad |= (999_999_999 - nsec) >> 63
		zero := uint64(sec+unixToInternal) | nsec // 0 for the zero time
		bad |= (zero - 1) & ^zero >> 63

		q = clamp(p, last)
		bad |= uint64(p - q)
		u, n, b = uvarint8(binary.LittleEndian.Uint64(buf[q:]))
		bad |= b | (u-1)>>63 // u = 0 (a nil payload) takes the slow path
		payload, b := span8(buf, q+n, u-1)
		bad |= b
		p = q + n + len(payload)

		if bad != 0 {
			break
		}
		e := &vs[i]
		e.ID = id
		e.Session = SessionID(unsafe.String(unsafe.SliceData(sess), len(sess)))
		e.Turn = int(turn)
		e.Kind = unsafe.String(unsafe.SliceData(kind), len(kind))
		// nsec%1e9 is nsec (checked above), and tells the compiler that
		// time.Unix has nothing to normalize: no branch taken there.
		e.TS = time.Unix(sec, int64(nsec%1e9)).UTC()
		e.Payload = payload
		off = p
	}
	d.off = off
	return i
}
