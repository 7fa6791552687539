//go:build !amd64 || purego

package vgcm

import "crypto/cipher"

// supported is always false without the amd64 assembly.
const supported = false

// newAEAD is never called when supported is false.
func newAEAD([]byte) cipher.AEAD { panic("vgcm: not supported on this platform") }
