//go:build gofastr_vgcm && amd64 && !purego

package vgcm

// Assembly kernels: aes_amd64.s (AES-256 key schedule, single block, CTR),
// gcm_amd64.s (GHASH, tag, fused Seal), shared macros in gcm_amd64.h. Every
// kernel requires the CPU features checked by supported. Seal uses sealAsm;
// Open uses tagAsm then ctrAsm; encryptBlockAsm and ghashAsm are only used
// by the kernel tests to check the key schedule and GHASH in isolation.
//
// Layouts:
//   - rk holds the 15 AES-256 round keys, 16 bytes each, in FIPS 197 order.
//   - htab holds H^32, H^31, ..., H^1 (16 bytes each, highest power first),
//     byte-reflected and multiplied by x^-1, then their Karatsuba sums; each
//     half is followed by 64 zero bytes (layout in gcm_amd64.s).
//   - acc is a GHASH accumulator in the standard (GCM spec) byte order.

// expandKeyAsm computes the AES-256 key schedule of key into rk.
//
//go:noescape
func expandKeyAsm(key *[KeySize]byte, rk *[roundKeysSize]byte)

// encryptBlockAsm sets dst = AES-256_rk(src).
//
//go:noescape
func encryptBlockAsm(rk *[roundKeysSize]byte, dst, src *[blockSize]byte)

// initHtabAsm computes H = AES-256_rk(0^128) and fills htab with its powers.
//
//go:noescape
func initHtabAsm(rk *[roundKeysSize]byte, htab *[htabSize]byte)

// ghashAsm absorbs data, zero-padded to a multiple of 16 bytes, into acc:
// for each block X, acc = (acc xor X) * H.
//
//go:noescape
func ghashAsm(htab *[htabSize]byte, acc *[blockSize]byte, data []byte)

// tagAsm sets tag = GHASH_H(ad || pad || ct || pad || len64(ad) ||
// len64(ct)) xor AES-256_rk(j0), the GCM authentication tag (SP 800-38D
// Algorithm 4, steps 4-6, lengths in bits).
//
//go:noescape
func tagAsm(rk *[roundKeysSize]byte, htab *[htabSize]byte, j0, tag *[blockSize]byte, ad, ct []byte)

// sealAsm is the fused GCM encryption: dst[:len(src)] = CTR encryption of
// src with counters starting at inc32(j0), and dst[len(src):len(src)+16] =
// the tag over ad and that ciphertext (tagAsm's definition). len(dst) must
// be len(src)+16; dst may equal src exactly but must not otherwise overlap
// src or ad.
//
//go:noescape
func sealAsm(rk *[roundKeysSize]byte, htab *[htabSize]byte, j0 *[blockSize]byte, dst, src, ad []byte)

// ctrAsm sets dst[i] = src[i] xor keystream[i] for i < len(src), where the
// keystream is AES-256_rk of ctr, inc32(ctr), inc32(inc32(ctr)), ... and
// inc32 increments the last 4 bytes as a big-endian uint32 modulo 2^32.
// len(dst) must be at least len(src). ctr is not modified.
//
//go:noescape
func ctrAsm(rk *[roundKeysSize]byte, ctr *[blockSize]byte, dst, src []byte)

const (
	roundKeysSize = 15 * 16
	htabSize      = 2 * (32*16 + 64)
)
