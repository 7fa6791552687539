// Package pagecrypt seals and opens fixed-size page images with AES-256-GCM.
//
// It is the only place in the module that touches page ciphertext. The
// caller (package sqlitevfs) decides which bytes of a file are page images
// and what associated data binds them to their position; this package only
// guarantees confidentiality and integrity of one image under one data key.
// It also lays out the plaintext prefix of page 1 that names the key a
// database file is sealed under ([FileMagic], [Cipher.PutFileHeader],
// [FileUsesKey]), so that package keyring can read it without SQLite.
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
// GCM's associated data is ad ‖ prefix, without their lengths, so the
// boundary between them is not authenticated: the image without its first
// k prefix bytes, opened with skip−k and ad followed by those bytes, opens
// like the original. A caller must therefore give ad of one fixed length
// under a key, which makes the split unambiguous; package sqlitevfs always
// gives 16 bytes (kind, page number, WAL salts).
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
//
// # Masks
//
// [Cipher.Mask] hides a small value that the caller stores next to an image
// but that is computed from the plaintext (a rollback journal record's or a
// WAL frame's checksum): it XORs the value with
//
//	HMAC-SHA256(K_m, info)[:len]    K_m = HKDF-SHA256(DEK, info = "gofastr.store/sqlitevfs/v1 value mask")
//
// K_m has its own label and is derived once per Cipher. The caller makes
// info unique per value and binds it to what the value belongs to:
// sqlitevfs passes, for a journal record, the image's associated data and
// the epoch ‖ nonce of its sealed image, and for a WAL frame its header
// fields, offset and the sealed image's trailer. Epoch and nonce are random
// per seal, so masks never repeat and cannot be predicted without the DEK.
//
// # Cost of forged epochs
//
// An image's epoch is authenticated only by opening the image with the
// epoch's subkey, so whoever can write a file can make each open derive a
// subkey before it fails. Each open derives at most one, in constant time;
// a subkey enters the read cache only once it has opened an image (forged
// epochs never evict legitimate subkeys; a few wait on probation, so that
// rereading one forged image costs no new derivation); and derivations for
// images that
// then fail authentication spend a budget of 256, refilled at 256 per
// second, beyond which an image of an uncached epoch fails with
// [ErrEpochLimit] without a derivation. There is no cap on distinct epochs
// or on derivations that succeed: a legitimate file may have a different
// epoch on every page. See subkeys.go for the reasoning.
package pagecrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
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

	mu     sync.Mutex // serializes writeKey
	epoch  uint32     // current write epoch
	writes int        // seals left in the current write epoch
	aead   cipher.AEAD

	// subkeys caches the subkeys by epoch for reading (lock-free lookup)
	// and bounds derivations for images that fail (subkeys.go).
	subkeys subkeys

	// Mask key (mask.go), derived on first use, and HMACs under it.
	maskOnce sync.Once
	maskKey  [KeySize]byte
	macs     sync.Pool // of hash.Hash
}

// New returns a Cipher for the 32-byte data key dek. The key is copied; the
// caller may clear its slice afterwards.
func New(dek []byte) (*Cipher, error) {
	if len(dek) != KeySize {
		return nil, errors.New("pagecrypt: data key must be 32 bytes")
	}
	c := &Cipher{}
	c.subkeys.init()
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
	c.subkeys.derived.Add(1)
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
		c.subkeys.store(c.epoch, c.aead)
		c.writes = EpochWrites
	}
	c.writes--
	return c.epoch, c.aead
}

// readKey returns the AEAD for epoch and where it came from: the cache,
// probation, or a derivation (the caller caches the last two once they
// have opened an image), or ErrEpochLimit while derivations for images
// that failed are over budget (see Cost of forged epochs in subkeys.go).
func (c *Cipher) readKey(epoch uint32) (a cipher.AEAD, from int, err error) {
	if a := c.subkeys.lookup(epoch); a != nil {
		return a, fromCache, nil
	}
	if a := c.subkeys.onProbation(epoch); a != nil {
		return a, fromProbation, nil
	}
	if !c.subkeys.spend() {
		return nil, 0, ErrEpochLimit
	}
	return c.subkey(epoch), derived, nil
}

// Seal encrypts the page image src into dst, which must have the same length
// (at least skip+Overhead+1 bytes) and must not overlap src. src[:skip] is
// copied to dst in plaintext and authenticated; src[skip:len-Overhead] is
// encrypted; src's last Overhead bytes are ignored and dst's receive the
// trailer. ad binds the image to its position and must be what Open gets;
// every image sealed under one key must get ad of the same length (see
// Construction).
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
// [ErrAuth], or [ErrEpochLimit] (which matches ErrAuth) when it refused to
// derive the image's subkey, and dst's contents are unspecified.
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
	epoch := binary.BigEndian.Uint32(trailer[:EpochSize])
	aead, from, err := c.readKey(epoch)
	if err != nil {
		return err
	}
	var nonce [NonceSize]byte
	copy(nonce[:], trailer[EpochSize:])
	copy(trailer, trailer[EpochSize+NonceSize:]) // the tag, after the ciphertext
	body := n - Overhead - skip
	if _, err := aead.Open(dst[skip:skip], nonce[:], src[skip:skip+body+TagSize], withPrefix(ad, src[:skip])); err != nil {
		if from == derived {
			c.subkeys.probate(epoch, aead)
		}
		return ErrAuth
	}
	if from == derived {
		c.subkeys.refund()
	}
	if from != fromCache {
		c.subkeys.store(epoch, aead)
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
