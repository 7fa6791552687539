package pagecrypt_test

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/gofastr/store/internal/pagecrypt"
)

//go:generate go run gen_vectors.go

//go:embed testdata/vectors/*.txt
var vectorsFS embed.FS

// vector is one parsed testdata/vectors file: `key: value` header lines,
// a blank line, then the sealed image in hex.
type vector struct {
	name      string
	expect    string // "ok" or "auth-failure"
	comment   string
	key       []byte
	keyCheck  []byte
	epoch     uint32
	nonce     []byte
	ad        []byte
	skip      int
	plaintext []byte // "ok" only: what Open must yield
	sealed    []byte
}

func parseVector(name string, data []byte) (*vector, error) {
	v := &vector{name: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	var body strings.Builder
	inBody := false
	for sc.Scan() {
		line := sc.Text()
		if inBody {
			body.WriteString(line)
			continue
		}
		if line == "" {
			inBody = true
			continue
		}
		k, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, errors.New("malformed header line " + strconv.Quote(line))
		}
		val = strings.TrimSpace(val)
		var err error
		switch k {
		case "expect":
			v.expect = val
		case "comment":
			v.comment = val
		case "key":
			v.key, err = hex.DecodeString(val)
		case "key check":
			v.keyCheck, err = hex.DecodeString(val)
		case "epoch":
			var e uint64
			e, err = strconv.ParseUint(val, 16, 32)
			v.epoch = uint32(e)
		case "nonce":
			v.nonce, err = hex.DecodeString(val)
		case "ad":
			v.ad, err = hex.DecodeString(val)
		case "skip":
			v.skip, err = strconv.Atoi(val)
		case "plaintext":
			v.plaintext, err = hex.DecodeString(val)
		default:
			return nil, errors.New("unknown header " + strconv.Quote(k))
		}
		if err != nil {
			return nil, errors.New("header " + k + ": " + err.Error())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var err error
	if v.sealed, err = hex.DecodeString(body.String()); err != nil {
		return nil, errors.New("sealed image: " + err.Error())
	}
	switch {
	case v.expect != "ok" && v.expect != "auth-failure":
		return nil, errors.New("bad expect " + strconv.Quote(v.expect))
	case len(v.key) != pagecrypt.KeySize:
		return nil, errors.New("bad key length")
	case v.expect == "ok" && len(v.plaintext) != len(v.sealed):
		return nil, errors.New("plaintext and sealed image lengths differ")
	}
	return v, nil
}

func loadVectors(tb testing.TB) []*vector {
	tb.Helper()
	var vs []*vector
	err := fs.WalkDir(vectorsFS, "testdata/vectors", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := vectorsFS.ReadFile(p)
		if err != nil {
			return err
		}
		v, err := parseVector(strings.TrimSuffix(path.Base(p), ".txt"), data)
		if err != nil {
			return errors.New(p + ": " + err.Error())
		}
		vs = append(vs, v)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no vectors in testdata/vectors")
	}
	return vs
}

// forEachVector runs f as a subtest for every vector.
func forEachVector(t *testing.T, f func(t *testing.T, v *vector)) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) { f(t, v) })
	}
}

// TestVectors checks the frozen vectors under every AES-GCM implementation
// the build has: crypto/cipher ("std") and, with -tags gofastr_vgcm, the
// AVX-512 code ("vgcm"; skipped with the reason on CPUs without it, a
// failure there when VGCM_REQUIRE=1).
func TestVectors(t *testing.T) {
	for _, impl := range pagecrypt.Impls() {
		t.Run(impl, func(t *testing.T) {
			defer pagecrypt.UseImpl(impl)()
			c, err := pagecrypt.New(make([]byte, pagecrypt.KeySize))
			if err != nil {
				t.Fatal(err)
			}
			if got := pagecrypt.Impl(c); got != impl {
				why := fmt.Sprintf("pagecrypt selects %q, not %q: the CPU lacks AVX-512 VAES/VPCLMULQDQ or GODEBUG turned it off", got, impl)
				if os.Getenv("VGCM_REQUIRE") == "1" {
					t.Fatal("VGCM_REQUIRE=1: " + why)
				}
				t.Skip(why)
			}
			testVectors(t, impl)
		})
	}
}

func testVectors(t *testing.T, impl string) {
	okCount, failCount := 0, 0
	forEachVector(t, func(t *testing.T, v *vector) {
		c, err := pagecrypt.New(v.key)
		if err != nil {
			t.Fatal(err)
		}
		if got := pagecrypt.Impl(c); got != impl {
			t.Fatalf("cipher uses %s, want %s", got, impl)
		}
		if got := c.KeyCheck(); !bytes.Equal(got[:], v.keyCheck) {
			t.Errorf("KeyCheck()=%x, want %x", got, v.keyCheck)
		}
		sealed := bytes.Clone(v.sealed)
		ad := bytes.Clone(v.ad)
		dst := make([]byte, len(v.sealed))
		err = c.Open(dst, sealed, v.skip, ad)
		if !bytes.Equal(sealed, v.sealed) || !bytes.Equal(ad, v.ad) {
			t.Error("Open modified its input")
		}
		switch v.expect {
		case "ok":
			okCount++
			if err != nil {
				t.Fatalf("Open: %v, want success", err)
			}
			if !bytes.Equal(dst, v.plaintext) {
				t.Errorf("Open=%x\nwant %x", dst, v.plaintext)
			}
			// The header fields describe the trailer.
			tr := v.sealed[len(v.sealed)-pagecrypt.Overhead:]
			if got := binary.BigEndian.Uint32(tr); got != v.epoch {
				t.Errorf("trailer epoch=%08x, header says %08x", got, v.epoch)
			}
			if got := tr[pagecrypt.EpochSize : pagecrypt.EpochSize+pagecrypt.NonceSize]; !bytes.Equal(got, v.nonce) {
				t.Errorf("trailer nonce=%x, header says %x", got, v.nonce)
			}
			// Open of a fresh Seal of the vector's plaintext under the
			// same key, ad and skip gives the plaintext back.
			resealed := make([]byte, len(v.plaintext))
			c.Seal(resealed, v.plaintext, v.skip, v.ad)
			if err := c.Open(dst, resealed, v.skip, v.ad); err != nil || !bytes.Equal(dst, v.plaintext) {
				t.Errorf("reseal round trip: err=%v", err)
			}
		case "auth-failure":
			failCount++
			if !errors.Is(err, pagecrypt.ErrAuth) {
				t.Fatalf("Open: %v, want ErrAuth", err)
			}
		}
	})
	if okCount == 0 || failCount == 0 {
		t.Errorf("vectors: %d ok, %d auth-failure; want some of each", okCount, failCount)
	}
}

// FuzzOpen feeds Open arbitrary images, associated data and skips under
// the vectors' keys. Open must never panic on valid lengths (and must on
// invalid ones, as documented), and an image that opens must be an ok
// vector's own or one sealed by this very call: anything else is a forgery.
// The one exception is the documented split of ad ‖ prefix (see the package
// doc): an ok vector's message with prefix bytes moved into ad, possible
// only with ad of another length than the vector's, opens to the vector's
// body; with the 16 bytes sqlitevfs gives, only the vector itself opens.
// Each call also seals the input and checks that a one-bit change of the
// result does not open.
func FuzzOpen(f *testing.F) {
	vs := loadVectors(f)
	var keys [][]byte
	var ciphers []*pagecrypt.Cipher
	keyIndex := map[string]int{}
	for _, v := range vs {
		if _, ok := keyIndex[string(v.key)]; ok {
			continue
		}
		c, err := pagecrypt.New(v.key)
		if err != nil {
			f.Fatal(err)
		}
		keyIndex[string(v.key)] = len(keys)
		keys = append(keys, v.key)
		ciphers = append(ciphers, c)
	}
	id := func(key []byte, skip int, ad, image []byte) string {
		return strconv.Itoa(skip) + "|" + hex.EncodeToString(key) + "|" + hex.EncodeToString(ad) + "|" + hex.EncodeToString(image)
	}
	known := map[string][]byte{}
	// resplit: the ok vectors by what GCM authenticates (key, ad ‖
	// prefix, the rest of the image), to the plaintext of that rest.
	resplit := map[string][]byte{}
	gcmID := func(key []byte, skip int, ad, image []byte) string {
		return hex.EncodeToString(key) + "|" + hex.EncodeToString(append(bytes.Clone(ad), image[:skip]...)) + "|" + hex.EncodeToString(image[skip:])
	}
	for _, v := range vs {
		if v.expect == "ok" {
			known[id(v.key, v.skip, v.ad, v.sealed)] = v.plaintext
			resplit[gcmID(v.key, v.skip, v.ad, v.sealed)] = v.plaintext[v.skip:]
		}
		f.Add(uint8(keyIndex[string(v.key)]), uint16(v.skip), v.ad, v.sealed)
	}

	f.Fuzz(func(t *testing.T, keyIdx uint8, skip16 uint16, ad, image []byte) {
		i := int(keyIdx) % len(keys)
		key, c := keys[i], ciphers[i]
		skip := int(skip16)
		n := len(image)
		dst := make([]byte, n)
		if n < skip+pagecrypt.Overhead+1 {
			if !panics(func() { c.Open(dst, image, skip, ad) }) {
				t.Fatalf("Open of %d bytes with skip %d did not panic", n, skip)
			}
			return
		}
		img := bytes.Clone(image)
		err := c.Open(dst, img, skip, ad)
		switch {
		case err == nil:
			want, ok := known[id(key, skip, ad, image)]
			if !ok {
				body, resplitOK := resplit[gcmID(key, skip, ad, image)]
				if !resplitOK || len(ad) == sqlitevfsADSize {
					t.Fatalf("forgery: an image that is no vector's opened (key %d, skip %d, ad of %d bytes)", i, skip, len(ad))
				}
				if !bytes.Equal(dst[skip:], body) || !bytes.Equal(dst[:skip], image[:skip]) {
					t.Fatalf("re-split vector image opened to %x, want prefix %x and body %x", dst, image[:skip], body)
				}
				break
			}
			if !bytes.Equal(dst, want) {
				t.Fatalf("vector image opened to %x, want %x", dst, want)
			}
		case !errors.Is(err, pagecrypt.ErrAuth):
			t.Fatalf("Open: %v, want nil or ErrAuth", err)
		}
		if !bytes.Equal(img, image) {
			t.Fatal("Open modified src")
		}

		// Seal the input as a plaintext page and open it back.
		sealed := make([]byte, n)
		c.Seal(sealed, image, skip, ad)
		if !bytes.Equal(img, image) {
			t.Fatal("Seal modified src")
		}
		if !bytes.Equal(sealed[:skip], image[:skip]) {
			t.Fatal("Seal did not copy the prefix")
		}
		if err := c.Open(dst, sealed, skip, ad); err != nil {
			t.Fatalf("Open(Seal(x)): %v", err)
		}
		want := bytes.Clone(image)
		clear(want[n-pagecrypt.Overhead:])
		if !bytes.Equal(dst, want) {
			t.Fatal("Open(Seal(x)) != x with a zeroed trailer")
		}
		bit := (int(skip16)*31 + len(ad)*7 + int(keyIdx)) % (8 * n)
		sealed[bit/8] ^= 1 << (bit % 8)
		if err := c.Open(dst, sealed, skip, ad); !errors.Is(err, pagecrypt.ErrAuth) {
			t.Fatalf("Open after flipping bit %d of a sealed image: %v, want ErrAuth", bit, err)
		}
	})
}
