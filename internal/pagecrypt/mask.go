package pagecrypt

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
)

// # Masks
//
// SQLite writes a few small values next to page images that it computes
// from the plaintext page (the rollback journal's record checksum samples
// one byte in 200). [Cipher.Mask] lets the caller hide such a value: it XORs
// it with
//
//	HMAC-SHA256(K_m, info)[:len]    K_m = HKDF-SHA256(DEK, info = maskLabel)
//
// K_m is separated from the epoch subkeys and the key check by its own
// label and is derived once per Cipher. The caller makes info unique per
// masked value: sqlitevfs passes the image's associated data and the
// epoch ‖ nonce of the sealed image the value belongs to, which are random
// per seal, so no two masks repeat and a mask cannot be predicted without
// the DEK. Applying the same mask twice restores the value.

// maskLabel separates the mask key from every other use of the DEK.
const maskLabel = "gofastr.store/sqlitevfs/v1 value mask"

// MaxMask is the longest value [Cipher.Mask] masks.
const MaxMask = sha256.Size

// Mask XORs dst (at most [MaxMask] bytes) with a pseudorandom mask keyed by
// the DEK and selected by info (see Masks in the package doc). Masking twice
// with the same info unmasks. info must encode its parts unambiguously
// (fixed sizes), and must differ for every value masked.
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
	m := hmac.New(sha256.New, c.maskKey[:])
	m.Write(info)
	var sum [sha256.Size]byte
	for i, b := range m.Sum(sum[:0])[:len(dst)] {
		dst[i] ^= b
	}
}
