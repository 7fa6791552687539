package zdict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Small training thresholds, so that tests train a dictionary from a few
// hundred lines.
const testTrainBytes = 96 << 10

// words is the vocabulary of the synthetic transcript lines.
var words = strings.Fields(`the store appends events and compresses payloads with zstd
	a dictionary trained from its own data makes small JSON documents much smaller because
	keys and common phrases repeat across lines tool call result assistant user message file
	path function test error returns value context session turn kind timestamp writer reader
	commit transaction page cache index query schema migration version retention pin marker`)

// synthLine returns a synthetic transcript line of a few hundred bytes:
// the shape (keys, constant fields) repeats, the text and IDs vary.
func synthLine(r *rand.Rand, i int) []byte {
	var text strings.Builder
	for range 20 + r.IntN(120) {
		text.WriteString(words[r.IntN(len(words))])
		text.WriteByte(' ')
	}
	kinds := []string{"user", "assistant", "tool_use", "tool_result"}
	line := map[string]any{
		"parentUuid": fmt.Sprintf("%016x-%08x", r.Uint64(), r.Uint32()),
		"cwd":        "/home/dev/projects/gofastr/store",
		"sessionId":  "8d0c6f2e-1b7a-4c11-9a55-2f7e0e3c9b41",
		"version":    "2.1.3",
		"type":       kinds[i%len(kinds)],
		"message": map[string]any{
			"role":    kinds[i%2],
			"model":   "claude-opus-4-1-20250805",
			"content": []any{map[string]any{"type": "text", "text": text.String()}},
			"usage":   map[string]any{"input_tokens": r.IntN(5000), "output_tokens": r.IntN(2000)},
		},
		"uuid":      fmt.Sprintf("%016x-%08x", r.Uint64(), r.Uint32()),
		"timestamp": time.Date(2026, 5, 11, 10, 0, i, 0, time.UTC).Format(time.RFC3339Nano),
	}
	b, err := json.Marshal(line)
	if err != nil {
		panic(err)
	}
	return b
}

func synthLines(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0xd1c7))
	out := make([][]byte, n)
	for i := range out {
		out[i] = synthLine(r, i)
	}
	return out
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// trainedCodec returns an in-memory Codec trained on synthetic lines.
func trainedCodec(tb testing.TB, seed uint64) *Codec {
	tb.Helper()
	c := NewCodec(Config{TrainBytes: testTrainBytes})
	for _, l := range synthLines(seed, 1000) {
		c.Compress(l, 0)
		if !c.Sampling() {
			break
		}
	}
	if err := c.Wait(); err != nil {
		tb.Fatalf("training: %v", err)
	}
	if c.Current() == 0 {
		tb.Fatal("no dictionary after training")
	}
	return c
}

func TestCompressRoundTrip(t *testing.T) {
	event := []byte(`{"role":"assistant","content":[{"type":"text","text":"` +
		strings.Repeat("The store appends events and compresses payloads. ", 40) + `"}]}`)
	tests := []struct {
		name string
		in   []byte
		want Format
	}{
		{"nil", nil, Raw},
		{"empty", []byte{}, Raw},
		{"small", []byte(`{"a":1}`), Raw},
		{"below threshold", bytes.Repeat([]byte("a"), MinSize-1), Raw},
		{"at threshold", bytes.Repeat([]byte("a"), MinSize), Zstd},
		{"event", event, Zstd},
		{"random", randomBytes(1, 4096), Raw},
		{"large", bytes.Repeat(event, 4000), Zstd},
		{"too large to compress", make([]byte, MaxSize+1), Raw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, format := Compress(tt.in)
			if format != tt.want {
				t.Errorf("format = %d, want %d", format, tt.want)
			}
			if format == Zstd && len(data) >= len(tt.in) {
				t.Errorf("compressed %d bytes to %d", len(tt.in), len(data))
			}
			got, err := Decompress(data, format)
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if !bytes.Equal(got, tt.in) {
				t.Errorf("round trip changed the payload (%d bytes in, %d out)", len(tt.in), len(got))
			}
		})
	}
}

func TestCompressIncompressibleStaysRaw(t *testing.T) {
	in := randomBytes(2, 64<<10)
	data, format := Compress(in)
	if format != Raw {
		t.Fatalf("format = %d, want Raw", format)
	}
	if &data[0] != &in[0] {
		t.Errorf("raw payload was copied")
	}
}

func TestDecompressCorrupt(t *testing.T) {
	in := bytes.Repeat([]byte(`{"k":"value","n":12345},`), 100)
	data, format := Compress(in)
	if format != Zstd {
		t.Fatalf("format = %d, want Zstd", format)
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
			got, err := Decompress(tt.data, Zstd)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decompress = %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if got != nil {
				t.Errorf("returned %d bytes with the error", len(got))
			}
		})
	}
}

func TestDecompressUnknownFormat(t *testing.T) {
	for _, f := range []Format{3, 0x7f, 0xff} {
		if _, err := Decompress([]byte("x"), f); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("format %d: err = %v, want ErrUnknownFormat", f, err)
		}
		if _, err := NewSet().Decode([]byte("x"), f); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("Set, format %d: err = %v, want ErrUnknownFormat", f, err)
		}
	}
	// Dictionary frames need a Set: Decompress does not know the format.
	if _, err := Decompress([]byte("x"), ZstdDict); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ZstdDict without a Set: err = %v, want ErrUnknownFormat", err)
	}
}

// TestSetReadsOldFormats checks that a Set with a dictionary reads formats
// Raw and Zstd as Compress wrote them.
func TestSetReadsOldFormats(t *testing.T) {
	c := trainedCodec(t, 30)
	for i, p := range append(synthLines(31, 20), []byte(`{"a":1}`), nil) {
		data, format := Compress(p)
		got, err := c.Decode(data, format)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("payload %d (format %d): %v", i, format, err)
		}
	}
}

// bombs returns frames that decode to more than MaxSize bytes, with and
// without the content size in their header, plain and with the
// dictionary of set (if not nil).
func bombs(tb testing.TB, dictBytes []byte) map[string][]byte {
	tb.Helper()
	zeros := make([]byte, MaxSize+1)
	out := map[string][]byte{}
	for _, withDict := range []bool{false, true} {
		if withDict && dictBytes == nil {
			continue
		}
		opts := []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest)}
		name := "plain"
		if withDict {
			opts = append(opts, zstd.WithEncoderDict(dictBytes))
			name = "dict"
		}
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			tb.Fatal(err)
		}
		out[name+"/sized"] = enc.EncodeAll(zeros, nil) // header declares the content size
		var streamed bytes.Buffer                      // header does not
		enc.Reset(&streamed)
		if _, err := enc.Write(zeros); err != nil {
			tb.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			tb.Fatal(err)
		}
		out[name+"/streamed"] = streamed.Bytes()
	}
	return out
}

// TestDecompressBomb checks that a frame decoding to more than MaxSize
// bytes is refused, whether or not its header declares the size, with or
// without a dictionary.
func TestDecompressBomb(t *testing.T) {
	c := trainedCodec(t, 40)
	for name, bomb := range bombs(t, c.cur.Load().b) {
		f := Zstd
		if strings.HasPrefix(name, "dict/") {
			f = ZstdDict
		}
		if got, err := c.Decode(bomb, f); !errors.Is(err, ErrCorrupt) || got != nil {
			t.Errorf("%s bomb (%d bytes): %d bytes, %v; want ErrCorrupt", name, len(bomb), len(got), err)
		}
		if f == Zstd {
			if _, err := Decompress(bomb, f); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s bomb: Decompress: %v, want ErrCorrupt", name, err)
			}
		}
	}
}

func TestCompressConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				in := bytes.Repeat([]byte{byte(g), byte(i), 'x', 'y'}, 100+i)
				data, format := Compress(in)
				got, err := Decompress(data, format)
				if err != nil || !bytes.Equal(got, in) {
					t.Errorf("goroutine %d, payload %d: round trip failed: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestDecodeCorruptDictFrame feeds damaged dictionary frames to the
// decoder: each is an error, never a panic or a wrong payload.
func TestDecodeCorruptDictFrame(t *testing.T) {
	c := trainedCodec(t, 6)
	in := synthLines(7, 1)[0]
	data, format := c.Compress(in, 0)
	if format != ZstdDict {
		t.Fatalf("format = %d, want ZstdDict", format)
	}
	if got, err := c.Decode(data, format); err != nil || !bytes.Equal(got, in) {
		t.Fatalf("round trip: %v", err)
	}
	plainFrame, plainFormat := Compress(in)
	if plainFormat != Zstd {
		t.Fatalf("plain format = %d", plainFormat)
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x40
	badCRC := bytes.Clone(data)
	badCRC[len(badCRC)-1] ^= 0x01
	for name, bad := range map[string][]byte{
		"empty":                 nil,
		"one byte":              {0x28},
		"magic only":            data[:4],
		"header only":           data[:8],
		"garbage":               randomBytes(8, 300),
		"truncated":             data[:len(data)/2],
		"bad checksum":          badCRC,
		"raw bytes tagged dict": in,
		"frame without dict":    plainFrame,
	} {
		got, err := c.Decode(bad, ZstdDict)
		if err == nil {
			t.Errorf("%s: Decode = %d bytes, nil error; want an error", name, len(got))
		} else if got != nil {
			t.Errorf("%s: returned %d bytes with the error", name, len(got))
		}
	}
	// A flipped bit may land on bits the decoder ignores (a block's
	// padding); then the payload decodes unchanged, which is sound. What
	// must never happen is a different payload without an error.
	if got, err := c.Decode(flipped, ZstdDict); err == nil && !bytes.Equal(got, in) {
		t.Errorf("flipped bit: decoded to a different payload (%d bytes) without an error", len(got))
	} else if err != nil && got != nil {
		t.Errorf("flipped bit: returned %d bytes with the error", len(got))
	}
	// Every single-byte change: an error or the original payload, no
	// panic.
	for i := range data {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[i] ^= mask
			if got, err := c.Decode(bad, ZstdDict); err == nil && !bytes.Equal(got, in) {
				t.Fatalf("byte %d ^ %#x: decoded to a different payload without an error", i, mask)
			}
		}
	}
}

// TestDecodeUnknownDict decodes payloads whose dictionary the Set does not
// have: ErrUnknownDict, naming the ID.
func TestDecodeUnknownDict(t *testing.T) {
	a := trainedCodec(t, 9)
	in := synthLines(10, 1)[0]
	data, _ := a.Compress(in, 0)
	id := a.Current()

	other := NewSet()
	b, err := Build(id^1, synthLines(11, 300))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Add(id^1, b); err != nil {
		t.Fatal(err)
	}
	if err := other.Use(id ^ 1); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Set{"no dictionary": NewSet(), "another dictionary": other, "zero Set": {}, "nil Set": nil} {
		_, err := s.Decode(data, ZstdDict)
		if !errors.Is(err, ErrUnknownDict) || !strings.Contains(err.Error(), fmt.Sprint(id)) {
			t.Errorf("%s: err = %v, want ErrUnknownDict naming ID %d", name, err, id)
		}
	}
}

// TestAddUnusable adds dictionaries that do not load: Add reports it, the
// Set keeps them, payloads naming them fail with the reason, and they
// cannot encode.
func TestAddUnusable(t *testing.T) {
	c := trainedCodec(t, 41)
	id := c.Current()
	good := c.cur.Load().b
	in := synthLines(42, 1)[0]
	data, _ := c.Compress(in, 0)
	for name, b := range map[string][]byte{
		"garbage":   randomBytes(14, 1000),
		"truncated": good[:100],
		"other ID":  mustWithID(t, good, id+1),
	} {
		s := NewSet()
		err := s.Add(id, b)
		if !errors.Is(err, ErrUnusableDict) {
			t.Errorf("%s: Add: %v, want ErrUnusableDict", name, err)
		}
		if !s.Known(id) || s.Usable(id) {
			t.Errorf("%s: known %v, usable %v; want known, unusable", name, s.Known(id), s.Usable(id))
		}
		if _, err := s.Decode(data, ZstdDict); !errors.Is(err, ErrUnusableDict) || !strings.Contains(err.Error(), fmt.Sprintf("dictionary %d is unusable", id)) {
			t.Errorf("%s: Decode: %v, want dictionary %d unusable", name, err, id)
		}
		if err := s.Use(id); err == nil || s.Current() != 0 {
			t.Errorf("%s: Use of an unusable dictionary: %v", name, err)
		}
	}
	if err := NewSet().Add(0, good); err == nil {
		t.Error("Add with ID 0: no error")
	}
}

func mustWithID(tb testing.TB, b []byte, id uint32) []byte {
	tb.Helper()
	c, err := withID(b, id)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestNewID checks the IDs a Codec picks: in the two-byte user range,
// distinct from the ones it knows, retired or not, and from taken ones.
func TestNewID(t *testing.T) {
	c := NewCodec(Config{})
	m := map[uint32]*coder{}
	c.dicts.Store(&m)
	for i := range 2000 {
		id := c.newID(func(id uint32) bool { return id%7 == 0 })
		if id < MinID || id > MaxID {
			t.Fatalf("ID %d outside [%d, %d]", id, MinID, MaxID)
		}
		if _, dup := m[id]; dup || id%7 == 0 {
			t.Fatalf("ID %d picked twice or taken", id)
		}
		m[id] = &coder{id: id, retired: i%2 == 0}
	}
	// A stuck ID source: the Codec still finds a free ID.
	stuck := NewCodec(Config{RandID: func() uint32 { return 40000 }})
	stuck.dicts.Store(&map[uint32]*coder{40000: {id: 40000}})
	if id := stuck.newID(nil); id == 40000 || id < MinID || id > maxUserID {
		t.Errorf("stuck source: ID %d", id)
	}
	// Out-of-range candidates are drawn again.
	n := 0
	odd := NewCodec(Config{RandID: func() uint32 { n++; return []uint32{0, 5, 1 << 31, 40001}[min(n-1, 3)] }})
	if id := odd.newID(nil); id != 40001 {
		t.Errorf("ID %d, want 40001 after three out-of-range candidates", id)
	}
}

// TestFrameNamesDict checks the frame header: it names the dictionary, in
// two bytes.
func TestFrameNamesDict(t *testing.T) {
	c := trainedCodec(t, 16)
	in := synthLines(17, 1)[0]
	data, format := c.Compress(in, 0)
	if format != ZstdDict {
		t.Fatalf("format = %d", format)
	}
	var h zstd.Header
	if err := h.Decode(data); err != nil {
		t.Fatal(err)
	}
	if h.DictionaryID != c.Current() || !h.HasCheckSum {
		t.Errorf("header: dictionary %d (want %d), checksum %v", h.DictionaryID, c.Current(), h.HasCheckSum)
	}
	if id, ok := FrameDict(data); !ok || id != c.Current() {
		t.Errorf("FrameDict = %d, %v", id, ok)
	}
	if fhd := data[4]; fhd&3 != 2 {
		t.Errorf("dictionary ID field flag %d, want 2 (two bytes)", fhd&3)
	}
	plainFrame, _ := Compress(in)
	if _, ok := FrameDict(plainFrame); ok {
		t.Error("FrameDict names a dictionary for a plain frame")
	}
	// Small, too large and incompressible payloads stay raw, as without a
	// dictionary.
	for name, p := range map[string][]byte{
		"small":          []byte(`{"a":1}`),
		"incompressible": randomBytes(18, 4096),
		"too large":      make([]byte, MaxSize+1),
	} {
		if _, f := c.Compress(p, 0); f != Raw {
			t.Errorf("%s: format %d, want raw", name, f)
		}
	}
}

// TestBuildNoGain trains on incompressible payloads: ErrNoGain, and a
// Codec that gets it keeps compressing without dictionary.
func TestBuildNoGain(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 0))
	var payloads [][]byte
	for i := range 300 {
		payloads = append(payloads, fmt.Appendf(nil, `{"n":%d,"blob":"%x"}`, i, randomBytes(r.Uint64(), 200+r.IntN(600))))
	}
	if _, err := Build(MinID, payloads); !errors.Is(err, ErrNoGain) {
		t.Fatalf("Build: %v, want ErrNoGain", err)
	}
	for _, id := range []uint32{0, MinID - 1, 1 << 31} {
		if _, err := Build(id, synthLines(1, 300)); err == nil {
			t.Errorf("Build with ID %d: no error", id)
		}
	}
	if _, err := Build(MinID, synthLines(1, 5)); err == nil {
		t.Error("Build on 5 samples: no error")
	}
}
