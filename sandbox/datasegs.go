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
// (active segments of memory 0 at i32.const offsets, not overlapping, and
// no data count section). It never fails: anything unexpected leaves the
// module as it is, for the compiler to judge.
//
// Merging never changes what the module means: a module with a data
// count section (which data.drop and memory.init index through) is left
// alone, so segment indices and the count stay as written; empty
// segments stay as they are (an empty segment out of bounds still traps
// at instantiation) and nothing is merged into or after them. The zeros
// filled into gaps total at most the size of the data section, so the
// result is less than twice the input's size, and the gaps lie between
// segments, inside the memory the segments already cover.
func mergeDataSegments(wasm []byte) []byte {
	sections, ok := splitSections(wasm)
	if !ok {
		return wasm
	}
	data := -1
	for i, s := range sections {
		switch s.id {
		case sectionData:
			data = i
		case sectionDataCount:
			return wasm
		}
	}
	if data < 0 {
		return wasm
	}
	segs, ok := parseDataSegments(sections[data].body)
	if !ok || len(segs) < 2 {
		return wasm
	}
	budget := uint64(len(sections[data].body)) // zeros that may be added
	// Two passes over the spans: one to size the section, one to write it.
	nspans, size := 0, 0
	eachSpan(segs, budget, func(offset, end uint64, _ []dataSegment) {
		nspans++
		size += 3 + len(appendSleb32(nil, int32(offset))) + uvarintLen(end-offset) + int(end-offset)
	})
	if nspans == len(segs) {
		return wasm
	}
	size += uvarintLen(uint64(nspans))
	out := make([]byte, 0, len(wasm)-len(sections[data].body)+size+binary.MaxVarintLen64)
	out = append(out, wasm[:8]...)
	for i, s := range sections {
		if i != data {
			out = append(out, wasm[s.start:s.end]...)
			continue
		}
		out = append(out, sectionData)
		out = binary.AppendUvarint(out, uint64(size))
		out = binary.AppendUvarint(out, uint64(nspans))
		eachSpan(segs, budget, func(offset, end uint64, run []dataSegment) {
			out = append(out, 0x00, 0x41) // active, memory 0; i32.const
			out = appendSleb32(out, int32(offset))
			out = append(out, 0x0b) // end
			out = binary.AppendUvarint(out, end-offset)
			next := offset
			for _, seg := range run {
				for ; next < uint64(seg.offset); next++ {
					out = append(out, 0)
				}
				out = append(out, seg.data...)
				next += uint64(len(seg.data))
			}
		})
	}
	return out
}

// eachSpan calls fn for each merged segment, in order: the run of
// segments it merges, covering [offset, end). A segment is merged into
// the previous run when it holds data, the run ends with data, the gap
// between them is at most maxSegmentGap and the zeros filled so far plus
// the gap stay within budget.
func eachSpan(segs []dataSegment, budget uint64, fn func(offset, end uint64, run []dataSegment)) {
	first := 0
	offset := uint64(segs[0].offset)
	end := offset + uint64(len(segs[0].data))
	for i := 1; i < len(segs); i++ {
		s := segs[i]
		gap := uint64(s.offset) - end
		if len(s.data) > 0 && len(segs[i-1].data) > 0 && gap <= maxSegmentGap && gap <= budget {
			budget -= gap
			end = uint64(s.offset) + uint64(len(s.data))
			continue
		}
		fn(offset, end, segs[first:i])
		first, offset = i, uint64(s.offset)
		end = offset + uint64(len(s.data))
	}
	fn(offset, end, segs[first:])
}

// section is a section of a module: its ID, where it starts and ends in
// the module (header included) and its body.
type section struct {
	id         byte
	start, end int
	body       []byte
}

// splitSections splits a module into its sections; ok is false when wasm
// is not a module or a section runs past its end.
func splitSections(wasm []byte) (sections []section, ok bool) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, false
	}
	for p := 8; p < len(wasm); {
		start := p
		id := wasm[p]
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || size > uint64(len(wasm)-(p+1+n)) {
			return nil, false
		}
		body := wasm[p+1+n : p+1+n+int(size)]
		p += 1 + n + int(size)
		sections = append(sections, section{id, start, p, body})
	}
	return sections, true
}

// uvarintLen returns the length of x as an unsigned LEB128.
func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
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
	// A segment takes at least 5 bytes: the capacity is bounded by the
	// section's size, whatever its count claims.
	segs = make([]dataSegment, 0, min(n, uint64(len(b)/5)))
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
