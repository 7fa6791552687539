// Package vgcm is an AVX-512 (VAES + VPCLMULQDQ) implementation of
// AES-256-GCM for amd64.
//
// It is a pure performance optimization of standard AES-GCM as specified in
// NIST SP 800-38D, restricted to 256-bit keys, 12-byte nonces and 16-byte
// tags. Its output is bit-for-bit identical to crypto/cipher's GCM built on
// crypto/aes, and Seal/Open follow crypto/cipher's semantics exactly:
// results are appended to dst, an exact overlap of the output with the input
// (dst[:0] reusing the input buffer) is allowed, an inexact overlap or any
// overlap with the additional data panics, a wrong nonce length panics, and
// an authentication failure returns an error and zeroes the output region.
//
// Security properties and limits:
//
//   - The assembly kernels are constant-time with respect to keys and data:
//     AES uses the AES-NI/VAES instructions and GHASH uses carry-less
//     multiplication, so there are no table lookups and no secret-dependent
//     branches or memory addresses. Only public lengths influence control
//     flow.
//   - Open computes GHASH over the additional data and the ciphertext first,
//     compares the tag with crypto/subtle.ConstantTimeCompare, and only then
//     decrypts into dst. On failure no plaintext is ever written; the output
//     region is cleared (like crypto/cipher) and an error is returned.
//   - Seal runs one fused pass (AES-CTR stitched with GHASH of the produced
//     ciphertext). Open runs two passes over the ciphertext: GHASH, then,
//     after the tag check, AES-CTR.
//   - Nonce uniqueness is the caller's responsibility, exactly as for any GCM.
//   - Round keys and GHASH key powers live in the returned value's memory for
//     its lifetime; they are not erased.
//
// # Opt-in
//
// The assembly is compiled only with the build tag gofastr_vgcm, on amd64,
// without the purego tag; every other build gets a New that always returns
// (nil, false) and links no assembly. At run time
// GODEBUG=cpu.avx512vaes=off (or cpu.avx512vpclmulqdq=off, cpu.avx512f=off)
// turns it off in a binary built with the tag.
//
// New returns (nil, false) when the key is not 32 bytes, in builds without
// the assembly (above), or when the CPU lacks any of AVX512F, AVX512BW,
// AVX512VL, VAES, VPCLMULQDQ (plus AES-NI, PCLMULQDQ and AVX); callers
// should then fall back to crypto/cipher.
//
// Registers: every kernel clears the vector registers before it returns
// (VPXORD on ZMM16-ZMM31, which hold the round keys, then VZEROALL), so no
// key-derived state is left in them; VZEROUPPER alone would leave ZMM16-31
// and the low 128 bits of ZMM0-15.
package vgcm

import (
	"crypto/cipher"
	"errors"
)

const (
	// KeySize is the only supported key size (AES-256).
	KeySize = 32
	// NonceSize is the only supported nonce size (96-bit GCM IV).
	NonceSize = 12
	// TagSize is the only supported tag size.
	TagSize = 16

	blockSize = 16
	// maxPlaintext is the GCM limit for a 96-bit IV: 2^32-2 blocks.
	maxPlaintext = ((1 << 32) - 2) * blockSize
)

// errOpen has the same text as crypto/cipher's authentication error.
var errOpen = errors.New("cipher: message authentication failed")

// New returns an AES-256-GCM cipher.AEAD for key and true when the
// accelerated implementation is usable (32-byte key, a build with the
// gofastr_vgcm tag for amd64, a CPU with AVX-512 VAES/VPCLMULQDQ).
// Otherwise it returns (nil, false) and the caller should use
// crypto/cipher.NewGCM instead.
func New(key []byte) (cipher.AEAD, bool) {
	if len(key) != KeySize || !supported {
		return nil, false
	}
	return newAEAD(key), true
}
