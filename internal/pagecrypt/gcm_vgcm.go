//go:build gofastr_vgcm

package pagecrypt

import (
	"crypto/cipher"

	"github.com/gofastr/store/internal/pagecrypt/vgcm"
)

// newGCM returns AES-256-GCM under key: package vgcm's AVX-512 code where
// the CPU has VAES and VPCLMULQDQ (identical output, about twice as fast),
// else crypto/cipher's. GODEBUG=cpu.avx512vaes=off turns vgcm off.
func newGCM(key []byte) cipher.AEAD {
	if !forceStd {
		if aead, ok := vgcm.New(key); ok {
			return aead
		}
	}
	return stdGCM(key)
}

// impls lists the AES-GCM implementations this build can use.
var impls = []string{"std", "vgcm"}

// forceStd makes newGCM use crypto/cipher; tests set it to run the same
// checks under both implementations.
var forceStd bool
