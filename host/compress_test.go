package host

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// transcriptLines returns every line of the *.jsonl transcripts under
// transcriptsDir, skipping tb when they are absent.
func transcriptLines(tb testing.TB) [][]byte {
	tb.Helper()
	var lines [][]byte
	for _, f := range ReadJSONL(tb, TranscriptsDir) {
		for _, l := range f.Lines {
			lines = append(lines, []byte(l))
		}
	}
	return lines
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestCompressRoundTrip(t *testing.T) {
	event := []byte(`{"role":"assistant","content":[{"type":"text","text":"` +
		strings.Repeat("The store appends events and compresses payloads. ", 40) + `"}]}`)
	tests := []struct {
		name string
		in   []byte
		want byte
	}{
		{"nil", nil, formatRaw},
		{"empty", []byte{}, formatRaw},
		{"small", []byte(`{"a":1}`), formatRaw},
		{"below threshold", bytes.Repeat([]byte("a"), compressMinSize-1), formatRaw},
		{"at threshold", bytes.Repeat([]byte("a"), compressMinSize), formatZstd},
		{"event", event, formatZstd},
		{"random", randomBytes(1, 4096), formatRaw},
		{"large", bytes.Repeat(event, 4000), formatZstd},
		{"too large to compress", make([]byte, maxPayloadSize+1), formatRaw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, format := compressPayload(tt.in)
			if format != tt.want {
				t.Errorf("format = %d, want %d", format, tt.want)
			}
			if format == formatZstd && len(data) >= len(tt.in) {
				t.Errorf("compressed %d bytes to %d", len(tt.in), len(data))
			}
			got, err := decompressPayload(data, format)
			if err != nil {
				t.Fatalf("decompressPayload: %v", err)
			}
			if !bytes.Equal(got, tt.in) {
				t.Errorf("round trip changed the payload (%d bytes in, %d out)", len(tt.in), len(got))
			}
		})
	}
}

func TestCompressIncompressibleStaysRaw(t *testing.T) {
	in := randomBytes(2, 64<<10)
	data, format := compressPayload(in)
	if format != formatRaw {
		t.Fatalf("format = %d, want formatRaw", format)
	}
	if &data[0] != &in[0] {
		t.Errorf("raw payload was copied")
	}
}

// TestCompressRoundTripTranscripts round-trips every transcript line as the
// store does (one payload per line).
func TestCompressRoundTripTranscripts(t *testing.T) {
	for i, line := range transcriptLines(t) {
		data, format := compressPayload(line)
		got, err := decompressPayload(data, format)
		if err != nil || !bytes.Equal(got, line) {
			t.Fatalf("line %d: round trip failed: %v", i, err)
		}
	}
}

func TestDecompressCorrupt(t *testing.T) {
	in := bytes.Repeat([]byte(`{"k":"value","n":12345},`), 100)
	data, format := compressPayload(in)
	if format != formatZstd {
		t.Fatalf("format = %d, want formatZstd", format)
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x40
	badCRC := bytes.Clone(data)
	badCRC[len(badCRC)-1] ^= 0x01
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", randomBytes(3, 200)},
		{"truncated", data[:len(data)/2]},
		{"flipped bit", flipped},
		{"bad checksum", badCRC},
		{"raw bytes tagged zstd", in},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decompressPayload(tt.data, formatZstd)
			if err == nil {
				t.Fatalf("decompressPayload = %d bytes, nil error; want an error", len(got))
			}
			if got != nil {
				t.Errorf("returned %d bytes with the error", len(got))
			}
		})
	}
}

func TestDecompressUnknownFormat(t *testing.T) {
	for _, f := range []byte{3, 0x7f, 0xff} {
		_, err := decompressPayload([]byte("x"), f)
		if !errors.Is(err, errUnknownFormat) {
			t.Errorf("format %d: err = %v, want errUnknownFormat", f, err)
		}
		if _, err := newMemCodec().decompress([]byte("x"), f); !errors.Is(err, errUnknownFormat) {
			t.Errorf("codec, format %d: err = %v, want errUnknownFormat", f, err)
		}
	}
	// Dictionary frames need the store's dictionaries: the package-level
	// decoder does not know the format.
	if _, err := decompressPayload([]byte("x"), formatZstdDict); !errors.Is(err, errUnknownFormat) {
		t.Errorf("formatZstdDict without a codec: err = %v, want errUnknownFormat", err)
	}
}

// TestCodecReadsOldFormats checks that a codec with a dictionary reads
// formats 0 and 1 as compressPayload wrote them.
func TestCodecReadsOldFormats(t *testing.T) {
	c := trainedCodec(t, 30)
	for i, p := range append(synthLines(31, 20), []byte(`{"a":1}`), nil) {
		data, format := compressPayload(p)
		got, err := c.decompress(data, format)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("payload %d (format %d): %v", i, format, err)
		}
	}
}

// TestDecompressBomb checks that a frame decoding to more than
// maxPayloadSize bytes is refused, whether or not its header declares the
// size.
func TestDecompressBomb(t *testing.T) {
	zeros := make([]byte, maxPayloadSize+1)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	sized := enc.EncodeAll(zeros, nil) // header declares the content size
	var streamed bytes.Buffer          // header does not
	w, err := zstd.NewWriter(&streamed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(zeros); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for name, bomb := range map[string][]byte{"sized": sized, "streamed": streamed.Bytes()} {
		if _, err := decompressPayload(bomb, formatZstd); err == nil {
			t.Errorf("%s bomb (%d bytes -> %d): no error", name, len(bomb), len(zeros))
		}
	}
}

func TestCompressConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				in := bytes.Repeat([]byte{byte(g), byte(i), 'x', 'y'}, 100+i)
				data, format := compressPayload(in)
				got, err := decompressPayload(data, format)
				if err != nil || !bytes.Equal(got, in) {
					t.Errorf("goroutine %d, payload %d: round trip failed: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkCompress measures the store's per-payload compression on the
// real transcripts: every JSONL line is one payload, compressed on its
// own. The "x" metric is total raw bytes / total stored bytes.
func BenchmarkCompress(b *testing.B) {
	lines := transcriptLines(b)
	var raw int
	for _, l := range lines {
		raw += len(l)
	}
	b.Run("encode", func(b *testing.B) {
		var stored int
		b.SetBytes(int64(raw))
		for b.Loop() {
			stored = 0
			for _, l := range lines {
				data, _ := compressPayload(l)
				stored += len(data)
			}
		}
		b.ReportMetric(float64(raw)/float64(stored), "x")
	})
	b.Run("decode", func(b *testing.B) {
		type row struct {
			data   []byte
			format byte
		}
		rows := make([]row, len(lines))
		for i, l := range lines {
			rows[i].data, rows[i].format = compressPayload(l)
		}
		b.SetBytes(int64(raw))
		for b.Loop() {
			for _, r := range rows {
				if _, err := decompressPayload(r.data, r.format); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkCompressDict simulates a store's dictionary on the real
// transcripts: the codec samples the lines in order until it has enough
// (dictTrainBytes), trains its dictionary, and every later line is
// compressed on its own with it. The "x" metric is raw bytes / stored
// bytes on those later lines (held out from training); "x-store" counts
// every line, the ones before the dictionary at the plain ratio. The
// plain sub-benchmarks compress the same held-out lines without a
// dictionary (formats 0 and 1, as BenchmarkCompress).
func BenchmarkCompressDict(b *testing.B) {
	lines := transcriptLines(b)
	c := newMemCodec()
	n := 0
	for n < len(lines) && c.collecting.Load() {
		c.compress(lines[n], 0)
		n++
	}
	if err := c.wait(); err != nil || c.cur.Load() == nil {
		b.Fatalf("no dictionary after %d lines: %v", n, err)
	}
	head, rest := lines[:n], lines[n:]
	var rawHead, storedHead, rawRest int
	for _, l := range head {
		data, _ := compressPayload(l)
		rawHead += len(l)
		storedHead += len(data)
	}
	for _, l := range rest {
		rawRest += len(l)
	}
	b.Logf("dictionary trained on the first %d lines (%d bytes), tested on %d lines (%d bytes)", len(head), rawHead, len(rest), rawRest)

	encode := func(b *testing.B, compress func([]byte) ([]byte, byte)) {
		var stored int
		b.SetBytes(int64(rawRest))
		for b.Loop() {
			stored = 0
			for _, l := range rest {
				data, _ := compress(l)
				stored += len(data)
			}
		}
		b.ReportMetric(float64(rawRest)/float64(stored), "x")
		b.ReportMetric(float64(rawHead+rawRest)/float64(storedHead+stored), "x-store")
	}
	decode := func(b *testing.B, compress func([]byte) ([]byte, byte)) {
		type row struct {
			data   []byte
			format byte
		}
		rows := make([]row, len(rest))
		for i, l := range rest {
			rows[i].data, rows[i].format = compress(l)
		}
		b.SetBytes(int64(rawRest))
		for b.Loop() {
			for _, r := range rows {
				if _, err := c.decompress(r.data, r.format); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	withDict := func(p []byte) ([]byte, byte) { return c.compress(p, 0) }
	b.Run("encode/dict", func(b *testing.B) { encode(b, withDict) })
	b.Run("encode/plain", func(b *testing.B) { encode(b, compressPayload) })
	b.Run("decode/dict", func(b *testing.B) { decode(b, withDict) })
	b.Run("decode/plain", func(b *testing.B) { decode(b, compressPayload) })
}
