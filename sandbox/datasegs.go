package sandbox

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
)

// Go's linker splits a module's data into a segment per run of non-zero
// bytes: tens of thousands of active data segments for a small guest.
// wazero evaluates each segment's offset and copies it on every
// instantiation, which then costs more than the Go runtime's start-up. So
// Compile merges segments separated by short runs of zeros (memory starts
// zeroed, so filling the gaps with zeros changes nothing) before
// compiling: fewer, longer copies.

// Section IDs of the WebAssembly binary format.
const (
	sectionData      = 11
	sectionDataCount = 12
)

// maxSegmentGap is the longest run of zeros merged into a data segment.
const maxSegmentGap = 1024

// dataSegment is an active data segment of memory 0 at a constant offset.
type dataSegment struct {
	offset uint32
	data   []byte
}

// mergeDataSegments returns wasm with its active data segments merged
// where they are at most maxSegmentGap bytes apart, or wasm itself when
// its data section is absent or not of the simple form Go's linker writes
// (active segments of memory 0 at i32.const offsets, not overlapping). It never fails: anything unexpected leaves the module as
// it is, for the compiler to judge.
func mergeDataSegments(wasm []byte) []byte {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return wasm
	}
	type section struct {
		id         byte
		start, end int // of the whole section, header included
		body       []byte
	}
	var sections []section
	data, count := -1, -1
	for p := 8; p < len(wasm); {
		start := p
		id := wasm[p]
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || size > uint64(len(wasm)-(p+1+n)) {
			return wasm
		}
		body := wasm[p+1+n : p+1+n+int(size)]
		p += 1 + n + int(size)
		switch id {
		case sectionData:
			data = len(sections)
		case sectionDataCount:
			count = len(sections)
		}
		sections = append(sections, section{id, start, p, body})
	}
	if data < 0 {
		return wasm
	}
	segs, ok := parseDataSegments(sections[data].body)
	if !ok || len(segs) < 2 {
		return wasm
	}
	// One buffer holds the merged segments back to back; each merged
	// segment is a slice of it.
	buf := make([]byte, 0, len(sections[data].body)+len(segs)*64)
	type span struct {
		offset     uint32
		start, end int
	}
	var spans []span
	for i, s := range segs {
		if i > 0 {
			last := &spans[len(spans)-1]
			end := uint64(last.offset) + uint64(last.end-last.start)
			if gap := uint64(s.offset) - end; gap <= maxSegmentGap {
				buf = append(buf, make([]byte, gap)...)
				buf = append(buf, s.data...)
				last.end = len(buf)
				continue
			}
		}
		start := len(buf)
		buf = append(buf, s.data...)
		spans = append(spans, span{s.offset, start, len(buf)})
	}
	merged := make([]dataSegment, len(spans))
	for i, sp := range spans {
		merged[i] = dataSegment{sp.offset, buf[sp.start:sp.end]}
	}
	if len(merged) == len(segs) {
		return wasm
	}
	body := binary.AppendUvarint(nil, uint64(len(merged)))
	for _, s := range merged {
		body = append(body, 0x00, 0x41) // active, memory 0; i32.const
		body = appendSleb32(body, int32(s.offset))
		body = append(body, 0x0b) // end
		body = binary.AppendUvarint(body, uint64(len(s.data)))
		body = append(body, s.data...)
	}
	out := make([]byte, 0, len(wasm))
	out = append(out, wasm[:8]...)
	for i, s := range sections {
		switch i {
		case data:
			out = append(out, sectionData)
			out = binary.AppendUvarint(out, uint64(len(body)))
			out = append(out, body...)
		case count:
			c := binary.AppendUvarint(nil, uint64(len(merged)))
			out = append(out, sectionDataCount)
			out = binary.AppendUvarint(out, uint64(len(c)))
			out = append(out, c...)
		default:
			out = append(out, wasm[s.start:s.end]...)
		}
	}
	return out
}

// parseDataSegments parses a data section body whose segments are all
// active, of memory 0, at i32.const offsets, without overlap, and returns
// them sorted by offset (the order in which non-overlapping segments are
// applied makes no difference); ok is false for anything else.
func parseDataSegments(b []byte) (segs []dataSegment, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, false
	}
	b = b[k:]
	segs = make([]dataSegment, 0, n)
	for range n {
		if len(b) < 2 || b[0] != 0x00 || b[1] != 0x41 {
			return nil, false
		}
		off, k := readSleb32(b[2:])
		if k <= 0 || off < 0 || len(b) < 2+k+1 || b[2+k] != 0x0b {
			return nil, false
		}
		b = b[2+k+1:]
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, false
		}
		if uint64(off)+size > math.MaxUint32 {
			return nil, false
		}
		segs = append(segs, dataSegment{uint32(off), b[k : k+int(size)]})
		b = b[k+int(size):]
	}
	if len(b) != 0 {
		return nil, false
	}
	slices.SortStableFunc(segs, func(a, b dataSegment) int { return cmp.Compare(a.offset, b.offset) })
	var next uint64 // the first byte after the previous segment
	for _, s := range segs {
		if uint64(s.offset) < next {
			return nil, false
		}
		next = uint64(s.offset) + uint64(len(s.data))
	}
	return segs, true
}

// readSleb32 decodes a signed LEB128 i32; k is the bytes read, 0 when b
// holds no valid encoding.
func readSleb32(b []byte) (v int32, k int) {
	var x int64
	var shift uint
	for k < len(b) && k < 5 {
		c := b[k]
		k++
		x |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				x |= -1 << shift
			}
			if x < math.MinInt32 || x > math.MaxInt32 {
				return 0, 0
			}
			return int32(x), k
		}
	}
	return 0, 0
}

// appendSleb32 appends v as a signed LEB128.
func appendSleb32(b []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
