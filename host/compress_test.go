package host

import (
	"bytes"
	"math/rand/v2"
	"testing"
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

// The format unit tests (round trips, corrupt frames, bombs, unknown
// formats and dictionaries) are in internal/zdict; these use the real
// transcripts.

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
// (zdict.DefaultTrainBytes), trains its dictionary, and every later line is
// compressed on its own with it. The "x" metric is raw bytes / stored
// bytes on those later lines (held out from training); "x-store" counts
// every line, the ones before the dictionary at the plain ratio. The
// plain sub-benchmarks compress the same held-out lines without a
// dictionary (formats 0 and 1, as BenchmarkCompress).
func BenchmarkCompressDict(b *testing.B) {
	lines := transcriptLines(b)
	c := newMemCodec()
	n := 0
	for n < len(lines) && c.z.Sampling() {
		c.compress(lines[n], 0)
		n++
	}
	if err := c.wait(); err != nil || c.z.Current() == 0 {
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
