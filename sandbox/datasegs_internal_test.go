package sandbox

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// dataModule returns a module of one memory page and the given data
// section body.
func dataModule(body []byte) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, wasmSection(5, []byte{1, 0x00, 1})...) // memory, min 1 page
	out = append(out, sectionData)
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

// image applies the data segments of a module's data section to a zeroed
// memory; ok is false when the section is not of the merged form.
func image(tb testing.TB, wasm []byte) ([]byte, int) {
	tb.Helper()
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n := binary.Uvarint(wasm[p+1:])
		body := wasm[p+1+n : p+1+n+int(size)]
		p += 1 + n + int(size)
		if id != sectionData {
			continue
		}
		segs, ok := parseDataSegments(body)
		if !ok {
			tb.Fatal("data section does not parse")
		}
		var mem []byte
		for _, s := range segs {
			end := int(s.offset) + len(s.data)
			if end > len(mem) {
				mem = append(mem, make([]byte, end-len(mem))...)
			}
			copy(mem[s.offset:], s.data)
		}
		return mem, len(segs)
	}
	return nil, 0
}

func segmentsBody(segs ...dataSegment) []byte {
	b := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		b = append(b, 0x00, 0x41)
		b = appendSleb32(b, int32(s.offset))
		b = append(b, 0x0b)
		b = binary.AppendUvarint(b, uint64(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}

func TestMergeDataSegments(t *testing.T) {
	// The data is long enough for the zeros filled into the gaps to stay
	// within the bound (the size of the data section).
	long := bytes.Repeat([]byte("c"), 1100)
	segs := []dataSegment{{10, long}, {0, []byte("ab")}, {10 + 1100 + maxSegmentGap, []byte("ef")}, {5000, []byte("gh")}}
	in := dataModule(segmentsBody(segs...))
	out := mergeDataSegments(in)
	want, n := image(t, in)
	got, m := image(t, out)
	if n != 4 || m != 2 || !bytes.Equal(got, want) {
		t.Errorf("merged %d segments into %d; images equal: %v", n, m, bytes.Equal(got, want))
	}
	// Forms left alone: overlapping or unordered segments, a passive
	// segment, garbage.
	for name, wasm := range map[string][]byte{
		"overlap":           dataModule(segmentsBody(dataSegment{0, []byte("abcd")}, dataSegment{2, []byte("x")})),
		"overlap unordered": dataModule(segmentsBody(dataSegment{2, []byte("x")}, dataSegment{0, []byte("abcd")})),
		"passive":           dataModule([]byte{1, 0x01, 2, 'a', 'b'}),
		"truncated":         dataModule(segmentsBody(segs...))[:30],
		"not wasm":          []byte("hello"),
	} {
		if out := mergeDataSegments(wasm); !bytes.Equal(out, wasm) {
			t.Errorf("%s: module changed", name)
		}
	}
	for _, v := range []int32{0, 1, 63, 64, -1, -64, -65, 1 << 20, math.MaxInt32, math.MinInt32} {
		if got, k := readSleb32(appendSleb32(nil, v)); got != v || k == 0 {
			t.Errorf("sleb %d round-trips to %d (%d bytes)", v, got, k)
		}
	}
}

// FuzzMergeDataSegments: any input, no panic; the output is less than
// twice the input; a merged module's memory image equals the original's.
func FuzzMergeDataSegments(f *testing.F) {
	f.Add([]byte{0, 3, 'a', 'b', 'c', 9, 1, 'x', 200, 1, 2, 'y', 'z'})
	f.Fuzz(func(t *testing.T, spec []byte) {
		// spec: (gap byte, length byte, data...) triples make the segments.
		var segs []dataSegment
		off := uint32(0)
		for len(spec) >= 2 {
			gap, n := uint32(spec[0])*16, int(spec[1])
			spec = spec[2:]
			n = min(n, len(spec))
			off += gap
			segs = append(segs, dataSegment{off, spec[:n]})
			off += uint32(n)
			spec = spec[n:]
		}
		in := dataModule(segmentsBody(segs...))
		out := mergeDataSegments(in)
		if len(out) > 2*len(in)+binary.MaxVarintLen64 {
			t.Fatalf("merged %d bytes into %d", len(in), len(out))
		}
		if bytes.Equal(out, in) {
			return
		}
		want, _ := image(t, in)
		got, _ := image(t, out)
		if !bytes.Equal(got, want) {
			t.Fatal("merged image differs")
		}
	})
}
