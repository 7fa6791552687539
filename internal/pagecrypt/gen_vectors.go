//go:build ignore

// gen_vectors writes the pagecrypt test vectors to testdata/vectors.
//
// Run it from this directory with
//
//	go run gen_vectors.go [-out dir]
//
// (or go generate), or with every other generator through
// go run ./internal/cmd/genvectors from the module root. -out (default
// testdata/vectors) is where the vector files go. Its randomness is a fixed ChaCha20 keystream
// (testkit.Rand), so the output is byte-for-byte reproducible, and it seals
// with testkit's reference construction, written from pagecrypt's package
// doc: the vectors check the code against the documentation.
//
// Invariant the fuzzer relies on (FuzzOpen): every auth-failure vector is
// either a mutation of an ok vector's (key, image, skip, ad) or sealed with
// a construction that pagecrypt must reject. So the only inputs that may
// open are the ok vectors' own.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/gofastr/store/internal/pagecrypt/internal/testkit"
)

var dir = flag.String("out", "testdata/vectors", "directory the vector files are written to")

// Associated data as package sqlitevfs builds it: kind[1] ‖ zero[3] ‖
// pgno[4] ‖ salts[8]. pagecrypt treats ad as opaque bytes; these shapes
// just keep the vectors realistic.
const (
	kindDB      = 1
	kindWAL     = 2
	kindJournal = 3
)

func ad(kind byte, pgno uint32, salts []byte) []byte {
	b := make([]byte, 16)
	b[0] = kind
	binary.BigEndian.PutUint32(b[4:8], pgno)
	copy(b[8:], salts)
	return b
}

var (
	rnd     = testkit.NewRand("gofastr pagecrypt vectors v1")
	written = map[string]bool{}
)

// page returns n random bytes: the last Overhead bytes (the reserved area)
// are random too, since Seal must ignore them.
func page(n int) []byte { return rnd.Bytes(n) }

func params(key []byte, a []byte, skip int) testkit.Params {
	return testkit.Params{Key: key, Epoch: rnd.Uint32(), Nonce: rnd.Bytes(testkit.NonceSize), AD: a, Skip: skip}
}

// ok seals pg under p and writes an ok vector; it returns the vector for
// negative vectors to mutate.
func ok(name, comment string, p testkit.Params, pg []byte) testkit.Vector {
	v := testkit.Vector{
		Expect:    "ok",
		Comment:   comment,
		Params:    p,
		Plaintext: testkit.Opened(pg),
		Sealed:    testkit.Seal(p, pg),
	}
	write(name, v)
	return v
}

// bad writes v, a copy of an ok vector changed by mutate, as an
// auth-failure vector.
func bad(name, comment string, base testkit.Vector, mutate func(v *testkit.Vector)) {
	v := base
	v.Expect, v.Comment, v.Plaintext = "auth-failure", comment, nil
	v.AD = bytes.Clone(base.AD)
	v.Sealed = bytes.Clone(base.Sealed)
	mutate(&v)
	write(name, v)
}

func write(name string, v testkit.Vector) {
	if written[name] {
		log.Fatalf("duplicate vector %s", name)
	}
	written[name] = true
	if err := os.WriteFile(filepath.Join(*dir, name+".txt"), v.Marshal(), 0o644); err != nil {
		log.Fatal(err)
	}
}

func main() {
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(*dir, "*.txt"))
	for _, f := range old {
		os.Remove(f)
	}

	keyA := rnd.Bytes(32)
	keyB := rnd.Bytes(32)
	keyWrong := rnd.Bytes(32) // never seals anything

	// Ok vectors.
	ok("ok_min", "smallest image: 1 body byte and the trailer", params(keyA, nil, 0), page(33))
	ok("ok_no_ad", "no associated data", params(keyA, nil, 0), page(64))
	dbPage := ok("ok_db_page_1024", "database page 5 of a 1024-byte-page database",
		params(keyA, ad(kindDB, 5, nil), 0), page(1024))

	p1 := page(4096)
	copy(p1, "gfstore\x01")
	copy(p1[8:16], testkit.KeyCheck(keyA))
	copy(p1[16:24], []byte{0x10, 0x00, 0x02, 0x02, 0x20, 0x40, 0x20, 0x20})
	page1 := ok("ok_page1_4096", "page 1: 24-byte plaintext prefix (magic, key check, header bytes 16..23)",
		params(keyA, ad(kindDB, 1, nil), 24), p1)

	wal := ok("ok_wal_frame_4096", "WAL frame image: ad carries page 7 and the frame salts",
		params(keyB, ad(kindWAL, 7, rnd.Bytes(8)), 0), page(4096))
	journal := ok("ok_journal_512", "rollback journal record image of page 3",
		params(keyB, ad(kindJournal, 3, nil), 0), page(512))

	pz := params(keyA, ad(kindDB, 9, nil), 0)
	pz.Epoch, pz.Nonce = 0, make([]byte, testkit.NonceSize)
	ok("ok_epoch_zero", "epoch 0 and an all-zero nonce are ordinary values", pz, page(128))
	pm := params(keyA, ad(kindDB, 9, nil), 0)
	pm.Epoch, pm.Nonce = 0xffffffff, bytes.Repeat([]byte{0xff}, testkit.NonceSize)
	ok("ok_epoch_max", "epoch 0xffffffff and an all-ones nonce", pm, page(128))

	ok("ok_prefix_only", "skip = n-33: the whole image but one byte is plaintext prefix",
		params(keyB, ad(kindDB, 2, nil), 67), page(100))
	ok("ok_long_ad", "300 bytes of associated data and an 8-byte prefix",
		params(keyB, rnd.Bytes(300), 8), page(256))

	pzp := page(256)
	clear(pzp[:24])
	zeroPrefix := ok("ok_zero_prefix", "24-byte all-zero prefix (see auth_skip_shift)",
		params(keyA, ad(kindDB, 1, nil), 24), pzp)

	ok("ok_page_8192", "8 KiB page", params(keyB, ad(kindDB, 1000, nil), 0), page(8192))

	// Auth-failure vectors: mutations of the ok vectors above.
	flip := func(off int, bit byte) func(v *testkit.Vector) {
		return func(v *testkit.Vector) {
			i := off
			if i < 0 {
				i += len(v.Sealed)
			}
			v.Sealed[i] ^= bit
		}
	}
	n := len(dbPage.Sealed)
	bad("auth_flip_body", "first ciphertext bit flipped", dbPage, flip(0, 0x01))
	bad("auth_flip_body_last", "last ciphertext bit flipped", dbPage, flip(n-testkit.Overhead-1, 0x80))
	bad("auth_flip_epoch", "top bit of the epoch flipped", dbPage, flip(n-testkit.Overhead, 0x80))
	bad("auth_flip_nonce", "a nonce bit flipped", dbPage, flip(n-testkit.Overhead+testkit.EpochSize+5, 0x10))
	bad("auth_flip_tag", "last tag bit flipped", dbPage, flip(-1, 0x01))
	bad("auth_flip_prefix_pagesize", "page size in the plaintext prefix changed", page1, flip(17, 0x20))
	bad("auth_flip_prefix_keycheck", "key check in the plaintext prefix changed", page1, flip(8, 0x01))
	bad("auth_moved", "page 5's image presented as page 6", dbPage, func(v *testkit.Vector) {
		v.AD = ad(kindDB, 6, nil)
	})
	bad("auth_wrong_ad_salts", "WAL frame image under another WAL generation's salts", wal, func(v *testkit.Vector) {
		v.AD[15] ^= 0x01
	})
	bad("auth_wrong_kind", "journal image presented as a database page", journal, func(v *testkit.Vector) {
		v.AD[0] = kindDB
	})
	bad("auth_ad_missing", "associated data dropped", dbPage, func(v *testkit.Vector) { v.AD = nil })
	bad("auth_ad_extended", "a byte appended to the associated data", dbPage, func(v *testkit.Vector) {
		v.AD = append(v.AD, 0)
	})
	bad("auth_skip_shift", "skip 23 with ad ‖ 00: same GCM associated data, one byte more ciphertext",
		zeroPrefix, func(v *testkit.Vector) {
			v.Skip = 23
			v.AD = append(v.AD, 0)
		})
	bad("auth_skip_zero", "page 1 image opened without its prefix", page1, func(v *testkit.Vector) { v.Skip = 0 })
	bad("auth_wrong_key", "sealed under another key", dbPage, func(v *testkit.Vector) { v.Key = keyWrong })
	bad("auth_truncated_end", "last byte dropped", dbPage, func(v *testkit.Vector) {
		v.Sealed = v.Sealed[:len(v.Sealed)-1]
	})
	bad("auth_truncated_front", "first byte dropped", dbPage, func(v *testkit.Vector) { v.Sealed = v.Sealed[1:] })
	bad("auth_extended", "a zero byte appended", dbPage, func(v *testkit.Vector) {
		v.Sealed = append(v.Sealed, 0)
	})
	bad("auth_trailer_gcm_order", "trailer as ct ‖ tag ‖ epoch ‖ nonce instead of epoch ‖ nonce ‖ tag", dbPage,
		func(v *testkit.Vector) {
			t := v.Sealed[n-testkit.Overhead:]
			var re []byte
			re = append(re, t[testkit.EpochSize+testkit.NonceSize:]...)
			re = append(re, t[:testkit.EpochSize+testkit.NonceSize]...)
			copy(t, re)
		})
	bad("auth_zero_page", "an all-zero image (a hole in the file)", dbPage, func(v *testkit.Vector) {
		clear(v.Sealed)
	})

	// Auth-failure vectors sealed with a wrong construction.
	p := params(keyA, ad(kindDB, 4, nil), 0)
	pg := page(128)
	v := testkit.Vector{Expect: "auth-failure", Params: p}
	v.Comment = "subkey derived with another label"
	v.Sealed = testkit.SealWith(p, pg, testkit.Subkey(p.Key, p.Epoch, "gofastr.store/sqlitevfs/v2 page subkey"), true)
	write("auth_other_label", v)

	v.Comment = "AES-GCM under the DEK itself, no epoch subkey"
	v.Sealed = testkit.SealWith(p, pg, p.Key, true)
	write("auth_no_subkey", v)

	p1p := page1.Params
	p1p.Nonce = rnd.Bytes(testkit.NonceSize)
	v = testkit.Vector{Expect: "auth-failure", Params: p1p,
		Comment: "page 1 sealed without binding its prefix into the associated data"}
	v.Sealed = testkit.SealWith(p1p, p1, testkit.Subkey(p1p.Key, p1p.Epoch, testkit.SubkeyLabel), false)
	write("auth_prefix_unbound", v)
}
