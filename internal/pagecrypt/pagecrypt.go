// Package pagecrypt seals and opens fixed-size page images with AES-256-GCM.
//
// It is the only place in the module that touches page ciphertext. The
// caller (package sqlitevfs) decides which bytes of a file are page images
// and what associated data binds them to their position; this package only
// guarantees confidentiality and integrity of one image under one data key.
//
// # Construction
//
// A sealed image of n bytes is
//
//	prefix[skip] ‖ AES-256-GCM(K_e, nonce, body, ad) ‖ epoch[4] ‖ nonce[12] ‖ tag[16]
//
// where K_e = HKDF-SHA256(DEK, info = label ‖ epoch) is an epoch subkey, the
// nonce is 96 random bits and prefix is an optional plaintext prefix (page 1's
// file header) that is authenticated as part of ad. The trailer is
// [Overhead] = 32 bytes and lives in SQLite's per-page reserved area, so a
// sealed image has the same length as the plaintext page.
//
// AES-256-GCM comes from crypto/cipher. Builds with the gofastr_vgcm tag
// use internal/pagecrypt/vgcm instead (AVX-512 VAES and VPCLMULQDQ, about
// twice as fast) on CPUs that have those instructions, unless
// GODEBUG=cpu.avx512vaes=off; that assembly is opt-in because it has had
// less review than the standard library's. Both produce identical bytes:
// vgcm is tested differentially against crypto/cipher, and this package's
// frozen vectors are checked under each.
//
// # Nonce bound
//
// Random 96-bit nonces under a single key are only safe for about 2^32
// encryptions. Here each writer draws a fresh random 32-bit epoch when it
// opens a file and again every [EpochWrites] seals, and seals under that
// epoch's derived key. Two seals reuse a (key, nonce) pair only if both their
// epoch and their nonce collide. For n seals in all:
//
//   - within one epoch: at most n·EpochWrites/2^97 (birthday on 96 bits,
//     EpochWrites seals per epoch);
//   - across epochs: n²/2^129 (a pair of seals must match on all 128 random
//     bits of epoch ‖ nonce).
//
// With EpochWrites = 2^16 both terms are 2^-33 at n = 2^48, so the collision
// probability stays below 2^-32 for 2^48 page writes under one DEK: about 900
// years at 10,000 page writes per second. Rekeying resets the count.
//
// # Limits
//
// Sealing hides page contents and detects any modification, truncation of
// the image or move of a sealed image to another position (when the caller
// puts the position in ad). It does not detect replay of an older image of the
// same page at the same position, and it reveals which pages changed and when.
package pagecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
)

const (
	// KeySize is the size of a data key (DEK).
	KeySize = 32
	// EpochSize, NonceSize and TagSize make up the per-page trailer.
	EpochSize = 4
	NonceSize = 12
	TagSize   = 16
	// Overhead is the trailer size: the number of reserved bytes per page.
	Overhead = EpochSize + NonceSize + TagSize
	// EpochWrites is how many seals one epoch subkey serves before the
	// writer draws a new epoch. See the package doc for the bound it gives.
	EpochWrites = 1 << 16

	// subkeyLabel separates epoch subkeys from every other use of the DEK.
	subkeyLabel = "gofastr.store/sqlitevfs/v1 page subkey"
	// checkLabel separates the key check value from every other use of the DEK.
	checkLabel = "gofastr.store/sqlitevfs/v1 key check"
	// maxCached bounds the number of epoch subkeys kept for reading.
	maxCached = 256
)

// ErrAuth is returned by [Cipher.Open] when an image fails authentication:
// it was modified, moved, truncated or sealed under another key. It carries
// no detail on purpose.
var ErrAuth = errors.New("pagecrypt: message authentication failed")

// Cipher seals and opens page images under one DEK. It is safe for
// concurrent use.
type Cipher struct {
	key   [KeySize]byte
	check [8]byte

	mu     sync.Mutex // serializes writeKey and cache updates
	epoch  uint32     // current write epoch
	writes int        // seals left in the current write epoch
	aead   cipher.AEAD

	// cache holds the subkeys by epoch for reading. The map is never
	// modified once stored, so that readers look up without a lock; a
	// new epoch stores a modified copy.
	cache atomic.Pointer[map[uint32]cipher.AEAD]
}

// New returns a Cipher for the 32-byte data key dek. The key is copied; the
// caller may clear its slice afterwards.
func New(dek []byte) (*Cipher, error) {
	if len(dek) != KeySize {
		return nil, errors.New("pagecrypt: data key must be 32 bytes")
	}
	c := &Cipher{}
	c.cache.Store(&map[uint32]cipher.AEAD{})
	copy(c.key[:], dek)
	check, err := hkdf.Key(sha256.New, c.key[:], nil, checkLabel, len(c.check))
	if err != nil {
		panic(err) // unreachable: 8 bytes is far below HKDF's limit
	}
	c.check = [8]byte(check)
	return c, nil
}

// KeyCheck returns an 8-byte value that identifies the key without revealing
// it (a truncated HKDF output), so a wrong key can be told apart from a
// damaged page.
func (c *Cipher) KeyCheck() [8]byte { return c.check }

// subkey derives the AEAD for one epoch.
func (c *Cipher) subkey(epoch uint32) cipher.AEAD {
	var info [len(subkeyLabel) + EpochSize]byte
	copy(info[:], subkeyLabel)
	binary.BigEndian.PutUint32(info[len(subkeyLabel):], epoch)
	k, err := hkdf.Key(sha256.New, c.key[:], nil, string(info[:]), KeySize)
	if err != nil {
		panic(err) // unreachable
	}
	defer clear(k)
	return newGCM(k)
}

// stdGCM returns crypto/cipher's AES-256-GCM under key. newGCM (in
// gcm_std.go or, with the gofastr_vgcm build tag, gcm_vgcm.go) picks the
// implementation.
func stdGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // unreachable: the key is 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // unreachable: standard nonce and tag sizes
	}
	return aead
}

// writeKey returns the current write epoch and its AEAD, starting a new
// epoch when the current one is used up.
func (c *Cipher) writeKey() (uint32, cipher.AEAD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes == 0 {
		var b [EpochSize]byte
		for {
			rand.Read(b[:])
			if e := binary.BigEndian.Uint32(b[:]); e != c.epoch || c.aead == nil {
				c.epoch = e
				break
			}
		}
		c.aead = c.subkey(c.epoch)
		c.remember(c.epoch, c.aead)
		c.writes = EpochWrites
	}
	c.writes--
	return c.epoch, c.aead
}

// readKey returns the AEAD for epoch, deriving and caching it on a miss.
func (c *Cipher) readKey(epoch uint32) cipher.AEAD {
	if a, ok := (*c.cache.Load())[epoch]; ok {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := (*c.cache.Load())[epoch]; ok {
		return a
	}
	a := c.subkey(epoch)
	c.remember(epoch, a)
	return a
}

// remember adds a subkey to the cache; c.mu must be held. The cache starts
// over when full.
func (c *Cipher) remember(epoch uint32, a cipher.AEAD) {
	old := *c.cache.Load()
	m := make(map[uint32]cipher.AEAD, len(old)+1)
	if len(old) < maxCached {
		maps.Copy(m, old)
	}
	m[epoch] = a
	c.cache.Store(&m)
}

// Seal encrypts the page image src into dst, which must have the same length
// (at least skip+Overhead+1 bytes) and must not overlap src. src[:skip] is
// copied to dst in plaintext and authenticated; src[skip:len-Overhead] is
// encrypted; src's last Overhead bytes are ignored and dst's receive the
// trailer. ad binds the image to its position and must be what Open gets.
func (c *Cipher) Seal(dst, src []byte, skip int, ad []byte) {
	n := len(src)
	if len(dst) != n || skip < 0 || n < skip+Overhead+1 {
		panic("pagecrypt: bad Seal lengths")
	}
	epoch, aead := c.writeKey()

	// Nonce uniqueness: 96 fresh random bits per seal under an epoch
	// subkey that serves at most EpochWrites seals (see the package doc).
	var nonce [NonceSize]byte
	rand.Read(nonce[:])

	copy(dst[:skip], src[:skip])
	body := n - Overhead - skip
	// Seal writes body‖tag; the tag lands at the start of the trailer.
	aead.Seal(dst[skip:skip], nonce[:], src[skip:skip+body], withPrefix(ad, src[:skip]))
	trailer := dst[n-Overhead:]
	copy(trailer[EpochSize+NonceSize:], trailer[:TagSize]) // move the tag to the end
	binary.BigEndian.PutUint32(trailer[:EpochSize], epoch)
	copy(trailer[EpochSize:], nonce[:])
}

// Open authenticates and decrypts the sealed image src into dst, which must
// have the same length and must not overlap src. On success dst holds the
// plaintext with its last Overhead bytes zeroed. On failure it returns
// [ErrAuth] and dst's contents are unspecified.
func (c *Cipher) Open(dst, src []byte, skip int, ad []byte) error {
	if len(dst) != len(src) {
		panic("pagecrypt: bad Open lengths")
	}
	copy(dst, src)
	return c.OpenScratch(dst, dst, skip, ad)
}

// OpenScratch is [Cipher.Open] for a src the caller no longer needs: it
// moves the tag next to the ciphertext inside src's trailer and opens
// straight from src, saving Open's copy of the page. src's last Overhead
// bytes are overwritten. dst may be src itself (decryption in place) but
// must not overlap it otherwise.
func (c *Cipher) OpenScratch(dst, src []byte, skip int, ad []byte) error {
	n := len(src)
	if len(dst) != n || skip < 0 || n < skip+Overhead+1 {
		panic("pagecrypt: bad Open lengths")
	}
	trailer := src[n-Overhead:]
	aead := c.readKey(binary.BigEndian.Uint32(trailer[:EpochSize]))
	var nonce [NonceSize]byte
	copy(nonce[:], trailer[EpochSize:])
	copy(trailer, trailer[EpochSize+NonceSize:]) // the tag, after the ciphertext
	body := n - Overhead - skip
	if _, err := aead.Open(dst[skip:skip], nonce[:], src[skip:skip+body+TagSize], withPrefix(ad, src[:skip])); err != nil {
		return ErrAuth
	}
	copy(dst[:skip], src[:skip])
	clear(dst[n-Overhead:])
	return nil
}

// withPrefix returns ad followed by the plaintext prefix, without
// modifying ad's backing array.
func withPrefix(ad, prefix []byte) []byte {
	if len(prefix) == 0 {
		return ad
	}
	return append(ad[:len(ad):len(ad)], prefix...)
}
