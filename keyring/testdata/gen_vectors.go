//go:build ignore

// gen_vectors writes the frozen DEK header test vectors in testdata/vectors.
//
// It implements header version 1 on its own, from the format described in
// the package doc and wrap.go, rather than calling package keyring, so the
// vectors cross-check the implementation. Its randomness is a ChaCha20
// keystream under a fixed key, so the output is reproducible. Run it from
// the keyring directory:
//
//	go run ./testdata/gen_vectors.go [-out dir]
//
// or with every other generator through go run ./internal/cmd/genvectors
// from the module root. -out (default testdata/vectors) is where the
// vector files go.
//
// Vector files hold "key: value" lines, an empty line, then the header file:
//
//	expect: success | wrong kek | corrupt header | unsupported version
//	kek: <hex>          raw KEK to open with, or
//	passphrase: <text>  passphrase to open with
//	dek: <hex>          the DEK a successful open returns
//	field: <name>       the HeaderError field for failures
//	comment: <text>
//
// Vectors are never regenerated once committed for a released version:
// they prove that headers written by that version keep opening.
package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20"
)

const (
	wrapLabel = "github.com/gofastr/store/keyring v1 wrap key"
	aadLabel  = "github.com/gofastr/store/keyring v1 header"
	sumLabel  = "github.com/gofastr/store/keyring v1 checksum"
)

type kdf struct {
	Alg     string `json:"alg"`
	Salt    []byte `json:"salt"`
	Time    uint32 `json:"t"`
	Memory  uint32 `json:"m"`
	Threads uint8  `json:"p"`
}

type header struct {
	Version int    `json:"version"`
	Nonce   []byte `json:"nonce"`
	Wrapped []byte `json:"wrapped"`
	Meta    string `json:"meta,omitempty"`
	KDF     *kdf   `json:"kdf,omitempty"`
	Sum     []byte `json:"sum"`
}

var stream *chacha20.Cipher

func random(n int) []byte {
	b := make([]byte, n)
	stream.XORKeyStream(b, b)
	return b
}

func lp(b []byte, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func body(b []byte, h *header) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(h.Version))
	b = lp(b, []byte(h.Meta))
	if h.KDF == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = lp(b, []byte(h.KDF.Alg))
	b = lp(b, h.KDF.Salt)
	b = binary.BigEndian.AppendUint32(b, h.KDF.Time)
	b = binary.BigEndian.AppendUint32(b, h.KDF.Memory)
	return append(b, h.KDF.Threads)
}

func fixSum(h *header) {
	b := body(lp(nil, []byte(sumLabel)), h)
	b = lp(b, h.Nonce)
	b = lp(b, h.Wrapped)
	s := sha256.Sum256(b)
	h.Sum = s[:16]
}

func seal(h *header, kek, dek []byte) {
	key, err := hkdf.Key(sha256.New, kek, nil, wrapLabel, 32)
	check(err)
	block, err := aes.NewCipher(key)
	check(err)
	gcm, err := cipher.NewGCM(block)
	check(err)
	h.Nonce = random(12)
	h.Wrapped = gcm.Seal(nil, h.Nonce, dek, body(lp(nil, []byte(aadLabel)), h))
	fixSum(h)
}

func encode(h *header) []byte {
	b, err := json.MarshalIndent(h, "", "  ")
	check(err)
	return append(b, '\n')
}

type vector struct {
	name   string
	lines  []string
	header []byte
}

func write(v vector) {
	var buf bytes.Buffer
	for _, l := range v.lines {
		buf.WriteString(l + "\n")
	}
	buf.WriteString("\n")
	buf.Write(v.header)
	check(os.WriteFile(filepath.Join(*outDir, v.name), buf.Bytes(), 0o644))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

var outDir = flag.String("out", filepath.Join("testdata", "vectors"), "directory the vector files are written to")

func main() {
	flag.Parse()
	check(os.MkdirAll(*outDir, 0o755))
	seed := sha256.Sum256([]byte("gofastr keyring test vectors"))
	var err error
	stream, err = chacha20.NewUnauthenticatedCipher(seed[:], make([]byte, 12))
	check(err)

	kek := random(32)
	otherKEK := random(32)
	dek := random(32)
	const pass = "correct horse battery staple"
	hx := hex.EncodeToString

	raw := func(meta string) *header {
		h := &header{Version: 1, Meta: meta}
		seal(h, kek, dek)
		return h
	}
	ok := []string{"expect: success", "kek: " + hx(kek), "dek: " + hx(dek)}
	fail := func(expect, field, comment string) []string {
		l := []string{"expect: " + expect, "kek: " + hx(kek), "dek: " + hx(dek)}
		if field != "" {
			l = append(l, "field: "+field)
		}
		return append(l, "comment: "+comment)
	}

	write(vector{"v1_raw", append(ok, "comment: raw KEK"), encode(raw("kek=raw"))})
	write(vector{"v1_no_meta", append(ok, "comment: meta omitted"), encode(raw(""))})
	write(vector{"v1_meta_unicode", append(ok, "comment: meta with non-ASCII text and HTML-escaped characters"),
		encode(raw("kek=file:/home/zoë/<keys> & more"))})

	ph := &header{Version: 1, Meta: "kek=passphrase", KDF: &kdf{Alg: "argon2id", Salt: random(16), Time: 1, Memory: 64, Threads: 1}}
	pkek := argon2.IDKey([]byte(pass), ph.KDF.Salt, ph.KDF.Time, ph.KDF.Memory, ph.KDF.Threads, 32)
	seal(ph, pkek, dek)
	write(vector{"v1_passphrase", []string{"expect: success", "passphrase: " + pass, "dek: " + hx(dek),
		"comment: Argon2id with test parameters t=1 m=64KiB p=1"}, encode(ph)})
	write(vector{"v1_wrong_passphrase", []string{"expect: wrong kek", "passphrase: Correct horse battery staple", "dek: " + hx(dek),
		"comment: one letter differs"}, encode(ph)})
	write(vector{"v1_passphrase_header_raw_kek", fail("wrong kek", "", "a raw KEK cannot open a passphrase header"), encode(ph)})
	write(vector{"v1_raw_header_passphrase", []string{"expect: wrong kek", "passphrase: " + pass, "dek: " + hx(dek),
		"comment: a passphrase cannot open a raw-KEK header"}, encode(raw("kek=raw"))})

	wh := &header{Version: 1, Meta: "kek=raw"}
	seal(wh, otherKEK, dek)
	write(vector{"v1_wrong_kek", fail("wrong kek", "", "wrapped under another KEK"), encode(wh)})

	forged := raw("kek=raw")
	forged.Meta = "kek=machine"
	fixSum(forged)
	write(vector{"v1_forged_meta", fail("wrong kek", "", "meta changed and checksum recomputed: authentication fails"), encode(forged)})

	b := encode(raw("kek=raw"))
	// A changed nonce with the old checksum is damage, not a wrong key.
	flipped := raw("kek=raw")
	flipped.Nonce[0] ^= 1
	write(vector{"v1_nonce_flipped", fail("corrupt header", "sum", "one nonce bit flipped"), encode(flipped)})
	badSum := raw("kek=raw")
	badSum.Sum[15] ^= 0x80
	write(vector{"v1_bad_sum", fail("corrupt header", "sum", "one checksum bit flipped"), encode(badSum)})
	write(vector{"v1_truncated", fail("corrupt header", "", "cut in the middle"), b[:len(b)/2]})
	write(vector{"v1_empty", fail("corrupt header", "", "empty file"), nil})
	write(vector{"v1_not_json", fail("corrupt header", "", "not JSON"), []byte("kek=raw\n")})
	write(vector{"v1_unknown_field", fail("corrupt header", "extra", "a field version 1 does not have"),
		bytes.Replace(b, []byte("\n  \"sum\""), []byte("\n  \"extra\": 1,\n  \"sum\""), 1)})
	write(vector{"v1_field_case", fail("corrupt header", "Nonce", "field names are case-sensitive"),
		bytes.Replace(b, []byte(`"nonce"`), []byte(`"Nonce"`), 1)})
	write(vector{"v1_duplicate_field", fail("corrupt header", "meta", "meta appears twice"),
		bytes.Replace(b, []byte("\n  \"sum\""), []byte("\n  \"meta\": \"kek=raw\",\n  \"sum\""), 1)})

	short := raw("kek=raw")
	short.Nonce = short.Nonce[:11]
	fixSum(short)
	write(vector{"v1_short_nonce", fail("corrupt header", "nonce", "11-byte nonce"), encode(short)})

	big := &header{Version: 1, Meta: "kek=passphrase", KDF: &kdf{Alg: "argon2id", Salt: random(16), Time: 1, Memory: 1 << 21, Threads: 1}}
	seal(big, kek, dek)
	write(vector{"v1_kdf_memory_too_large", fail("corrupt header", "kdf.m", "2 GiB of Argon2 memory is refused before deriving"), encode(big)})

	v2 := raw("kek=raw")
	v2.Version = 2
	fixSum(v2)
	write(vector{"v2_unknown_version", fail("unsupported version", "version", "a future version"), encode(v2)})

	n, _ := os.ReadDir(*outDir)
	fmt.Println(len(n), "vectors in", *outDir)
}
