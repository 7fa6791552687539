package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// Domain-separation labels of header version 1. Changing any of them is a
// new header version.
const (
	// wrapLabel is the HKDF-SHA256 info that derives the AES-256-GCM wrap
	// key from a KEK, so a KEK shared with other uses (the machine key is
	// shared by every store of a user) never keys AES-GCM directly.
	wrapLabel = "github.com/gofastr/store/keyring v1 wrap key"
	// aadLabel starts the associated data of the wrap.
	aadLabel = "github.com/gofastr/store/keyring v1 header"
	// sumLabel starts the input of the header checksum.
	sumLabel = "github.com/gofastr/store/keyring v1 checksum"
)

// sealHeader wraps dek under kek into a new header with a fresh random
// nonce. kdf (which may be nil) and meta are authenticated.
//
// Nonce uniqueness: the nonce is 96 random bits. A wrap key is used only when
// a header is written (store creation, KEK rotation, import, rekey), so even
// a machine KEK shared by 2^20 stores that each rotate 2^12 times performs
// 2^32 wraps, the NIST SP 800-38D limit for random nonces, where the chance
// of any nonce repeating is below 2^-32. A passphrase KEK is also salted
// afresh on every wrap, so its wrap key is never reused at all.
func sealHeader(kek, dek []byte, kdf *KDFParams, meta string) (*DEKHeader, error) {
	if len(dek) != DEKSize {
		panic("keyring: internal error: DEK is not 32 bytes")
	}
	h := &DEKHeader{
		Version: HeaderVersion,
		Nonce:   make([]byte, nonceSize),
		// Header JSON cannot carry invalid UTF-8; sanitize before it is
		// authenticated so the parsed value matches.
		Metadata: strings.ToValidUTF8(meta, "\uFFFD"),
		KDF:      kdf,
	}
	if len(h.Metadata) > maxMetaLen {
		h.Metadata = strings.ToValidUTF8(h.Metadata[:maxMetaLen], "")
	}
	rand.Read(h.Nonce)
	aead, err := wrapAEAD(kek)
	if err != nil {
		return nil, err
	}
	h.Wrapped = aead.Seal(nil, h.Nonce, dek, associatedData(h))
	h.Sum = checksum(h)
	return h, nil
}

// openHeader unwraps the DEK of a parsed, valid header. The only failure is
// authentication, reported as ErrWrongKEK: the checksum already passed, so
// the header is what its writer wrote, unless it was forged.
func openHeader(h *DEKHeader, kek []byte) ([]byte, error) {
	aead, err := wrapAEAD(kek)
	if err != nil {
		return nil, err
	}
	dek, err := aead.Open(nil, h.Nonce, h.Wrapped, associatedData(h))
	if err != nil {
		return nil, ErrWrongKEK
	}
	return dek, nil
}

func wrapAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKEK, len(kek), KEKSize)
	}
	if allZero(kek) {
		// Never a real key: a buffer that was cleared (or never
		// filled) before it was used.
		return nil, fmt.Errorf("%w: all %d bytes are zero", ErrInvalidKEK, len(kek))
	}
	key, err := hkdf.Key(sha256.New, kek, nil, wrapLabel, 32)
	if err != nil {
		return nil, err
	}
	defer clear(key) // the AES key schedule itself cannot be cleared from Go
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// associatedData is every header field except the nonce, the ciphertext
// and the checksum, encoded unambiguously:
//
//	lp(aadLabel) || body
//	body = u32(version) || lp(meta) || 0x00                           (no KDF)
//	body = u32(version) || lp(meta) || 0x01 || lp(alg) || lp(salt)
//	       || u32(t) || u32(m) || u8(p)                               (KDF)
//
// where u32 is big-endian and lp(x) = u32(len(x)) || x.
func associatedData(h *DEKHeader) []byte {
	return appendBody(appendLP(nil, aadLabel), h)
}

// checksum is the first 16 bytes of
// SHA-256(lp(sumLabel) || body || lp(nonce) || lp(wrapped)). It is not a
// MAC: it only detects accidental damage (see DEKHeader).
func checksum(h *DEKHeader) []byte {
	b := appendBody(appendLP(nil, sumLabel), h)
	b = appendLP(b, h.Nonce)
	b = appendLP(b, h.Wrapped)
	sum := sha256.Sum256(b)
	return sum[:sumSize]
}

func appendBody(b []byte, h *DEKHeader) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(h.Version))
	b = appendLP(b, h.Metadata)
	if h.KDF == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendLP(b, h.KDF.Alg)
	b = appendLP(b, h.KDF.Salt)
	b = binary.BigEndian.AppendUint32(b, h.KDF.Time)
	b = binary.BigEndian.AppendUint32(b, h.KDF.Memory)
	return append(b, h.KDF.Threads)
}

func appendLP[T ~string | ~[]byte](b []byte, v T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// allZero reports whether b holds only zero bytes, in time independent of
// where the first nonzero byte is.
func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
