package sqlitevfs

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"unsafe"
)

// TestHexKeyWipes is the regression test for the URI key's uncleared
// copies: keyFor decoded with hex.Decode(key, []byte(hk)), a copy of the
// key in hex that nothing cleared, and left hk itself (the copy
// URIParameter makes of SQLite's string) as it was. hexKey must decode
// without allocating and leave hk zeroed, whether or not it is a key.
func TestHexKeyWipes(t *testing.T) {
	want := bytes.Repeat([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, 4)
	cases := map[string]bool{
		hex.EncodeToString(want):                  true,
		strings.ToUpper(hex.EncodeToString(want)): true,
		hex.EncodeToString(want)[:62]:             false, // short
		hex.EncodeToString(want) + "00":           false, // long
		hex.EncodeToString(want)[:63] + "g":       false, // not hex
		"":                                        false,
	}
	for in, ok := range cases {
		hk := strings.Clone(in) // a fresh heap string, as URIParameter returns
		key := make([]byte, KeySize)
		if got := hexKey(key, hk); got != ok {
			t.Errorf("hexKey(%q) = %v, want %v", in, got, ok)
		}
		if ok && !bytes.Equal(key, want) {
			t.Errorf("hexKey(%q) decoded %x", in, key)
		}
		if b := unsafe.Slice(unsafe.StringData(hk), len(hk)); len(hk) > 0 && !bytes.Equal(b, make([]byte, len(hk))) {
			t.Errorf("hexKey(%q) left the hex key in memory: %q", in, b)
		}
	}
	// Fresh strings made beforehand: decoding itself allocates nothing.
	hks := make([]string, 101)
	for i := range hks {
		hks[i] = strings.Clone(hex.EncodeToString(want))
	}
	key := make([]byte, KeySize)
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		hexKey(key, hks[i])
		i++
	}); n != 0 {
		t.Errorf("hexKey allocates %v times per call", n)
	}
}
