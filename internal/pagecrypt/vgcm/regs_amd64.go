//go:build gofastr_vgcm && amd64 && !purego

package vgcm

// Test aids for TestRegisterHygiene (regs_amd64.s); the kernels do not use
// them and the linker drops them from binaries that do not call them.

// fillVectorRegs sets every 64-bit lane of ZMM0-ZMM31 to v.
//
//go:noescape
func fillVectorRegs(v uint64)

// dumpVectorRegs stores ZMM0-ZMM31 into out, register i at out[i].
//
//go:noescape
func dumpVectorRegs(out *[32][64]byte)
