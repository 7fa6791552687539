//go:build ignore

// gen_mask writes the frozen vectors of Cipher.Mask to
// testdata/mask/vectors.txt. It computes the mask with the documented
// construction, written here with the standard library rather than
// through package pagecrypt, from fixed inputs: the output is
// byte-for-byte reproducible. Run it from this directory with
//
//	go run gen_mask.go [-out dir]
//
// or with every other generator through go run ./internal/cmd/genvectors
// from the module root. -out (default testdata/mask) is where vectors.txt
// goes.
package main

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"log"
	"os"
	"path/filepath"
)

// maskLabel is the HKDF info of the mask key.
const maskLabel = "gofastr.store/sqlitevfs/v1 value mask"

const header = `# Frozen vectors of Cipher.Mask: key info value masked (hex; "-" is empty).
# masked = value XOR HMAC-SHA256(HKDF-SHA256(key, info = "gofastr.store/sqlitevfs/v1 value mask"), info)[:len(value)]
# The first two are a journal record checksum as sqlitevfs masks it:
# info = associated data (kind 3 = journal, page 7) ‖ epoch ‖ nonce of the record's sealed image.
`

// masked returns value XOR HMAC-SHA256(HKDF-SHA256(key, maskLabel), info).
func masked(key, info, value []byte) []byte {
	km, err := hkdf.Key(sha256.New, key, nil, maskLabel, 32)
	if err != nil {
		log.Fatal(err)
	}
	m := hmac.New(sha256.New, km)
	m.Write(info)
	mask := m.Sum(nil)
	out := make([]byte, len(value))
	for i := range value {
		out[i] = value[i] ^ mask[i]
	}
	return out
}

func field(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

func main() {
	out := flag.String("out", filepath.Join("testdata", "mask"), "directory vectors.txt is written to")
	flag.Parse()

	counting := make([]byte, 32)
	for i := range counting {
		counting[i] = byte(i)
	}
	// Associated data of journal page 7, epoch 0, and a record nonce.
	journalInfo := mustHex("03000000000000070000000000000000deadbeef0102030405060708090a0b0c")
	vectors := []struct{ key, info, value []byte }{
		{counting, journalInfo, mustHex("12345678")},
		{counting, journalInfo, mustHex("00000000")},
		{make([]byte, 32), nil, make([]byte, 32)}, // the whole HMAC output
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	for _, v := range vectors {
		buf.WriteString(field(v.key) + " " + field(v.info) + " " + field(v.value) + " " + field(masked(v.key, v.info, v.value)) + "\n")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "vectors.txt"), buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
