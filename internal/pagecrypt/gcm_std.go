//go:build !gofastr_vgcm

package pagecrypt

import "crypto/cipher"

// newGCM returns AES-256-GCM under key. Builds without the gofastr_vgcm tag
// use crypto/cipher only and do not link package vgcm.
func newGCM(key []byte) cipher.AEAD { return stdGCM(key) }

// impls lists the AES-GCM implementations this build can use.
var impls = []string{"std"}

// forceStd has no effect in this build: there is only crypto/cipher.
var forceStd bool
