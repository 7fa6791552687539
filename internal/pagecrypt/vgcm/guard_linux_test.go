//go:build linux

package vgcm

import (
	"bytes"
	"crypto/cipher"
	mrand "math/rand/v2"
	"runtime/debug"
	"testing"

	"golang.org/x/sys/unix"
)

// guarded is an mmap'd region whose first and last pages are PROT_NONE:
// a kernel that reads or writes one byte outside the slice it was given
// (before or after) faults instead of touching neighbouring heap memory.
type guarded struct {
	mem      []byte
	lo, hi   int // usable bytes are mem[lo:hi]
	pageSize int
}

func newGuarded(t *testing.T, size int) *guarded {
	t.Helper()
	ps := unix.Getpagesize()
	n := (size + ps - 1) / ps * ps
	mem, err := unix.Mmap(-1, 0, n+2*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	if err := unix.Mprotect(mem[:ps], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mprotect(mem[ps+n:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	g := &guarded{mem: mem, lo: ps, hi: ps + n, pageSize: ps}
	// The guards must fault, or the test proves nothing.
	for _, off := range []int{g.lo - 1, g.hi} {
		if !faults(func() { guardSink = g.mem[off] }) {
			t.Fatalf("reading byte %d of the mapping did not fault", off)
		}
	}
	return g
}

// guardSink keeps the probing loads in faults from being optimized away.
var guardSink byte

// faults reports whether f faults on a memory access.
func faults(f func()) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { faulted = recover() != nil }()
	f()
	return false
}

// at returns an n-byte slice that ends exactly at the upper guard page
// (atEnd) or starts exactly after the lower one, with capacity n.
func (g *guarded) at(n int, atEnd bool) []byte {
	if atEnd {
		return g.mem[g.hi-n : g.hi : g.hi]
	}
	return g.mem[g.lo : g.lo+n : g.lo+n]
}

// guardLens returns the plaintext lengths to test: 0..1100 and
// 4064..65535, all of them, or a sample in -short mode (every length up to
// 300, then about one in 7 below 1100 and one in 61 above 4064, plus the
// page, block and chunk boundaries).
func guardLens(short bool) []int {
	var ls []int
	for n := 0; n <= 1100; n++ {
		if !short || n <= 300 || n%7 == 0 || n%64 <= 1 || n%64 == 63 {
			ls = append(ls, n)
		}
	}
	for n := 4064; n <= 65535; n++ {
		if !short || n%61 == 0 || n%4096 <= 1 || n%4096 >= 4063 || n%1024 == 0 || n >= 65519 || n <= 4100 {
			ls = append(ls, n)
		}
	}
	return ls
}

// TestGuardPages runs Seal and Open with every buffer (plaintext,
// ciphertext, output, additional data) placed against a PROT_NONE page,
// once ending exactly at one and once starting right after one, in place
// and not, and compares the results with crypto/cipher. Lengths: 0..1100
// and 4064..65535 (sampled in -short), additional data 0..700.
func TestGuardPages(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	std, fast := newPair(t, key)
	const maxLen, maxAD = 65535, 700
	src := newGuarded(t, maxLen+TagSize) // plaintext or ciphertext
	dst := newGuarded(t, maxLen+TagSize) // output, not in place
	adg := newGuarded(t, maxAD)

	rng := mrand.New(mrand.NewPCG(11, 12))
	data := make([]byte, maxLen+TagSize)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	adData := data[:maxAD]
	nonce := make([]byte, NonceSize)

	// Every plaintext length with a cycling AD length, then every AD length
	// with a few plaintext lengths.
	type tc struct{ n, ad int }
	var cases []tc
	for i, n := range guardLens(testing.Short()) {
		cases = append(cases, tc{n, (i * 37) % (maxAD + 1)})
	}
	for ad := 0; ad <= maxAD; ad++ {
		for _, n := range []int{0, 1, 255, 4064} {
			cases = append(cases, tc{n, ad})
		}
	}
	for i, c := range cases {
		nonce[0], nonce[1], nonce[2] = byte(i), byte(i>>8), byte(i>>16)
		pt := data[:c.n]
		want := std.Seal(nil, nonce, pt, adData[:c.ad])
		for _, atEnd := range []bool{true, false} {
			ad := adg.at(c.ad, atEnd)
			copy(ad, adData)
			guardCase(t, fast, nonce, pt, ad, want, src, dst, atEnd)
		}
	}
	t.Logf("%d cases (plaintext, AD length pairs), each at both guards", len(cases))
}

// guardCase checks one (plaintext, AD) pair with the buffers at one guard.
func guardCase(t *testing.T, fast cipher.AEAD, nonce, pt, ad, want []byte, src, dst *guarded, atEnd bool) {
	n := len(pt)
	where := "after the lower guard"
	if atEnd {
		where = "at the upper guard"
	}

	// Seal, not in place.
	in := src.at(n, atEnd)
	copy(in, pt)
	out := dst.at(n+TagSize, atEnd)
	if got := fast.Seal(out[:0], nonce, in, ad); !bytes.Equal(got, want) {
		t.Fatalf("Seal n=%d ad=%d %s: mismatch", n, len(ad), where)
	}
	// Seal in place: the plaintext at the start of an n+16 buffer.
	buf := src.at(n+TagSize, atEnd)
	copy(buf, pt)
	if got := fast.Seal(buf[:0], nonce, buf[:n], ad); !bytes.Equal(got, want) {
		t.Fatalf("Seal in place n=%d ad=%d %s: mismatch", n, len(ad), where)
	}
	// Open, not in place.
	ct := src.at(n+TagSize, atEnd)
	copy(ct, want)
	out = dst.at(n, atEnd)
	if got, err := fast.Open(out[:0], nonce, ct, ad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open n=%d ad=%d %s: err=%v", n, len(ad), where, err)
	}
	// Open in place.
	if got, err := fast.Open(ct[:0], nonce, ct, ad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open in place n=%d ad=%d %s: err=%v", n, len(ad), where, err)
	}
	// A failing Open clears exactly the output region.
	copy(ct, want)
	ct[n] ^= 1
	out = dst.at(n, atEnd)
	for i := range out {
		out[i] = 0xff
	}
	if _, err := fast.Open(out[:0], nonce, ct, ad); err == nil {
		t.Fatalf("Open of a bad tag n=%d ad=%d %s succeeded", n, len(ad), where)
	}
	if !bytes.Equal(out, make([]byte, n)) {
		t.Fatalf("failed Open n=%d %s did not clear the output", n, where)
	}
}
