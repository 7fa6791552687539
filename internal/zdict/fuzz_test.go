package zdict

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

// fuzzSet is a Set with one dictionary, ID fuzzDictID, for FuzzDecode.
var fuzzSet = sync.OnceValues(func() (*Set, error) {
	b, err := Build(fuzzDictID, synthLines(60, 300))
	if err != nil {
		return nil, err
	}
	s := NewSet()
	if err := s.Add(fuzzDictID, b); err != nil {
		return nil, err
	}
	return s, s.Use(fuzzDictID)
})

const fuzzDictID = 45678

// FuzzDecode feeds arbitrary bytes, in every format, to a Set with a
// dictionary: a corrupt or hostile frame is an error (never a panic), no
// partial payload comes with an error, and no payload is larger than
// MaxSize. Frames that decode must decode the same way again.
func FuzzDecode(f *testing.F) {
	s, err := fuzzSet()
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range synthLines(61, 4) {
		data, format := s.Encode(l)
		f.Add(data, byte(format))
		plainFrame, _ := Compress(l)
		f.Add(plainFrame, byte(Zstd))
		f.Add(plainFrame, byte(ZstdDict))
		f.Add(data, byte(Zstd))
	}
	f.Add([]byte{}, byte(ZstdDict))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, byte(Zstd))
	f.Add([]byte("not a frame"), byte(3))
	// Bombs: small frames that declare or produce more than MaxSize.
	b := fuzzBombs(f, s)
	for _, bomb := range b {
		f.Add(bomb, byte(Zstd))
		f.Add(bomb, byte(ZstdDict))
	}
	f.Fuzz(func(t *testing.T, data []byte, format byte) {
		p, err := s.Decode(data, Format(format))
		if err != nil {
			if p != nil {
				t.Fatalf("%d bytes returned with error %v", len(p), err)
			}
			if Format(format) <= ZstdDict && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownDict) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrUnknownDict", err)
			}
			return
		}
		if len(p) > MaxSize {
			t.Fatalf("decoded %d bytes, more than MaxSize", len(p))
		}
		if Format(format) == Raw {
			return
		}
		q, err := s.Decode(data, Format(format))
		if err != nil || !bytes.Equal(p, q) {
			t.Fatalf("second decode differs: %v", err)
		}
	})
}

// fuzzBombs returns the bombs of bombs() (plain and with s's dictionary),
// which are small: MaxSize+1 zeros compress to a few KiB.
func fuzzBombs(tb testing.TB, s *Set) [][]byte {
	var out [][]byte
	for _, b := range bombs(tb, s.cur.Load().b) {
		out = append(out, b)
	}
	return out
}
