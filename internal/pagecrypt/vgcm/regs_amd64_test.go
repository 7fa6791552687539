//go:build gofastr_vgcm && amd64 && !purego

package vgcm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
)

// TestRegisterHygiene checks that no kernel leaves key-derived state in a
// vector register: after each kernel returns, every one of ZMM0-ZMM31 holds
// in each 128-bit lane either the value planted before the call (the
// kernel did not touch it) or zero. VZEROUPPER alone would fail this for ZMM16-31 and the low halves
// of XMM0-15.
func TestRegisterHygiene(t *testing.T) {
	requireVGCM(t)
	runtime.LockOSThread() // the registers are the thread's
	defer runtime.UnlockOSThread()

	const planted = 0x5a5a_a5a5_3c3c_c3c3
	var want [64]byte
	for i := 0; i < 64; i += 8 {
		binary.LittleEndian.PutUint64(want[i:], planted)
	}
	var regs [32][64]byte

	// The planted value must be observable, or the test proves nothing.
	// ZMM15 is the exception: Go's ABI wrappers zero X15 (ABIInternal's
	// zero register) when an assembly function returns.
	fillVectorRegs(planted)
	dumpVectorRegs(&regs)
	for i := range regs {
		if i != 15 && regs[i] != want {
			t.Fatalf("ZMM%d does not hold the planted value right after fillVectorRegs: cannot observe registers", i)
		}
	}

	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(0x80 + i)
	}
	g := newAEAD(key).(*aesGCM)
	var rk [roundKeysSize]byte
	var htab [htabSize]byte
	var blk, out, ctr, acc, tag [blockSize]byte
	ctr[15] = 2
	src := make([]byte, 4064+13)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]byte, len(src)+TagSize)
	ad := make([]byte, 16)
	kernels := []struct {
		name string
		call func()
	}{
		{"expandKeyAsm", func() { expandKeyAsm((*[KeySize]byte)(key), &rk) }},
		{"encryptBlockAsm", func() { encryptBlockAsm(&g.rk, &out, &blk) }},
		{"initHtabAsm", func() { initHtabAsm(&g.rk, &htab) }},
		{"ghashAsm", func() { ghashAsm(g.htab, &acc, src) }},
		{"tagAsm", func() { tagAsm(&g.rk, g.htab, &blk, &tag, ad, src) }},
		{"ctrAsm", func() { ctrAsm(&g.rk, &ctr, dst, src) }},
		{"sealAsm", func() { sealAsm(&g.rk, g.htab, &blk, dst, src, ad) }},
	}
	for _, k := range kernels {
		// A preemption between the kernel and the dump could let the
		// runtime use registers; retry before calling it a failure.
		var bad string
		for try := 0; try < 5; try++ {
			fillVectorRegs(planted)
			k.call()
			dumpVectorRegs(&regs)
			bad = ""
			for i := range regs {
				// Per 128-bit lane: legacy-SSE code (expandKeyAsm's
				// PXOR, the ABI wrapper's XORPS X15) clears only the
				// low lane and leaves the others as they were.
				for l := 0; l < 64; l += 16 {
					lane := regs[i][l : l+16]
					if !bytes.Equal(lane, want[l:l+16]) && !bytes.Equal(lane, make([]byte, 16)) {
						bad += fmt.Sprintf(" ZMM%d[%d:%d]=%x", i, 8*l, 8*l+128, lane)
					}
				}
			}
			if bad == "" {
				break
			}
		}
		if bad != "" {
			t.Errorf("%s left state in vector registers:%s", k.name, bad)
		}
	}
}
