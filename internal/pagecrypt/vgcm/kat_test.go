package vgcm

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// Known-answer tests: AES-256 cases (13-16) of McGrew & Viega, "The
// Galois/Counter Mode of Operation (GCM)", Appendix B. Cases 17 and 18 use
// 8- and 60-byte IVs and are out of scope (12-byte nonces only).
var katVectors = []struct {
	name                string
	key, iv, pt, ad, ct string
	tag                 string
}{
	{
		name: "case 13",
		key:  "0000000000000000000000000000000000000000000000000000000000000000",
		iv:   "000000000000000000000000",
		tag:  "530f8afbc74536b9a963b4f1c4cb738b",
	},
	{
		name: "case 14",
		key:  "0000000000000000000000000000000000000000000000000000000000000000",
		iv:   "000000000000000000000000",
		pt:   "00000000000000000000000000000000",
		ct:   "cea7403d4d606b6e074ec5d3baf39d18",
		tag:  "d0d1c8a799996bf0265b98b5d48ab919",
	},
	{
		name: "case 15",
		key:  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		iv:   "cafebabefacedbaddecaf888",
		pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
			"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
		tag: "b094dac5d93471bdec1a502270e3cc6c",
	},
	{
		name: "case 16",
		key:  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		iv:   "cafebabefacedbaddecaf888",
		pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		ad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
			"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		tag: "76fc6ece0f4e1768cddf8853bb2d551b",
	},
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKnownAnswers(t *testing.T) {
	for _, v := range katVectors {
		t.Run(v.name, func(t *testing.T) {
			key, iv, pt, ad := unhex(t, v.key), unhex(t, v.iv), unhex(t, v.pt), unhex(t, v.ad)
			want := append(unhex(t, v.ct), unhex(t, v.tag)...)
			std, fast := newPair(t, key)
			if got := std.Seal(nil, iv, pt, ad); !bytes.Equal(got, want) {
				t.Fatalf("stdlib disagrees with the vector: %x", got)
			}
			if got := fast.Seal(nil, iv, pt, ad); !bytes.Equal(got, want) {
				t.Fatalf("Seal\n got %x\nwant %x", got, want)
			}
			got, err := fast.Open(nil, iv, want, ad)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("Open: err=%v got %x", err, got)
			}
		})
	}
}
