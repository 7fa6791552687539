package pagecrypt_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/hkdf"

	"github.com/gofastr/store/internal/pagecrypt"
)

// refMask is the documented mask construction, written with
// golang.org/x/crypto/hkdf: HMAC-SHA256(HKDF-SHA256(DEK, maskLabel), info).
func refMask(key, info []byte, n int) []byte {
	km := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, key, nil, []byte("gofastr.store/sqlitevfs/v1 value mask")), km); err != nil {
		panic(err)
	}
	m := hmac.New(sha256.New, km)
	m.Write(info)
	return m.Sum(nil)[:n]
}

// TestMaskVectors checks Mask against the frozen vectors in
// testdata/mask/vectors.txt (key, info, value, masked value, in hex) and the
// reference construction. A change of either is a format break: journals
// written before it would no longer play back.
func TestMaskVectors(t *testing.T) {
	data, err := os.ReadFile("testdata/mask/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("malformed vector %q", line)
		}
		var b [4][]byte
		for i := range f {
			if f[i] == "-" {
				f[i] = ""
			}
			if b[i], err = hex.DecodeString(f[i]); err != nil {
				t.Fatalf("vector %q: %v", line, err)
			}
		}
		key, info, value, want := b[0], b[1], b[2], b[3]
		c, err := pagecrypt.New(key)
		if err != nil {
			t.Fatal(err)
		}
		got := bytes.Clone(value)
		c.Mask(got, info)
		if !bytes.Equal(got, want) {
			t.Errorf("Mask(%x, info %x) = %x, want %x", value, info, got, want)
		}
		ref := refMask(key, info, len(value))
		for i := range ref {
			ref[i] ^= value[i]
		}
		if !bytes.Equal(ref, want) {
			t.Errorf("reference mask of %x, info %x = %x, vector says %x", value, info, ref, want)
		}
		c.Mask(got, info)
		if !bytes.Equal(got, value) {
			t.Errorf("masking twice gave %x, want %x", got, value)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no vectors")
	}
}

// TestMaskSeparation: the mask depends on the key and on every byte of
// info, and is not the key check or a subkey's output.
func TestMaskSeparation(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c, _ := pagecrypt.New(key)
	info := []byte("0123456789abcdef0123456789abcdef")
	base := make([]byte, 4)
	c.Mask(base, info)
	seen := map[string]bool{string(base): true}
	for i := range info {
		alt := bytes.Clone(info)
		alt[i] ^= 1
		m := make([]byte, 4)
		c.Mask(m, alt)
		if seen[string(m)] {
			t.Fatalf("flipping info byte %d repeats a mask", i)
		}
		seen[string(m)] = true
	}
	key2 := bytes.Clone(key)
	key2[31] ^= 1
	c2, _ := pagecrypt.New(key2)
	m := make([]byte, 4)
	c2.Mask(m, info)
	if bytes.Equal(m, base) {
		t.Fatal("mask does not depend on the key")
	}
	if kc := c.KeyCheck(); bytes.Equal(base, kc[:4]) {
		t.Fatal("mask equals the key check")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Mask of 33 bytes did not panic")
		}
	}()
	c.Mask(make([]byte, pagecrypt.MaxMask+1), info)
}
