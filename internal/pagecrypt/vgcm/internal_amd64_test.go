//go:build gofastr_vgcm && amd64 && !purego

package vgcm

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	mrand "math/rand/v2"
	"testing"
)

// Kernel-level tests against straightforward Go references.

func skipIfUnsupported(t *testing.T) {
	t.Helper()
	requireVGCM(t)
}

// TestEncryptBlock checks the key schedule and the single-block kernel
// against crypto/aes.
func TestEncryptBlock(t *testing.T) {
	skipIfUnsupported(t)
	rng := mrand.New(mrand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		var key [32]byte
		var src, got, want [16]byte
		fill(rng, key[:])
		fill(rng, src[:])
		var rk [roundKeysSize]byte
		expandKeyAsm(&key, &rk)
		encryptBlockAsm(&rk, &got, &src)
		b, _ := aes.NewCipher(key[:])
		b.Encrypt(want[:], src[:])
		if got != want {
			t.Fatalf("block mismatch for key %x", key)
		}
	}
}

func fill(rng *mrand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// refCTR is GCM's CTR with inc32, built on crypto/aes.
func refCTR(key []byte, ctr [16]byte, dst, src []byte) {
	b, _ := aes.NewCipher(key)
	var ks [16]byte
	for i := 0; i < len(src); i += 16 {
		b.Encrypt(ks[:], ctr[:])
		for j := i; j < i+16 && j < len(src); j++ {
			dst[j] = src[j] ^ ks[j-i]
		}
		binary.BigEndian.PutUint32(ctr[12:], binary.BigEndian.Uint32(ctr[12:])+1)
	}
}

// TestCTRRollover checks that the 32-bit counter wraps without carrying
// into the nonce, in every code path (16-block loop, 4-block loop, tail).
func TestCTRRollover(t *testing.T) {
	skipIfUnsupported(t)
	rng := mrand.New(mrand.NewPCG(5, 6))
	key := make([]byte, 32)
	fill(rng, key)
	var rk [roundKeysSize]byte
	expandKeyAsm((*[32]byte)(key), &rk)
	for _, start := range []uint32{0xffffffff, 0xfffffffe, 0xfffffff0, 0xffffffe3, 0xffffff00, 0, 2, 0x7fffffff} {
		for _, n := range []int{1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 300, 511, 512, 1000, 4064, 8192 + 7} {
			var ctr [16]byte
			fill(rng, ctr[:12])
			binary.BigEndian.PutUint32(ctr[12:], start)
			src := make([]byte, n)
			fill(rng, src)
			got := make([]byte, n)
			want := make([]byte, n)
			saved := ctr
			ctrAsm(&rk, &ctr, got, src)
			if ctr != saved {
				t.Fatal("ctrAsm modified the counter block")
			}
			refCTR(key, ctr, want, src)
			if !bytes.Equal(got, want) {
				t.Fatalf("CTR mismatch start=%#x n=%d", start, n)
			}
		}
	}
}

// TestCTRNoOverwrite checks that the masked tail never writes past len(src).
func TestCTRNoOverwrite(t *testing.T) {
	skipIfUnsupported(t)
	var rk [roundKeysSize]byte
	var key [32]byte
	var ctr [16]byte
	expandKeyAsm(&key, &rk)
	for n := 0; n <= 300; n++ {
		dst := make([]byte, n+64)
		for i := range dst {
			dst[i] = 0x5a
		}
		ctrAsm(&rk, &ctr, dst, make([]byte, n))
		for i := n; i < len(dst); i++ {
			if dst[i] != 0x5a {
				t.Fatalf("n=%d: byte %d past the end was written", n, i)
			}
		}
	}
}

// refGHASH is a bit-serial GHASH straight from SP 800-38D Algorithm 1
// (right-shift multiplication with R = 0xe1 || 0^120).
func refGHASH(h, acc [16]byte, data []byte) [16]byte {
	hi, lo := binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])
	for len(data) > 0 {
		var blk [16]byte
		n := copy(blk[:], data)
		data = data[n:]
		for i := range acc {
			acc[i] ^= blk[i]
		}
		xh, xl := binary.BigEndian.Uint64(acc[:8]), binary.BigEndian.Uint64(acc[8:])
		var zh, zl uint64
		vh, vl := hi, lo
		for i := 0; i < 128; i++ {
			var bit uint64
			if i < 64 {
				bit = xh >> (63 - i) & 1
			} else {
				bit = xl >> (127 - i) & 1
			}
			if bit == 1 {
				zh ^= vh
				zl ^= vl
			}
			lsb := vl & 1
			vl = vl>>1 | vh<<63
			vh >>= 1
			if lsb == 1 {
				vh ^= 0xe1 << 56
			}
		}
		binary.BigEndian.PutUint64(acc[:8], zh)
		binary.BigEndian.PutUint64(acc[8:], zl)
	}
	return acc
}

// TestGHASH checks the kernel against the bit-serial reference for every
// length 0..600 and a random starting accumulator.
func TestGHASH(t *testing.T) {
	skipIfUnsupported(t)
	rng := mrand.New(mrand.NewPCG(7, 8))
	sizes := []int{1024, 1024 + 5, 1536 + 16, 4064, 4096 + 33, 8192 + 511}
	for n := 0; n <= 600; n++ {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		var key [32]byte
		fill(rng, key[:])
		g := newAEAD(key[:]).(*aesGCM)
		var h, zero [16]byte
		encryptBlockAsm(&g.rk, &h, &zero)
		var acc [16]byte
		fill(rng, acc[:])
		data := make([]byte, n)
		fill(rng, data)
		want := refGHASH(h, acc, data)
		got := acc
		ghashAsm(g.htab, &got, data)
		if got != want {
			t.Fatalf("GHASH mismatch n=%d\n got %x\nwant %x", n, got, want)
		}
	}
}

// BenchmarkKernels measures the individual kernels on one page body.
func BenchmarkKernels(b *testing.B) {
	requireVGCM(b)
	g := newAEAD(make([]byte, 32)).(*aesGCM)
	buf := make([]byte, pageBody)
	var ctr, acc, out [16]byte
	b.Run("ctr", func(b *testing.B) {
		b.SetBytes(pageBody)
		for i := 0; i < b.N; i++ {
			ctrAsm(&g.rk, &ctr, buf, buf)
		}
	})
	b.Run("ghash", func(b *testing.B) {
		b.SetBytes(pageBody)
		for i := 0; i < b.N; i++ {
			ghashAsm(g.htab, &acc, buf)
		}
	})
	b.Run("tag", func(b *testing.B) {
		b.SetBytes(pageBody)
		for i := 0; i < b.N; i++ {
			tagAsm(&g.rk, g.htab, &ctr, &out, buf[:16], buf)
		}
	})
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(pageBody)
		dst := make([]byte, pageBody+16)
		for i := 0; i < b.N; i++ {
			sealAsm(&g.rk, g.htab, &ctr, dst, buf, acc[:])
		}
	})
	b.Run("block", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			encryptBlockAsm(&g.rk, &out, &ctr)
		}
	})
}

// TestSealAsmWrap drives the stitched Seal kernel directly with J0 counters
// near 2^32 (unreachable through the API) and checks ciphertext and tag
// against the Go references: inc32 must wrap without touching the nonce in
// the stitched loop, the first chunk and the tail.
func TestSealAsmWrap(t *testing.T) {
	skipIfUnsupported(t)
	rng := mrand.New(mrand.NewPCG(9, 10))
	key := make([]byte, 32)
	fill(rng, key)
	g := newAEAD(key).(*aesGCM)
	var h, zero [16]byte
	encryptBlockAsm(&g.rk, &h, &zero)
	for _, start := range []uint32{0xffffffff, 0xfffffffe, 0xfffffff0, 0xffffffe1, 0xffffff00, 1} {
		for _, n := range []int{0, 1, 64, 255, 256, 257, 511, 512, 700, 4064, 8192 + 7} {
			var j0 [16]byte
			fill(rng, j0[:12])
			binary.BigEndian.PutUint32(j0[12:], start)
			src := make([]byte, n)
			fill(rng, src)
			ad := make([]byte, int(start%40))
			fill(rng, ad)

			dst := make([]byte, n+16)
			sealAsm(&g.rk, g.htab, &j0, dst, src, ad)

			// Reference: CTR from inc32(j0), GHASH(ad, ct, lengths), E_K(j0).
			ctr := j0
			binary.BigEndian.PutUint32(ctr[12:], start+1)
			want := make([]byte, n+16)
			refCTR(key, ctr, want[:n], src)
			var acc, lens, mask [16]byte
			acc = refGHASH(h, acc, ad)
			acc = refGHASH(h, acc, want[:n])
			binary.BigEndian.PutUint64(lens[:8], uint64(len(ad))*8)
			binary.BigEndian.PutUint64(lens[8:], uint64(n)*8)
			acc = refGHASH(h, acc, lens[:])
			encryptBlockAsm(&g.rk, &mask, &j0)
			for i := range acc {
				want[n+i] = acc[i] ^ mask[i]
			}
			if !bytes.Equal(dst, want) {
				t.Fatalf("sealAsm mismatch start=%#x n=%d", start, n)
			}
			// tagAsm must agree on the same ciphertext.
			var tag [16]byte
			tagAsm(&g.rk, g.htab, &j0, &tag, ad, want[:n])
			if !bytes.Equal(tag[:], want[n:]) {
				t.Fatalf("tagAsm mismatch start=%#x n=%d", start, n)
			}
		}
	}
}
