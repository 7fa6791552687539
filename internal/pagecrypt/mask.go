package pagecrypt

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// maskLabel separates the mask key from every other use of the DEK.
const maskLabel = "gofastr.store/sqlitevfs/v1 header mask"

// MaskSize is the largest mask [Masker.Mask] returns.
const MaskSize = sha256.Size

// A Masker computes masks for the header fields SQLite derives from page
// plaintext (WAL frame and rollback-journal checksums): HMAC-SHA256 under a
// key derived from the DEK with its own label. The caller puts everything
// the mask must be fresh for and bound to in the input, including the
// sealed image's trailer, whose random epoch and nonce make every mask
// unique. XORed into a checksum, the mask makes the stored value uniformly
// random to anyone without the DEK, and makes a changed input field (a
// commit marker, a salt) unmask to garbage that SQLite's own checksum test
// rejects. A Masker is not safe for concurrent use: take one per file.
type Masker struct {
	mac hash.Hash
	sum [MaskSize]byte
}

// NewMasker returns a Masker for c's DEK.
func (c *Cipher) NewMasker() *Masker {
	return &Masker{mac: hmac.New(sha256.New, c.maskKey[:])}
}

// maskKey derives the mask key from dek.
func maskKey(dek []byte) [KeySize]byte {
	k, err := hkdf.Key(sha256.New, dek, nil, maskLabel, KeySize)
	if err != nil {
		panic(err) // unreachable: 32 bytes is far below HKDF's limit
	}
	defer clear(k)
	return [KeySize]byte(k)
}

// Mask XORs the first len(dst) bytes of HMAC(input) into dst; len(dst) must
// be at most MaskSize. Applying the same mask twice restores dst.
func (m *Masker) Mask(dst, input []byte) {
	if len(dst) > MaskSize {
		panic("pagecrypt: mask too long")
	}
	m.mac.Reset()
	m.mac.Write(input)
	sum := m.mac.Sum(m.sum[:0])
	for i := range dst {
		dst[i] ^= sum[i]
	}
}
