package pagecrypt

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// maskLabel separates the mask key from every other use of the DEK.
const maskLabel = "gofastr.store/sqlitevfs/v1 value mask"

// MaxMask is the longest value [Cipher.Mask] masks.
const MaxMask = sha256.Size

// Mask XORs dst (at most [MaxMask] bytes) with a pseudorandom mask keyed by
// the DEK and selected by info (see Masks in the package doc). Masking twice
// with the same info unmasks. info must encode its parts unambiguously
// (fixed sizes), and must differ for every value masked. Mask is safe for
// concurrent use.
func (c *Cipher) Mask(dst, info []byte) {
	if len(dst) > MaxMask {
		panic("pagecrypt: Mask value too long")
	}
	c.maskOnce.Do(func() {
		k, err := hkdf.Key(sha256.New, c.key[:], nil, maskLabel, KeySize)
		if err != nil {
			panic(err) // unreachable
		}
		copy(c.maskKey[:], k)
		clear(k)
	})
	m, _ := c.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, c.maskKey[:])
	} else {
		m.Reset()
	}
	m.Write(info)
	var sum [sha256.Size]byte
	for i, b := range m.Sum(sum[:0])[:len(dst)] {
		dst[i] ^= b
	}
	c.macs.Put(m)
}
