package pagecrypt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/cryptotest"

	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/internal/pagecrypt/internal/testkit"
)

// rnd returns a reproducible stream for test data (keys, pages, ad).
func rnd(name string) *testkit.Rand { return testkit.NewRand("pagecrypt test " + name) }

func newCipher(t testing.TB, key []byte) *pagecrypt.Cipher {
	t.Helper()
	c, err := pagecrypt.New(key)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// dbAD is associated data shaped like package sqlitevfs's: kind[1] ‖
// zero[3] ‖ pgno[4] ‖ salts[8].
func dbAD(kind byte, pgno uint32) []byte {
	ad := make([]byte, 16)
	ad[0] = kind
	binary.BigEndian.PutUint32(ad[4:8], pgno)
	return ad
}

// panics reports whether f panics.
func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}

// trailer splits a sealed image's trailer.
func trailer(sealed []byte) (epoch uint32, nonce, tag []byte) {
	tr := sealed[len(sealed)-pagecrypt.Overhead:]
	return binary.BigEndian.Uint32(tr), tr[pagecrypt.EpochSize : pagecrypt.EpochSize+pagecrypt.NonceSize], tr[pagecrypt.EpochSize+pagecrypt.NonceSize:]
}

// opened is what Open must yield for page: page with a zeroed trailer.
func opened(page []byte) []byte { return testkit.Opened(page) }

func TestConstants(t *testing.T) {
	if got, want := pagecrypt.Overhead, 32; got != want {
		t.Errorf("Overhead=%d, want %d (sqlitevfs reserves 32 bytes per page)", got, want)
	}
	if got, want := pagecrypt.KeySize, 32; got != want {
		t.Errorf("KeySize=%d, want %d", got, want)
	}
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		if c, err := pagecrypt.New(make([]byte, n)); err == nil || c != nil {
			t.Errorf("New(%d-byte key) = %v, %v; want nil, error", n, c, err)
		}
	}
	key := rnd("key").Bytes(32)
	c := newCipher(t, key)
	page := rnd("page").Bytes(256)
	sealed := make([]byte, len(page))
	c.Seal(sealed, page, 0, nil)
	clear(key) // New copied the key
	dst := make([]byte, len(page))
	if err := c.Open(dst, sealed, 0, nil); err != nil {
		t.Fatalf("Open after clearing the caller's key slice: %v", err)
	}
	c.Seal(sealed, page, 0, nil)
	if err := newCipher(t, make([]byte, 32)).Open(dst, sealed, 0, nil); err == nil {
		t.Fatal("the cipher uses the caller's cleared key slice")
	}
}

func TestRoundTrip(t *testing.T) {
	r := rnd("round trip")
	c := newCipher(t, r.Bytes(32))
	ads := [][]byte{nil, {}, dbAD(1, 1), dbAD(2, 0xfffffffe), r.Bytes(1000)}
	for _, n := range []int{33, 34, 48, 64, 100, 512, 1024, 4096, 8192, 65536} {
		for _, skip := range []int{0, 1, 8, 24, 100, n - pagecrypt.Overhead - 1} {
			if skip < 0 || n < skip+pagecrypt.Overhead+1 {
				continue
			}
			for ai, ad := range ads {
				t.Run(fmt.Sprintf("n=%d/skip=%d/ad=%d", n, skip, ai), func(t *testing.T) {
					page := r.Bytes(n) // random trailer too: Seal ignores it
					sealed := make([]byte, n)
					c.Seal(sealed, page, skip, ad)
					if got := len(sealed); got != n {
						t.Fatalf("len(sealed)=%d, want %d", got, n)
					}
					if !bytes.Equal(sealed[:skip], page[:skip]) {
						t.Error("prefix not copied in plaintext")
					}
					body := n - pagecrypt.Overhead - skip
					if body >= 16 && bytes.Equal(sealed[skip:skip+body], page[skip:skip+body]) {
						t.Error("body not encrypted")
					}
					dst := bytes.Repeat([]byte{0xa5}, n)
					if err := c.Open(dst, sealed, skip, ad); err != nil {
						t.Fatalf("Open: %v", err)
					}
					if !bytes.Equal(dst, opened(page)) {
						t.Fatal("Open(Seal(page)) != page with a zeroed trailer")
					}
				})
			}
		}
	}
}

// TestSealMatchesReference checks Seal against testkit's implementation of
// the construction in the package doc, with the epoch and nonce Seal drew.
func TestSealMatchesReference(t *testing.T) {
	r := rnd("reference")
	for i := range 200 {
		key := r.Bytes(32)
		c := newCipher(t, key)
		if got, want := c.KeyCheck(), testkit.KeyCheck(key); !bytes.Equal(got[:], want) {
			t.Fatalf("KeyCheck()=%x, want %x", got, want)
		}
		n := 33 + i*37%5000
		skip := i % (n - pagecrypt.Overhead)
		ad := r.Bytes(i % 40)
		page := r.Bytes(n)
		sealed := make([]byte, n)
		c.Seal(sealed, page, skip, ad)
		epoch, nonce, _ := trailer(sealed)
		want := testkit.Seal(testkit.Params{Key: key, Epoch: epoch, Nonce: nonce, AD: ad, Skip: skip}, page)
		if !bytes.Equal(sealed, want) {
			t.Fatalf("n=%d skip=%d: Seal differs from the documented construction\n got %x\nwant %x", n, skip, sealed, want)
		}
	}
}

// TestSealUsesCryptoRand checks that all of Seal's randomness (epoch and
// nonce) comes from crypto/rand: under a fixed global random stream two
// fresh Ciphers seal identically. (So tests can make Seal deterministic
// without a hook in the package.)
func TestSealUsesCryptoRand(t *testing.T) {
	key := rnd("determinism").Bytes(32)
	page := rnd("determinism page").Bytes(512)
	seal := func() []byte {
		cryptotest.SetGlobalRandom(t, 42)
		out := make([]byte, len(page))
		newCipher(t, key).Seal(out, page, 24, dbAD(1, 1))
		return out
	}
	a, b := seal(), seal()
	if !bytes.Equal(a, b) {
		t.Fatal("Seal under the same crypto/rand stream differs: it draws randomness elsewhere")
	}
}

func TestOpenBitFlips(t *testing.T) {
	const n = 1024
	r := rnd("bit flips")
	c := newCipher(t, r.Bytes(32))
	for _, skip := range []int{0, 24} {
		page := r.Bytes(n)
		ad := dbAD(1, 7)
		sealed := make([]byte, n)
		c.Seal(sealed, page, skip, ad)
		dst := make([]byte, n)
		for bit := range 8 * n {
			sealed[bit/8] ^= 1 << (bit % 8)
			if err := c.Open(dst, sealed, skip, ad); !errors.Is(err, pagecrypt.ErrAuth) {
				t.Fatalf("skip=%d: flipped image bit %d: Open=%v, want ErrAuth", skip, bit, err)
			}
			sealed[bit/8] ^= 1 << (bit % 8)
		}
		for bit := range 8 * len(ad) {
			ad[bit/8] ^= 1 << (bit % 8)
			if err := c.Open(dst, sealed, skip, ad); !errors.Is(err, pagecrypt.ErrAuth) {
				t.Fatalf("skip=%d: flipped ad bit %d: Open=%v, want ErrAuth", skip, bit, err)
			}
			ad[bit/8] ^= 1 << (bit % 8)
		}
		if err := c.Open(dst, sealed, skip, ad); err != nil || !bytes.Equal(dst, opened(page)) {
			t.Fatalf("skip=%d: the unmodified image no longer opens: %v", skip, err)
		}
	}
}

func TestOpenWrongAD(t *testing.T) {
	r := rnd("wrong ad")
	c := newCipher(t, r.Bytes(32))
	page := r.Bytes(4096)
	ad := dbAD(1, 5)
	sealed := make([]byte, len(page))
	c.Seal(sealed, page, 0, ad)
	for _, tc := range []struct {
		name string
		ad   []byte
	}{
		{"nil", nil},
		{"moved to page 6", dbAD(1, 6)},
		{"moved to page 5+2^24", dbAD(1, 5+1<<24)},
		{"other kind", dbAD(2, 5)},
		{"truncated", ad[:15]},
		{"extended", append(bytes.Clone(ad), 0)},
	} {
		dst := make([]byte, len(page))
		if err := c.Open(dst, sealed, 0, tc.ad); !errors.Is(err, pagecrypt.ErrAuth) {
			t.Errorf("%s: Open=%v, want ErrAuth", tc.name, err)
		}
	}

	// A wrong skip fails even when ad ‖ prefix is the same byte string:
	// the ciphertext span differs.
	page = r.Bytes(256)
	clear(page[:24])
	c.Seal(sealed[:256], page, 24, ad)
	dst := make([]byte, 256)
	for _, tc := range []struct {
		skip int
		ad   []byte
	}{
		{23, append(bytes.Clone(ad), 0)},
		{25, ad[:15]},
		{0, append(bytes.Clone(ad), make([]byte, 24)...)},
	} {
		if err := c.Open(dst, sealed[:256], tc.skip, tc.ad); !errors.Is(err, pagecrypt.ErrAuth) {
			t.Errorf("skip %d instead of 24: Open=%v, want ErrAuth", tc.skip, err)
		}
	}
}

func TestOpenWrongKey(t *testing.T) {
	r := rnd("wrong key")
	key := r.Bytes(32)
	page := r.Bytes(1024)
	sealed := make([]byte, len(page))
	newCipher(t, key).Seal(sealed, page, 24, nil)
	dst := make([]byte, len(page))
	if err := newCipher(t, key).Open(dst, sealed, 24, nil); err != nil {
		t.Fatalf("same key, new Cipher: %v", err)
	}
	for i := range 8 * 32 {
		other := bytes.Clone(key)
		other[i/8] ^= 1 << (i % 8)
		if err := newCipher(t, other).Open(dst, sealed, 24, nil); !errors.Is(err, pagecrypt.ErrAuth) {
			t.Fatalf("key bit %d flipped: Open=%v, want ErrAuth", i, err)
		}
	}
}

func TestOpenLengthChanges(t *testing.T) {
	r := rnd("lengths")
	c := newCipher(t, r.Bytes(32))
	page := r.Bytes(1024)
	ad := dbAD(1, 2)
	sealed := make([]byte, len(page))
	c.Seal(sealed, page, 0, ad)
	for _, tc := range []struct {
		name  string
		image []byte
	}{
		{"last byte dropped", sealed[:len(sealed)-1]},
		{"first byte dropped", sealed[1:]},
		{"half", sealed[:len(sealed)/2]},
		{"trailer only plus one", sealed[len(sealed)-pagecrypt.Overhead-1:]},
		{"zero byte appended", append(bytes.Clone(sealed), 0)},
		{"image doubled", append(bytes.Clone(sealed), sealed...)},
	} {
		dst := make([]byte, len(tc.image))
		if err := c.Open(dst, tc.image, 0, ad); !errors.Is(err, pagecrypt.ErrAuth) {
			t.Errorf("%s: Open=%v, want ErrAuth", tc.name, err)
		}
	}
}

// TestLengthPanics checks the documented misuse panics: dst and src of
// different lengths, images shorter than skip+Overhead+1, negative skip.
func TestLengthPanics(t *testing.T) {
	c := newCipher(t, rnd("panics").Bytes(32))
	for _, tc := range []struct {
		name         string
		dstN, srcN   int
		skip         int
		sealShouldOK bool
	}{
		{"ok", 64, 64, 0, true},
		{"minimum", 33, 33, 0, true},
		{"minimum with skip", 57, 57, 24, true},
		{"dst shorter", 63, 64, 0, false},
		{"dst longer", 65, 64, 0, false},
		{"too short", 32, 32, 0, false},
		{"empty", 0, 0, 0, false},
		{"no body", 56, 56, 24, false},
		{"negative skip", 64, 64, -1, false},
		{"skip past the end", 64, 64, 65, false},
	} {
		src := make([]byte, tc.srcN)
		dst := make([]byte, tc.dstN)
		if got, want := panics(func() { c.Seal(dst, src, tc.skip, nil) }), !tc.sealShouldOK; got != want {
			t.Errorf("%s: Seal panics=%v, want %v", tc.name, got, want)
		}
		if tc.sealShouldOK {
			sealed := make([]byte, tc.srcN)
			c.Seal(sealed, src, tc.skip, nil)
			if err := c.Open(dst, sealed, tc.skip, nil); err != nil {
				t.Errorf("%s: Open=%v", tc.name, err)
			}
			continue
		}
		if !panics(func() { c.Open(dst, src, tc.skip, nil) }) {
			t.Errorf("%s: Open did not panic", tc.name)
		}
	}
}

func TestOpenZeroesTrailer(t *testing.T) {
	r := rnd("trailer")
	c := newCipher(t, r.Bytes(32))
	page := r.Bytes(512)
	for i := range pagecrypt.Overhead {
		page[len(page)-1-i] = 0xff // whatever SQLite left in the reserved bytes
	}
	sealed := make([]byte, len(page))
	c.Seal(sealed, page, 24, nil)
	dst := bytes.Repeat([]byte{0xee}, len(page))
	if err := c.Open(dst, sealed, 24, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := dst[len(dst)-pagecrypt.Overhead:], make([]byte, pagecrypt.Overhead); !bytes.Equal(got, want) {
		t.Errorf("reserved bytes after Open = %x, want zeros", got)
	}
	if got, want := dst[:len(dst)-pagecrypt.Overhead], page[:len(page)-pagecrypt.Overhead]; !bytes.Equal(got, want) {
		t.Error("Open changed the page body")
	}
}

func TestInputsUnchanged(t *testing.T) {
	r := rnd("inputs")
	c := newCipher(t, r.Bytes(32))
	page := r.Bytes(1024)
	pageCopy := bytes.Clone(page)
	// ad with spare capacity: appending the prefix must not write into it.
	backing := bytes.Repeat([]byte{0x5a}, 64)
	ad := backing[:16]
	copy(ad, dbAD(1, 1))
	backingCopy := bytes.Clone(backing)

	sealed := make([]byte, len(page))
	c.Seal(sealed, page, 24, ad)
	if !bytes.Equal(page, pageCopy) {
		t.Error("Seal modified src")
	}
	if !bytes.Equal(backing, backingCopy) {
		t.Error("Seal wrote into ad's backing array")
	}
	sealedCopy := bytes.Clone(sealed)
	dst := make([]byte, len(page))
	if err := c.Open(dst, sealed, 24, ad); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed, sealedCopy) {
		t.Error("Open modified src")
	}
	if !bytes.Equal(backing, backingCopy) {
		t.Error("Open wrote into ad's backing array")
	}
}

// TestSealTrailersUnique seals one page many times, from many Ciphers with
// the same key: no two seals share a trailer (or an epoch ‖ nonce), and no
// two ciphertexts are equal.
func TestSealTrailersUnique(t *testing.T) {
	r := rnd("unique")
	key := r.Bytes(32)
	page := r.Bytes(64)
	trailers := map[string]bool{}
	nonces := map[string]bool{}
	bodies := map[string]bool{}
	epochs := map[uint32]bool{}
	sealed := make([]byte, len(page))
	for range 64 {
		c := newCipher(t, key)
		for range 1024 {
			c.Seal(sealed, page, 0, nil)
			tr := string(sealed[len(sealed)-pagecrypt.Overhead:])
			epoch, _, _ := trailer(sealed)
			epochs[epoch] = true
			if trailers[tr] || nonces[tr[:pagecrypt.EpochSize+pagecrypt.NonceSize]] {
				t.Fatalf("trailer %x repeated after %d seals", tr, len(trailers))
			}
			body := string(sealed[:len(sealed)-pagecrypt.Overhead])
			if bodies[body] {
				t.Fatal("ciphertext repeated")
			}
			trailers[tr], nonces[tr[:pagecrypt.EpochSize+pagecrypt.NonceSize]], bodies[body] = true, true, true
		}
	}
	if len(epochs) < 60 {
		t.Errorf("64 fresh Ciphers used %d epochs: each should draw its own", len(epochs))
	}
}

// TestEpochRotation seals 2·EpochWrites+1 images with one Cipher: the epoch
// changes exactly after EpochWrites and after 2·EpochWrites seals, never
// repeats, and images of old epochs still open.
func TestEpochRotation(t *testing.T) {
	r := rnd("rotation")
	c := newCipher(t, r.Bytes(32))
	page := r.Bytes(48)
	sealed := make([]byte, len(page))
	first := make([]byte, len(page))
	var changes []int
	var epochs []uint32
	nonces := make(map[[pagecrypt.NonceSize]byte]bool, 2*pagecrypt.EpochWrites+1)
	for i := range 2*pagecrypt.EpochWrites + 1 {
		c.Seal(sealed, page, 0, nil)
		epoch, nonce, _ := trailer(sealed)
		if i == 0 {
			copy(first, sealed)
		}
		if len(epochs) == 0 || epoch != epochs[len(epochs)-1] {
			changes = append(changes, i)
			epochs = append(epochs, epoch)
		}
		if nonces[[pagecrypt.NonceSize]byte(nonce)] {
			t.Fatalf("seal %d repeated a nonce", i)
		}
		nonces[[pagecrypt.NonceSize]byte(nonce)] = true
	}
	if want := []int{0, pagecrypt.EpochWrites, 2 * pagecrypt.EpochWrites}; fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("epoch changed at seals %v, want %v", changes, want)
	}
	if epochs[0] == epochs[1] || epochs[1] == epochs[2] {
		t.Errorf("epochs %08x: a new epoch equals the previous one", epochs)
	}
	dst := make([]byte, len(page))
	if err := c.Open(dst, first, 0, nil); err != nil || !bytes.Equal(dst, opened(page)) {
		t.Errorf("image of the first epoch after rotation: %v", err)
	}
}

// TestOpenManyEpochs opens images of more epochs than the read-side subkey
// cache holds (reference-sealed, since Seal picks epochs itself), twice in
// different orders.
func TestOpenManyEpochs(t *testing.T) {
	r := rnd("epochs")
	key := r.Bytes(32)
	c := newCipher(t, key)
	const count = 700
	pages := make([][]byte, count)
	images := make([][]byte, count)
	for i := range count {
		pages[i] = r.Bytes(64)
		p := testkit.Params{Key: key, Epoch: uint32(i) * 0x9e3779b9, Nonce: r.Bytes(pagecrypt.NonceSize), AD: dbAD(1, uint32(i))}
		images[i] = testkit.Seal(p, pages[i])
	}
	dst := make([]byte, 64)
	for pass, order := range [][]int{ascending(count), descending(count)} {
		for _, i := range order {
			if err := c.Open(dst, images[i], 0, dbAD(1, uint32(i))); err != nil || !bytes.Equal(dst, opened(pages[i])) {
				t.Fatalf("pass %d: image of epoch %08x: %v", pass, uint32(i)*0x9e3779b9, err)
			}
		}
	}
}

func ascending(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func descending(n int) []int {
	s := ascending(n)
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

func TestKeyCheck(t *testing.T) {
	r := rnd("key check")
	seen := map[[8]byte]bool{}
	for range 200 {
		key := r.Bytes(32)
		a, b := newCipher(t, key).KeyCheck(), newCipher(t, key).KeyCheck()
		if a != b {
			t.Fatalf("KeyCheck not stable: %x, %x", a, b)
		}
		if !bytes.Equal(a[:], testkit.KeyCheck(key)) {
			t.Fatalf("KeyCheck()=%x, want the documented %x", a, testkit.KeyCheck(key))
		}
		if seen[a] {
			t.Fatalf("two keys share KeyCheck %x", a)
		}
		seen[a] = true
		if bytes.Contains(key, a[:4]) {
			t.Fatalf("KeyCheck %x is a piece of the key", a)
		}
	}
	// The key check is not derived like an epoch subkey.
	key := r.Bytes(32)
	if check := newCipher(t, key).KeyCheck(); bytes.Equal(check[:], testkit.Subkey(key, 0, testkit.SubkeyLabel)[:8]) {
		t.Fatal("KeyCheck equals a prefix of the epoch-0 subkey")
	}
}

// TestConcurrent hammers one Cipher from many goroutines: each seals and
// opens its own pages (crossing an epoch rotation in total) while others
// open images of many epochs (churning the subkey cache). Run with -race.
func TestConcurrent(t *testing.T) {
	const (
		workers = 8
		seals   = pagecrypt.EpochWrites/workers + 500 // one rotation in total
	)
	r := rnd("concurrent")
	key := r.Bytes(32)
	c := newCipher(t, key)
	const nOld = 300
	oldPages := make([][]byte, nOld)
	oldImages := make([][]byte, nOld)
	for i := range nOld {
		oldPages[i] = r.Bytes(96)
		p := testkit.Params{Key: key, Epoch: uint32(i) + 1<<31, Nonce: r.Bytes(pagecrypt.NonceSize), AD: dbAD(3, uint32(i))}
		oldImages[i] = testkit.Seal(p, oldPages[i])
	}

	var wg sync.WaitGroup
	type seen struct {
		epoch uint32
		nonce [pagecrypt.NonceSize]byte
	}
	results := make([][]seen, workers)
	errs := make(chan error, 2*workers)
	for w := range workers {
		page := r.Bytes(256)
		wg.Go(func() {
			sealed := make([]byte, len(page))
			dst := make([]byte, len(page))
			ad := dbAD(1, uint32(w))
			for i := range seals {
				page[0] = byte(i)
				c.Seal(sealed, page, 24, ad)
				epoch, nonce, _ := trailer(sealed)
				results[w] = append(results[w], seen{epoch, [pagecrypt.NonceSize]byte(nonce)})
				if err := c.Open(dst, sealed, 24, ad); err != nil || !bytes.Equal(dst, opened(page)) {
					errs <- fmt.Errorf("worker %d seal %d: round trip: %v", w, i, err)
					return
				}
			}
		})
		wg.Go(func() {
			dst := make([]byte, 96)
			for i := range 10 * nOld {
				j := (i*7 + w*31) % nOld
				if err := c.Open(dst, oldImages[j], 0, dbAD(3, uint32(j))); err != nil || !bytes.Equal(dst, opened(oldPages[j])) {
					errs <- fmt.Errorf("reader %d: image %d: %v", w, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	perEpoch := map[uint32]int{}
	all := map[seen]bool{}
	for _, rs := range results {
		for _, s := range rs {
			if all[s] {
				t.Fatalf("epoch ‖ nonce %08x ‖ %x sealed twice", s.epoch, s.nonce)
			}
			all[s] = true
			perEpoch[s.epoch]++
		}
	}
	if len(perEpoch) != 2 {
		t.Fatalf("%d seals used %d epochs, want 2: %v", workers*seals, len(perEpoch), perEpoch)
	}
	full := 0
	for _, n := range perEpoch {
		if n == pagecrypt.EpochWrites {
			full++
		}
	}
	if full != 1 {
		t.Errorf("seals per epoch = %v, want one epoch with exactly EpochWrites (%d)", perEpoch, pagecrypt.EpochWrites)
	}
}
