//go:build gofastr_vgcm && amd64 && !purego

package vgcm

import "golang.org/x/sys/cpu"

// compiled reports whether the assembly is part of this build.
const compiled = true

// supported reports whether every instruction set extension used by the
// assembly is available (x/sys/cpu also checks OS support for the AVX and
// AVX-512 register state).
var supported = cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ && cpu.X86.HasAVX &&
	cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ
