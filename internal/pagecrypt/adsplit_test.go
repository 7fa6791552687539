package pagecrypt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gofastr/store/internal/pagecrypt"
)

// sqlitevfsADSize is the length of the associated data package sqlitevfs
// gives every Seal and Open: kind, page number and WAL salts.
const sqlitevfsADSize = 16

// TestOpenADBoundary pins the split of ad ‖ prefix that GCM authenticates
// (the package doc's Construction; found by FuzzOpen, whose input is in
// testdata/fuzz/FuzzOpen): with ad of another length the first prefix
// byte can move into ad and the image still opens, which is why a caller
// must keep one ad length per key; with the fixed 16-byte ad of sqlitevfs
// no other skip, and no shorter or longer image, opens.
func TestOpenADBoundary(t *testing.T) {
	var v *vector
	for _, x := range loadVectors(t) {
		if x.name == "ok_zero_prefix" {
			v = x
		}
	}
	if v == nil {
		t.Fatal("vector ok_zero_prefix missing")
	}
	if len(v.ad) != sqlitevfsADSize || v.skip != 24 {
		t.Fatalf("ok_zero_prefix: ad of %d bytes, skip %d; want %d and 24", len(v.ad), v.skip, sqlitevfsADSize)
	}
	c, err := pagecrypt.New(v.key)
	if err != nil {
		t.Fatal(err)
	}
	open := func(skip int, ad, image []byte) ([]byte, error) {
		dst := make([]byte, len(image))
		return dst, c.Open(dst, bytes.Clone(image), skip, ad)
	}
	if _, err := open(v.skip, v.ad, v.sealed); err != nil {
		t.Fatalf("the vector itself: %v", err)
	}
	// The documented ambiguity: one prefix byte moved into a 17-byte ad.
	moved := append(bytes.Clone(v.ad), v.sealed[0])
	dst, err := open(v.skip-1, moved, v.sealed[1:])
	if err != nil {
		t.Fatalf("re-split with a 17-byte ad did not open (%v): the package doc is out of date", err)
	}
	if !bytes.Equal(dst[v.skip-1:], v.plaintext[v.skip:]) {
		t.Fatal("re-split opened to another body")
	}
	// With the fixed length, nothing but the vector opens.
	for skip := 0; skip <= 48; skip++ {
		for _, img := range [][]byte{v.sealed, v.sealed[1:], append(bytes.Clone(v.sealed[:1]), v.sealed...)} {
			if skip == v.skip && len(img) == len(v.sealed) {
				continue
			}
			if len(img) < skip+pagecrypt.Overhead+1 {
				continue
			}
			for _, ad := range [][]byte{v.ad, append(bytes.Clone(v.ad[1:]), img[0])} {
				if _, err := open(skip, ad, img); !errors.Is(err, pagecrypt.ErrAuth) {
					t.Errorf("skip %d, image of %d bytes, 16-byte ad %x: %v, want ErrAuth", skip, len(img), ad, err)
				}
			}
		}
	}
}
