// Package testkit builds pagecrypt test vectors: a reproducible random
// source and a reference implementation of the page construction.
//
// The reference is written from the construction documented in package
// pagecrypt's doc, not from its code, so that vectors produced here also
// check the code against its documentation:
//
//	sealed = prefix[skip] ‖ AES-256-GCM(K_e, nonce, body, ad ‖ prefix) ‖ epoch[4] ‖ nonce[12] ‖ tag[16]
//	K_e    = HKDF-SHA256(DEK, salt = none, info = SubkeyLabel ‖ epoch as big-endian uint32)
//
// It deliberately uses golang.org/x/crypto/hkdf where pagecrypt uses
// crypto/hkdf. It is imported only by tests and by the //go:build ignore
// vector generator.
package testkit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/hkdf"
)

// Labels copied from internal/pagecrypt. If pagecrypt changes them, the
// checked-in vectors stop opening, which is the point: it is a format break.
const (
	SubkeyLabel = "gofastr.store/sqlitevfs/v1 page subkey"
	CheckLabel  = "gofastr.store/sqlitevfs/v1 key check"
)

// Sizes of the trailer fields (pagecrypt.EpochSize, NonceSize, TagSize).
const (
	EpochSize = 4
	NonceSize = 12
	TagSize   = 16
	Overhead  = EpochSize + NonceSize + TagSize
)

// Rand is a deterministic random source: the ChaCha20 keystream under an
// all-zero key and nonce, so vectors are reproducible byte for byte.
type Rand struct{ s *chacha20.Cipher }

// NewRand returns a Rand whose stream is selected by seed (the first bytes
// of the ChaCha20 key; the rest is zero).
func NewRand(seed string) *Rand {
	var key [chacha20.KeySize]byte
	copy(key[:], seed)
	s, err := chacha20.NewUnauthenticatedCipher(key[:], make([]byte, chacha20.NonceSize))
	if err != nil {
		panic(err)
	}
	return &Rand{s: s}
}

// Read fills p with the next len(p) keystream bytes. It never fails.
func (r *Rand) Read(p []byte) (int, error) {
	clear(p)
	r.s.XORKeyStream(p, p)
	return len(p), nil
}

// Bytes returns the next n keystream bytes.
func (r *Rand) Bytes(n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

// Uint32 returns the next four keystream bytes as a big-endian integer.
func (r *Rand) Uint32() uint32 { return binary.BigEndian.Uint32(r.Bytes(4)) }

var _ io.Reader = (*Rand)(nil)

// Params are everything one seal depends on.
type Params struct {
	Key   []byte // 32-byte DEK
	Epoch uint32
	Nonce []byte // 12 bytes
	AD    []byte // caller associated data
	Skip  int    // plaintext prefix length
}

// Subkey derives the epoch subkey K_e as documented.
func Subkey(dek []byte, epoch uint32, label string) []byte {
	info := binary.BigEndian.AppendUint32([]byte(label), epoch)
	k := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, dek, nil, info), k); err != nil {
		panic(err)
	}
	return k
}

// KeyCheck returns the documented key check value: the first 8 bytes of
// HKDF-SHA256(DEK, info = CheckLabel).
func KeyCheck(dek []byte) []byte {
	k := make([]byte, 8)
	if _, err := io.ReadFull(hkdf.New(sha256.New, dek, nil, []byte(CheckLabel)), k); err != nil {
		panic(err)
	}
	return k
}

// Seal returns the sealed image of page (whose last Overhead bytes are
// ignored) under p, built from the documented construction.
func Seal(p Params, page []byte) []byte {
	return SealWith(p, page, Subkey(p.Key, p.Epoch, SubkeyLabel), true)
}

// SealWith is Seal with the AES key given directly and the choice to leave
// the prefix out of the associated data: knobs that break the construction
// on purpose, for negative vectors.
func SealWith(p Params, page, aesKey []byte, bindPrefix bool) []byte {
	n := len(page)
	if len(p.Nonce) != NonceSize || p.Skip < 0 || n < p.Skip+Overhead+1 {
		panic("testkit: bad parameters")
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	prefix := page[:p.Skip]
	ad := append([]byte(nil), p.AD...)
	if bindPrefix {
		ad = append(ad, prefix...)
	}
	ctTag := gcm.Seal(nil, p.Nonce, page[p.Skip:n-Overhead], ad)
	ct, tag := ctTag[:len(ctTag)-TagSize], ctTag[len(ctTag)-TagSize:]

	out := make([]byte, 0, n)
	out = append(out, prefix...)
	out = append(out, ct...)
	out = binary.BigEndian.AppendUint32(out, p.Epoch)
	out = append(out, p.Nonce...)
	out = append(out, tag...)
	return out
}

// Opened returns what pagecrypt's Open yields for page: page with its last
// Overhead bytes zeroed.
func Opened(page []byte) []byte {
	out := append([]byte(nil), page...)
	clear(out[len(out)-Overhead:])
	return out
}

// Vector is one test vector file.
type Vector struct {
	Expect  string // "ok" or "auth-failure"
	Comment string
	Params
	Plaintext []byte // what Open yields; only for "ok"
	Sealed    []byte
}

// Marshal renders v as `key: value` header lines, a blank line, and the
// sealed image in hex, 32 bytes per line.
func (v *Vector) Marshal() []byte {
	var b strings.Builder
	header := func(key, value string) {
		if value == "" {
			fmt.Fprintf(&b, "%s:\n", key)
		} else {
			fmt.Fprintf(&b, "%s: %s\n", key, value)
		}
	}
	header("expect", v.Expect)
	if v.Comment != "" {
		header("comment", v.Comment)
	}
	header("key", hex.EncodeToString(v.Key))
	header("key check", hex.EncodeToString(KeyCheck(v.Key)))
	header("epoch", fmt.Sprintf("%08x", v.Epoch))
	header("nonce", hex.EncodeToString(v.Nonce))
	header("ad", hex.EncodeToString(v.AD))
	header("skip", fmt.Sprint(v.Skip))
	if v.Plaintext != nil {
		header("plaintext", hex.EncodeToString(v.Plaintext))
	}
	b.WriteString("\n")
	h := hex.EncodeToString(v.Sealed)
	for len(h) > 64 {
		b.WriteString(h[:64] + "\n")
		h = h[64:]
	}
	b.WriteString(h + "\n")
	return []byte(b.String())
}
