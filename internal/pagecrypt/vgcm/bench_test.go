package vgcm

import (
	"crypto/cipher"
	"testing"
)

// pageBody is the encrypted body of a 4096-byte page (32-byte trailer).
const pageBody = 4064

// benchEach runs f as sub-benchmarks "stdlib" and "vgcm" (skipped where
// New returns false) on a fixed key, with 12-byte nonce and 16-byte AD.
func benchEach(b *testing.B, f func(b *testing.B, a cipher.AEAD, nonce, ad []byte)) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	fast, ok := New(key)
	for _, name := range []string{"stdlib", "vgcm"} {
		b.Run(name, func(b *testing.B) {
			a := stdGCM(b, key)
			if name == "vgcm" {
				requireVGCM(b)
				if !ok {
					b.Fatal("vgcm: New returned false although the CPU is supported")
				}
				a = fast
			}
			b.SetBytes(pageBody)
			f(b, a, make([]byte, 12), make([]byte, 16))
		})
	}
}

func BenchmarkSeal(b *testing.B) {
	benchEach(b, func(b *testing.B, a cipher.AEAD, nonce, ad []byte) {
		pt := make([]byte, pageBody)
		dst := make([]byte, 0, pageBody+16)
		for b.Loop() {
			dst = a.Seal(dst[:0], nonce, pt, ad)
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	benchEach(b, func(b *testing.B, a cipher.AEAD, nonce, ad []byte) {
		sealed := a.Seal(nil, nonce, make([]byte, pageBody), ad)
		dst := make([]byte, 0, pageBody)
		for b.Loop() {
			var err error
			if dst, err = a.Open(dst[:0], nonce, sealed, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}
