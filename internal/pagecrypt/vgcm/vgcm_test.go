package vgcm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// newPair returns the stdlib AES-GCM and the vgcm AEAD for key, skipping the
// test when the accelerated implementation is unavailable.
func newPair(tb testing.TB, key []byte) (std, fast cipher.AEAD) {
	tb.Helper()
	requireVGCM(tb)
	fast, ok := New(key)
	if !ok {
		tb.Fatal("vgcm: New returned false although the CPU is supported")
	}
	return stdGCM(tb, key), fast
}

// stdGCM returns crypto/cipher's AES-GCM for key, the reference.
func stdGCM(tb testing.TB, key []byte) cipher.AEAD {
	tb.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	std, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return std
}

func randBytes(tb testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

var (
	adLens    = []int{0, 1, 16, 17, 24, 40, 100}
	largeLens = []int{4064, 4040, 4072, 8160, 65504, 65536, 1<<17 + 13}
)

// allLens returns 0..600 followed by the large lengths.
func allLens() []int {
	var ls []int
	for n := 0; n <= 600; n++ {
		ls = append(ls, n)
	}
	return append(ls, largeLens...)
}

func TestNewRejects(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if a, ok := New(make([]byte, n)); ok || a != nil {
			t.Errorf("New(%d-byte key) = (%v, %v), want (nil, false)", n, a, ok)
		}
	}
	a, ok := New(make([]byte, 32))
	if ok != supported {
		t.Fatalf("New(32-byte key) ok=%v, supported=%v", ok, supported)
	}
	if !ok {
		requireVGCM(t)
	}
	if a.NonceSize() != 12 || a.Overhead() != 16 {
		t.Fatalf("NonceSize %d Overhead %d", a.NonceSize(), a.Overhead())
	}
}

// TestDifferential compares Seal and Open with crypto/cipher for every
// plaintext length 0..600, the large lengths and all AD lengths, each with
// a fresh random key and nonce.
func TestDifferential(t *testing.T) {
	newPair(t, make([]byte, 32)) // skip early if unsupported
	for _, n := range allLens() {
		for _, adLen := range adLens {
			key := randBytes(t, 32)
			std, fast := newPair(t, key)
			nonce := randBytes(t, 12)
			pt := randBytes(t, n)
			ad := randBytes(t, adLen)

			want := std.Seal(nil, nonce, pt, ad)
			got := fast.Seal(nil, nonce, pt, ad)
			if !bytes.Equal(got, want) {
				t.Fatalf("Seal mismatch n=%d ad=%d\n got %x\nwant %x", n, adLen, got, want)
			}
			// Appending to a non-empty dst.
			prefix := []byte("prefix")
			got2 := fast.Seal(append([]byte(nil), prefix...), nonce, pt, ad)
			if !bytes.Equal(got2[:len(prefix)], prefix) || !bytes.Equal(got2[len(prefix):], want) {
				t.Fatalf("Seal with prefix mismatch n=%d ad=%d", n, adLen)
			}
			opened, err := fast.Open(nil, nonce, want, ad)
			if err != nil || !bytes.Equal(opened, pt) {
				t.Fatalf("Open n=%d ad=%d: err=%v equal=%v", n, adLen, err, bytes.Equal(opened, pt))
			}
			opened2, err := fast.Open(append([]byte(nil), prefix...), nonce, want, ad)
			if err != nil || !bytes.Equal(opened2[:len(prefix)], prefix) || !bytes.Equal(opened2[len(prefix):], pt) {
				t.Fatalf("Open with prefix n=%d ad=%d: err=%v", n, adLen, err)
			}
		}
	}
}

// TestLongAD covers additional data long enough for the 32-block GHASH
// loop, combined with several plaintext lengths.
func TestLongAD(t *testing.T) {
	for _, adLen := range []int{255, 256, 511, 512, 513, 1031, 4096, 10000} {
		for _, n := range []int{0, 1, 255, 256, 300, 4064, 5000} {
			key := randBytes(t, 32)
			std, fast := newPair(t, key)
			nonce, pt, ad := randBytes(t, 12), randBytes(t, n), randBytes(t, adLen)
			want := std.Seal(nil, nonce, pt, ad)
			if got := fast.Seal(nil, nonce, pt, ad); !bytes.Equal(got, want) {
				t.Fatalf("Seal mismatch n=%d ad=%d", n, adLen)
			}
			if got, err := fast.Open(nil, nonce, want, ad); err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open n=%d ad=%d: %v", n, adLen, err)
			}
			ad[adLen/2] ^= 0x10
			openMustFail(t, std, fast, nonce, want, ad, "long ad")
		}
	}
}

// TestKeySchedule checks distinct keys exercise the whole schedule: a
// single-bit change anywhere in the key must change the output, and the
// output must match the stdlib.
func TestKeySchedule(t *testing.T) {
	base := randBytes(t, 32)
	nonce := randBytes(t, 12)
	pt := randBytes(t, 100)
	for bit := 0; bit < 256; bit++ {
		key := append([]byte(nil), base...)
		key[bit/8] ^= 1 << (bit % 8)
		std, fast := newPair(t, key)
		if want, got := std.Seal(nil, nonce, pt, nil), fast.Seal(nil, nonce, pt, nil); !bytes.Equal(got, want) {
			t.Fatalf("key bit %d: Seal mismatch", bit)
		}
	}
}

// openMustFail checks that Open rejects the input, returns nil, and leaves
// the output region zeroed exactly like the stdlib does.
func openMustFail(t *testing.T, std, fast cipher.AEAD, nonce, ct, ad []byte, what string) {
	t.Helper()
	n := len(ct) - 16
	if n < 0 {
		n = 0
	}
	// dst has a prefix and enough capacity, pre-filled with garbage, so the
	// output region is observable after the call.
	const pre = 3
	mk := func() []byte {
		b := make([]byte, pre+n)
		for i := range b {
			b[i] = 0xa5
		}
		return b[:pre]
	}
	dstFast, dstStd := mk(), mk()
	out, err := fast.Open(dstFast, nonce, ct, ad)
	if err == nil || out != nil {
		t.Fatalf("%s: Open succeeded on tampered input (n=%d)", what, n)
	}
	_, errStd := std.Open(dstStd, nonce, ct, ad)
	if errStd == nil {
		t.Fatalf("%s: stdlib Open succeeded on tampered input (n=%d)", what, n)
	}
	if err.Error() != errStd.Error() {
		t.Fatalf("%s: error %q, stdlib %q", what, err, errStd)
	}
	if !bytes.Equal(dstFast[:pre+n], dstStd[:pre+n]) {
		t.Fatalf("%s: dst after failure differs from stdlib:\n got %x\nwant %x", what, dstFast[:pre+n], dstStd[:pre+n])
	}
	for i, b := range dstFast[pre : pre+n] {
		if b != 0 {
			t.Fatalf("%s: output byte %d not cleared after failure", what, i)
		}
	}
}

// TestTamper flips every single bit of ciphertext, tag, AD and nonce for
// every length 0..600 (and randomly chosen bits for the large lengths).
func TestTamper(t *testing.T) {
	key := randBytes(t, 32)
	std, fast := newPair(t, key)
	rng := mrand.New(mrand.NewPCG(1, 2))
	check := func(n, adLen int, exhaustive bool) {
		nonce := randBytes(t, 12)
		pt := randBytes(t, n)
		ad := randBytes(t, adLen)
		sealed := fast.Seal(nil, nonce, pt, ad)
		flips := func(buf []byte, what string, f func()) {
			bits := len(buf) * 8
			try := func(bit int) {
				buf[bit/8] ^= 1 << (bit % 8)
				f()
				buf[bit/8] ^= 1 << (bit % 8)
			}
			if exhaustive {
				for bit := 0; bit < bits; bit++ {
					try(bit)
				}
			} else if bits > 0 {
				for i := 0; i < 64; i++ {
					try(rng.IntN(bits))
				}
			}
		}
		flips(sealed[:n], "ciphertext", func() { openMustFail(t, std, fast, nonce, sealed, ad, "ciphertext") })
		flips(sealed[n:], "tag", func() { openMustFail(t, std, fast, nonce, sealed, ad, "tag") })
		flips(ad, "ad", func() { openMustFail(t, std, fast, nonce, sealed, ad, "ad") })
		flips(nonce, "nonce", func() { openMustFail(t, std, fast, nonce, sealed, ad, "nonce") })
		// Sanity: the untampered message still opens.
		if got, err := fast.Open(nil, nonce, sealed, ad); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("untampered Open failed n=%d", n)
		}
	}
	for n := 0; n <= 600; n++ {
		check(n, adLens[n%len(adLens)], !testing.Short())
	}
	for _, n := range largeLens {
		check(n, 17, false)
	}
	// Truncated inputs shorter than a tag.
	for n := 0; n < 16; n++ {
		openMustFail(t, std, fast, make([]byte, 12), make([]byte, n), nil, fmt.Sprintf("short %d", n))
	}
}

// TestInPlace checks Seal and Open with dst[:0] aliasing the input.
func TestInPlace(t *testing.T) {
	for _, n := range allLens() {
		key := randBytes(t, 32)
		std, fast := newPair(t, key)
		nonce := randBytes(t, 12)
		ad := randBytes(t, 24)
		pt := randBytes(t, n)

		want := std.Seal(nil, nonce, pt, ad)

		buf := make([]byte, n, n+16)
		copy(buf, pt)
		sealed := fast.Seal(buf[:0], nonce, buf, ad)
		if !bytes.Equal(sealed, want) || &sealed[0] != &buf[:1][0] {
			t.Fatalf("in-place Seal n=%d mismatch or reallocated", n)
		}
		opened, err := fast.Open(sealed[:0], nonce, sealed, ad)
		if err != nil || !bytes.Equal(opened, pt) {
			t.Fatalf("in-place Open n=%d: err=%v", n, err)
		}
		if n > 0 && &opened[0] != &sealed[0] {
			t.Fatalf("in-place Open n=%d reallocated", n)
		}

		// In-place failure clears the buffer exactly like the stdlib.
		sealedStd := std.Seal(nil, nonce, pt, ad)
		sealedFast := append([]byte(nil), sealedStd...)
		sealedStd[len(sealedStd)-1] ^= 1
		sealedFast[len(sealedFast)-1] ^= 1
		_, e1 := std.Open(sealedStd[:0], nonce, sealedStd, ad)
		_, e2 := fast.Open(sealedFast[:0], nonce, sealedFast, ad)
		if e1 == nil || e2 == nil || !bytes.Equal(sealedStd, sealedFast) {
			t.Fatalf("in-place failing Open n=%d differs from stdlib (%v, %v)", n, e1, e2)
		}
	}
}

func panicMsg(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// TestPanics checks that misuse panics exactly like crypto/cipher.
func TestPanics(t *testing.T) {
	key := randBytes(t, 32)
	std, fast := newPair(t, key)
	nonce := randBytes(t, 12)
	buf := make([]byte, 200)
	sealed := std.Seal(nil, nonce, buf[:100], nil)
	cases := []struct {
		name string
		run  func(a cipher.AEAD)
	}{
		{"seal short nonce", func(a cipher.AEAD) { a.Seal(nil, nonce[:11], nil, nil) }},
		{"seal long nonce", func(a cipher.AEAD) { a.Seal(nil, make([]byte, 16), nil, nil) }},
		{"open bad nonce", func(a cipher.AEAD) { a.Open(nil, nonce[:8], sealed, nil) }},
		{"seal inexact overlap", func(a cipher.AEAD) { b := make([]byte, 300); a.Seal(b[:1], nonce, b[:100], nil) }},
		{"seal overlap ad", func(a cipher.AEAD) { b := make([]byte, 300); a.Seal(b[:0], nonce, make([]byte, 10), b[5:20]) }},
		{"open inexact overlap", func(a cipher.AEAD) {
			b := make([]byte, 300)
			copy(b[10:], sealed)
			a.Open(b[:0], nonce, b[10:10+len(sealed)], nil)
		}},
		{"open overlap tag", func(a cipher.AEAD) {
			b := make([]byte, 300)
			copy(b, sealed)
			a.Open(b[100:100], nonce, b[:len(sealed)], nil)
		}},
		{"open overlap ad", func(a cipher.AEAD) {
			b := make([]byte, 300)
			a.Open(b[:0], nonce, sealed, b[50:60])
		}},
	}
	for _, c := range cases {
		want := panicMsg(func() { c.run(std) })
		got := panicMsg(func() { c.run(fast) })
		if want == "" {
			t.Fatalf("%s: stdlib did not panic", c.name)
		}
		if got != want {
			t.Errorf("%s: panic %q, stdlib %q", c.name, got, want)
		}
		if !strings.HasPrefix(got, "crypto/cipher: ") {
			t.Errorf("%s: unexpected panic text %q", c.name, got)
		}
	}
}

// TestConcurrent checks that one AEAD can be shared across goroutines.
func TestConcurrent(t *testing.T) {
	key := randBytes(t, 32)
	std, fast := newPair(t, key)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				nonce := make([]byte, 12)
				pt := make([]byte, 4064)
				nonce[0], pt[0] = byte(g), byte(i)
				if !bytes.Equal(fast.Seal(nil, nonce, pt, nonce), std.Seal(nil, nonce, pt, nonce)) {
					done <- fmt.Errorf("goroutine %d iteration %d mismatch", g, i)
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
