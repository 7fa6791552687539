//go:build gofastr_vgcm && amd64 && !purego

package vgcm

import (
	"crypto/cipher"
	"crypto/subtle"
	"unsafe"
)

// aesGCM is the accelerated AES-256-GCM AEAD. It is immutable after
// construction and safe for concurrent use.
type aesGCM struct {
	rk   [roundKeysSize]byte // AES-256 round keys
	htab *[htabSize]byte     // 64-byte aligned view into htabBuf
	// htabBuf holds the GHASH key powers H^32..H^1 and their Karatsuba sums.
	// The kernels read them with 64-byte loads, so the table is aligned to a
	// cache line (Go heap objects never move) to avoid split loads.
	htabBuf [htabSize + 63]byte
}

var _ cipher.AEAD = (*aesGCM)(nil)

func newAEAD(key []byte) cipher.AEAD {
	g := new(aesGCM)
	off := (64 - uintptr(unsafe.Pointer(&g.htabBuf[0]))%64) % 64
	g.htab = (*[htabSize]byte)(g.htabBuf[off : off+htabSize])
	expandKeyAsm((*[KeySize]byte)(key), &g.rk)
	initHtabAsm(&g.rk, g.htab)
	return g
}

func (g *aesGCM) NonceSize() int { return NonceSize }
func (g *aesGCM) Overhead() int  { return TagSize }

// counters returns J0 = nonce || 0x00000001 (SP 800-38D, 96-bit IV case),
// whose encryption masks the tag, and the first data counter inc32(J0).
func counters(nonce []byte) (j0, ctr [blockSize]byte) {
	copy(j0[:NonceSize], nonce)
	j0[blockSize-1] = 1
	ctr = j0
	ctr[blockSize-1] = 2
	return
}

// Seal encrypts and authenticates plaintext, authenticates additionalData
// and appends the result (ciphertext || tag) to dst, exactly like
// crypto/cipher's GCM.
func (g *aesGCM) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != NonceSize {
		panic("crypto/cipher: incorrect nonce length given to GCM")
	}
	if uint64(len(plaintext)) > maxPlaintext {
		panic("crypto/cipher: message too large for GCM")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+TagSize)
	if inexactOverlap(out, plaintext) {
		panic("crypto/cipher: invalid buffer overlap of output and input")
	}
	if anyOverlap(out, additionalData) {
		panic("crypto/cipher: invalid buffer overlap of output and additional data")
	}

	j0, _ := counters(nonce)
	sealAsm(&g.rk, g.htab, &j0, out, plaintext, additionalData)
	return ret
}

// Open authenticates ciphertext (which ends with the tag) and
// additionalData and, only if the tag is valid, decrypts and appends the
// plaintext to dst, exactly like crypto/cipher's GCM. On failure the output
// region is zeroed and errOpen is returned.
func (g *aesGCM) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		panic("crypto/cipher: incorrect nonce length given to GCM")
	}
	if len(ciphertext) < TagSize {
		return nil, errOpen
	}
	if uint64(len(ciphertext)) > maxPlaintext+TagSize {
		return nil, errOpen
	}
	ret, out := sliceForAppend(dst, len(ciphertext)-TagSize)
	if inexactOverlap(out, ciphertext) {
		panic("crypto/cipher: invalid buffer overlap of output and input")
	}
	if anyOverlap(out, additionalData) {
		panic("crypto/cipher: invalid buffer overlap of output and additional data")
	}

	tag := ciphertext[len(ciphertext)-TagSize:]
	ciphertext = ciphertext[:len(ciphertext)-TagSize]

	// Authenticate first; nothing is written to out before the comparison.
	j0, ctr := counters(nonce)
	var expected [TagSize]byte
	tagAsm(&g.rk, g.htab, &j0, &expected, additionalData, ciphertext)
	if subtle.ConstantTimeCompare(expected[:], tag) != 1 {
		// Match crypto/cipher, which clears the output region on failure.
		clear(out)
		return nil, errOpen
	}
	ctrAsm(&g.rk, &ctr, out, ciphertext)
	return ret, nil
}
