//go:build !gofastr_vgcm || !amd64 || purego

package vgcm

import "crypto/cipher"

// compiled reports whether the assembly is part of this build: it needs
// the gofastr_vgcm build tag, amd64 and no purego tag.
const compiled = false

// supported is always false without the amd64 assembly.
const supported = false

// newAEAD is never called when supported is false.
func newAEAD([]byte) cipher.AEAD { panic("vgcm: not supported on this platform") }
