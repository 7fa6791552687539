package pagecrypt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/internal/pagecrypt/internal/testkit"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time          { return f.t }
func (f *fakeClock) advance(d time.Duration) { f.t = f.t.Add(d) }

// TestForgedEpochs opens thousands of images whose epochs were forged
// (every one different), as a file rewritten by an attacker would hand
// them over: each fails with ErrAuth, never data; the subkey derivations
// they cost stay within the failure budget (FailBurst at once, FailRate
// per second after); the subkeys that opened legitimate images before stay
// cached (forged epochs do not evict them); a legitimate image of a new
// epoch is refused with ErrEpochLimit only while the budget is spent and
// opens once it refills.
//
// On ebda354 every forged epoch cost a derivation (10,000 here) and
// entered the cache, which started over every 256 entries, so the
// legitimate subkeys had to be derived again.
func TestForgedEpochs(t *testing.T) {
	r := rnd("forged epochs")
	key := r.Bytes(32)
	c := newCipher(t, key)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	pagecrypt.SetClock(c, clock.now)
	ad := dbAD(1, 7)
	page := r.Bytes(512)
	dst := make([]byte, len(page))

	legit := func(epoch uint32) []byte {
		return testkit.Seal(testkit.Params{Key: key, Epoch: epoch, Nonce: r.Bytes(pagecrypt.NonceSize), AD: ad}, page)
	}
	sealed := make([]byte, len(page))
	c.Seal(sealed, page, 0, ad) // the write epoch: cached
	old := legit(0x01020304)    // another epoch, cached once opened
	if err := c.Open(dst, old, 0, ad); err != nil {
		t.Fatal(err)
	}
	base := c.Derivations() // 2

	const forged = 10000
	start := c.Derivations()
	limited := 0
	for i := range forged {
		if i%1000 == 0 && i > 0 {
			clock.advance(100 * time.Millisecond) // 0.9 s in all
		}
		img := bytes.Clone(sealed)
		binary.BigEndian.PutUint32(img[len(img)-pagecrypt.Overhead:], 0x80000000+uint32(i)*2654435761)
		err := c.Open(dst, img, 0, ad)
		if !errors.Is(err, pagecrypt.ErrAuth) {
			t.Fatalf("forged image %d: %v, want ErrAuth", i, err)
		}
		if errors.Is(err, pagecrypt.ErrEpochLimit) {
			limited++
		}
	}
	spent := c.Derivations() - start
	if max := uint64(pagecrypt.FailBurst + pagecrypt.FailRate*1); spent > max {
		t.Errorf("%d forged epochs cost %d derivations, want at most %d", forged, spent, max)
	}
	t.Logf("%d forged images: %d derivations, %d refused without one", forged, spent, limited)

	// Legitimate subkeys are still cached: no derivation.
	before := c.Derivations()
	for _, img := range [][]byte{sealed, old} {
		if err := c.Open(dst, img, 0, ad); err != nil || !bytes.Equal(dst, opened(page)) {
			t.Fatalf("legitimate image after the forgeries: %v", err)
		}
	}
	if d := c.Derivations() - before; d != 0 {
		t.Errorf("legitimate cached subkeys were evicted: %d derivations", d)
	}
	if before < base {
		t.Fatal("derivation count went backwards")
	}

	// Rereading one forged image costs one derivation, not one per read.
	clock.advance(10 * time.Second)
	img := bytes.Clone(sealed)
	binary.BigEndian.PutUint32(img[len(img)-pagecrypt.Overhead:], 0x7eadbeef)
	before = c.Derivations()
	for range 100 {
		if err := c.Open(dst, bytes.Clone(img), 0, ad); !errors.Is(err, pagecrypt.ErrAuth) {
			t.Fatalf("reread forged image: %v", err)
		}
	}
	if d := c.Derivations() - before; d != 1 {
		t.Errorf("100 reads of one forged image cost %d derivations, want 1", d)
	}
	for range 2 * pagecrypt.FailBurst { // spend the budget again
		binary.BigEndian.PutUint32(img[len(img)-pagecrypt.Overhead:], r.Uint32())
		c.Open(dst, bytes.Clone(img), 0, ad)
	}

	// A new legitimate epoch while the budget is spent, then after it
	// refilled.
	fresh := legit(0x0a0b0c0d)
	if err := c.Open(dst, fresh, 0, ad); !errors.Is(err, pagecrypt.ErrEpochLimit) {
		t.Fatalf("new epoch with the budget spent: %v, want ErrEpochLimit", err)
	}
	clock.advance(time.Second)
	if err := c.Open(dst, fresh, 0, ad); err != nil || !bytes.Equal(dst, opened(page)) {
		t.Fatalf("new epoch after the budget refilled: %v", err)
	}
}

// TestManyEpochsNeverRefused opens legitimate images of far more epochs
// than the failure budget and the cache hold, with a clock that never
// moves, three times over: a store whose every page has its own epoch is
// never refused, whatever its size.
func TestManyEpochsNeverRefused(t *testing.T) {
	r := rnd("many epochs")
	key := r.Bytes(32)
	c := newCipher(t, key)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	pagecrypt.SetClock(c, clock.now)
	const count = 4 * pagecrypt.FailBurst
	page := r.Bytes(64)
	images := make([][]byte, count)
	for i := range images {
		images[i] = testkit.Seal(testkit.Params{Key: key, Epoch: uint32(i) * 0x9e3779b9, Nonce: r.Bytes(pagecrypt.NonceSize), AD: dbAD(1, uint32(i))}, page)
	}
	dst := make([]byte, len(page))
	for pass := range 3 {
		for i, img := range images {
			if err := c.Open(dst, img, 0, dbAD(1, uint32(i))); err != nil {
				t.Fatalf("pass %d, image %d: %v", pass, i, err)
			}
		}
	}
	// Even after failures that spent the budget down to its last token.
	for i := range pagecrypt.FailBurst - 1 {
		img := bytes.Clone(images[0])
		binary.BigEndian.PutUint32(img[len(img)-pagecrypt.Overhead:], 0xfff00000+uint32(i))
		c.Open(dst, img, 0, dbAD(1, 0))
	}
	for i, img := range images {
		if err := c.Open(dst, img, 0, dbAD(1, uint32(i))); err != nil {
			t.Fatalf("after failures, image %d: %v", i, err)
		}
	}
}
