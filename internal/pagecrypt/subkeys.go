package pagecrypt

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Cost of forged epochs (summarized in the package doc).
//
// Opening an image needs the subkey of the epoch in its trailer, and that
// epoch is not authenticated until the subkey has opened the image. So
// anyone who can write the file can make each open derive a subkey (HKDF
// and an AES-GCM key schedule, a few µs) before it fails. The bound:
//
//   - No cap on distinct epochs or on derivations that authenticate. A
//     legitimate file can hold as many epochs as it has pages: every writer
//     open and every EpochWrites seals draw one, checkpoints copy sealed
//     images, so a page keeps the epoch of whoever wrote it last, and a
//     store written by one short-lived process per command can have a
//     different epoch on nearly every page. A subkey that opens an image
//     is legitimate by definition (a forger can only replay images sealed
//     under the key, which a legitimate file could hold as well), so an
//     attacker's cost there equals a legitimate file's of the same size.
//   - Each open derives at most one subkey, in constant time: the cache is
//     a fixed set-associative table, updated without copying.
//   - A subkey derived for reading enters the cache only after it opened
//     its image, so forged epochs never evict legitimate subkeys. Until
//     then it waits in a small probation cache (probationSize entries), so
//     that reading the same forged image again (every statement reads a
//     table's root page) does not derive it again.
//   - Derivations whose image then fails authentication spend a budget of
//     failBurst, refilled at failRate per second. Legitimately they happen
//     only for torn reads (a read of page 1 racing its rewrite, a torn WAL
//     tail during recovery, read-ahead racing a rewrite): a handful per
//     crash or race. With the budget spent, an image whose epoch is not
//     cached fails with [ErrEpochLimit] without a derivation, so a forged
//     file costs at most failBurst + failRate·seconds wasted derivations per
//     Cipher (256 per second: well under 1% of a core), however many pages
//     it forges. Images of cached epochs, including every subkey that
//     opened an image and the write epochs, open as before.

const (
	// cacheWays and cacheSets shape the read-side subkey cache (maxCached
	// entries in all).
	cacheWays = 4
	cacheSets = maxCached / cacheWays
	// failBurst and failRate bound derivations for images that failed
	// authentication; see Cost of forged epochs.
	failBurst = 256
	failRate  = 256 // per second
	// probationSize is the number of subkeys kept that have not opened
	// an image yet.
	probationSize = 16
)

// Where readKey found a subkey.
const (
	fromCache = iota
	fromProbation
	derived
)

// ErrEpochLimit is returned by [Cipher.Open] instead of deriving the subkey
// of an uncached epoch while the budget for derivations that fail
// authentication is spent (see Cost of forged epochs in the package doc).
// It matches [ErrAuth] with errors.Is.
var ErrEpochLimit = fmt.Errorf("pagecrypt: too many images of unknown epochs failed authentication; not deriving more subkeys for now: %w", ErrAuth)

// subkey is one cached epoch subkey.
type subkey struct {
	epoch uint32
	aead  cipher.AEAD
}

// subkeys is the read-side cache and the failure budget.
type subkeys struct {
	seed uint32 // randomizes the set of an epoch
	sets [cacheSets]struct {
		next atomic.Uint32 // round-robin replacement
		ways [cacheWays]atomic.Pointer[subkey]
	}
	probation [probationSize]atomic.Pointer[subkey]
	derived   atomic.Uint64 // subkeys derived, for Derivations

	mu     sync.Mutex
	debt   float64   // failed derivations not yet refilled
	debtAt time.Time // when debt was last brought up to date
	now    func() time.Time
}

func (s *subkeys) init() {
	var b [4]byte
	rand.Read(b[:])
	s.seed = binary.BigEndian.Uint32(b[:])
	s.now = time.Now
}

func (s *subkeys) set(epoch uint32) int {
	return int(((epoch ^ s.seed) * 0x9e3779b1) >> 26) // 64 sets
}

// lookup returns the cached AEAD of epoch, or nil.
func (s *subkeys) lookup(epoch uint32) cipher.AEAD {
	set := &s.sets[s.set(epoch)]
	for i := range set.ways {
		if k := set.ways[i].Load(); k != nil && k.epoch == epoch {
			return k.aead
		}
	}
	return nil
}

// store caches the AEAD of epoch, replacing the set's oldest entry.
func (s *subkeys) store(epoch uint32, a cipher.AEAD) {
	if s.lookup(epoch) != nil {
		return
	}
	set := &s.sets[s.set(epoch)]
	set.ways[set.next.Add(1)%cacheWays].Store(&subkey{epoch: epoch, aead: a})
}

// probate keeps a subkey that failed to open its image, in case the same
// image is read again.
func (s *subkeys) probate(epoch uint32, a cipher.AEAD) {
	s.probation[s.set(epoch)%probationSize].Store(&subkey{epoch: epoch, aead: a})
}

// onProbation returns the probation subkey of epoch, or nil.
func (s *subkeys) onProbation(epoch uint32) cipher.AEAD {
	if k := s.probation[s.set(epoch)%probationSize].Load(); k != nil && k.epoch == epoch {
		return k.aead
	}
	return nil
}

// spend takes one derivation from the failure budget; it reports false if
// the budget is spent.
func (s *subkeys) spend() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.debt > 0 {
		s.debt = max(0, s.debt-now.Sub(s.debtAt).Seconds()*failRate)
	}
	s.debtAt = now
	if s.debt+1 > failBurst {
		return false
	}
	s.debt++
	return true
}

// refund returns a derivation whose image authenticated.
func (s *subkeys) refund() {
	s.mu.Lock()
	s.debt = max(0, s.debt-1)
	s.mu.Unlock()
}

// Derivations returns how many epoch subkeys c has derived, for writing
// and for reading. It is meant for tests and metrics.
func (c *Cipher) Derivations() uint64 { return c.subkeys.derived.Load() }
