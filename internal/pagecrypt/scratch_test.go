package pagecrypt_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/gofastr/store/internal/pagecrypt"
)

// TestOpenScratch checks that OpenScratch opens exactly what Open opens and
// rejects exactly what Open rejects: every sealed image, every single-bit
// flip of it and a wrong ad.
func TestOpenScratch(t *testing.T) {
	key := make([]byte, pagecrypt.KeySize)
	rand.Read(key)
	c, err := pagecrypt.New(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ size, skip int }{{512, 0}, {1024, 24}, {4096, 0}} {
		page := make([]byte, tc.size)
		rand.Read(page[:tc.size-pagecrypt.Overhead])
		ad := []byte("ad for this page")
		sealed := make([]byte, tc.size)
		c.Seal(sealed, page, tc.skip, ad)

		want := make([]byte, tc.size)
		if err := c.Open(want, sealed, tc.skip, ad); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, tc.size)
		if err := c.OpenScratch(got, bytes.Clone(sealed), tc.skip, ad); err != nil {
			t.Fatalf("size %d: OpenScratch: %v", tc.size, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: OpenScratch and Open disagree", tc.size)
		}
		if err := c.OpenScratch(got, bytes.Clone(sealed), tc.skip, []byte("another ad")); !errors.Is(err, pagecrypt.ErrAuth) {
			t.Fatalf("size %d: wrong ad: err=%v, want ErrAuth", tc.size, err)
		}
		for bit := 0; bit < 8*tc.size; bit += 7 {
			bad := bytes.Clone(sealed)
			bad[bit/8] ^= 1 << (bit % 8)
			if err := c.OpenScratch(got, bad, tc.skip, ad); !errors.Is(err, pagecrypt.ErrAuth) {
				t.Fatalf("size %d: bit %d flipped: err=%v, want ErrAuth", tc.size, bit, err)
			}
		}
	}
}
