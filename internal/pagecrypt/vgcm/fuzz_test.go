package vgcm

import (
	"bytes"
	"testing"
)

// FuzzDifferential compares Seal and Open (valid and tampered) with
// crypto/cipher for arbitrary keys, nonces, AD and plaintexts. Keys and
// nonces are truncated/zero-extended to 32 and 12 bytes.
func FuzzDifferential(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 12), []byte{}, []byte{}, uint16(0))
	f.Add([]byte("0123456789abcdef0123456789abcdef"), []byte("nonce-nonce!"), []byte("ad"), make([]byte, 4064), uint16(7))
	f.Add(make([]byte, 32), make([]byte, 12), make([]byte, 17), make([]byte, 257), uint16(300))
	f.Fuzz(func(t *testing.T, keyIn, nonceIn, ad, pt []byte, flip uint16) {
		key := make([]byte, 32)
		copy(key, keyIn)
		nonce := make([]byte, 12)
		copy(nonce, nonceIn)
		requireVGCM(t)
		fast, ok := New(key)
		if !ok {
			t.Fatal("vgcm: New returned false although the CPU is supported")
		}
		std := stdGCM(t, key)

		want := std.Seal(nil, nonce, pt, ad)
		got := fast.Seal(nil, nonce, pt, ad)
		if !bytes.Equal(got, want) {
			t.Fatalf("Seal mismatch (pt %d, ad %d)", len(pt), len(ad))
		}
		opened, err := fast.Open(nil, nonce, want, ad)
		if err != nil || !bytes.Equal(opened, pt) {
			t.Fatalf("Open failed: %v", err)
		}

		// Tamper with one bit of ciphertext||tag; both must reject.
		bit := int(flip) % (len(want) * 8)
		bad := append([]byte(nil), want...)
		bad[bit/8] ^= 1 << (bit % 8)
		if _, err := fast.Open(nil, nonce, bad, ad); err == nil {
			t.Fatal("Open accepted a tampered message")
		}
		if _, err := std.Open(nil, nonce, bad, ad); err == nil {
			t.Fatal("stdlib Open accepted a tampered message")
		}

		// Opening arbitrary input must agree with the stdlib.
		o1, e1 := std.Open(nil, nonce, pt, ad)
		o2, e2 := fast.Open(nil, nonce, pt, ad)
		if (e1 == nil) != (e2 == nil) || !bytes.Equal(o1, o2) {
			t.Fatalf("Open of arbitrary input disagrees: %v vs %v", e1, e2)
		}
	})
}
