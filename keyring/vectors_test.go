package keyring_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofastr/store/keyring"
)

//go:generate go run ./testdata/gen_vectors.go

// vector is one file of testdata/vectors (format: testdata/gen_vectors.go).
type vector struct {
	expect     string
	kek        []byte
	passphrase []byte
	dek        []byte
	field      string
	header     []byte
}

func (v *vector) source() keyring.KEKSource {
	if v.passphrase != nil {
		return keyring.NewPassphraseKEK(v.passphrase)
	}
	return keyring.RawKEK(v.kek)
}

func forEachVector(t *testing.T, f func(t *testing.T, v *vector)) {
	dir := filepath.Join("testdata", "vectors")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no vectors")
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			f(t, parseVector(t, data))
		})
	}
}

func parseVector(t *testing.T, data []byte) *vector {
	t.Helper()
	v := &vector{}
	for {
		line, rest, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			t.Fatal("invalid vector: no empty line before the header")
		}
		data = rest
		if len(line) == 0 {
			break
		}
		key, value, _ := strings.Cut(string(line), ": ")
		var err error
		switch key {
		case "expect":
			switch value {
			case "success", "wrong kek", "corrupt header", "unsupported version":
			default:
				t.Fatalf("invalid vector: unknown expect %q", value)
			}
			v.expect = value
		case "kek":
			v.kek, err = hex.DecodeString(value)
		case "passphrase":
			v.passphrase = []byte(value)
		case "dek":
			v.dek, err = hex.DecodeString(value)
		case "field":
			v.field = value
		case "comment":
			t.Log(value)
		default:
			t.Fatalf("invalid vector: unknown key %q", key)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	v.header = data
	return v
}

// TestVectors opens every frozen header with LoadOrCreateDEKWith and checks
// the outcome, and that the header file is left byte-identical.
func TestVectors(t *testing.T) {
	forEachVector(t, func(t *testing.T, v *vector) {
		db := newDB(t)
		if err := os.WriteFile(keyring.HeaderPath(db), v.header, 0o600); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, filepath.Dir(db))
		dek, _, err := keyring.LoadOrCreateDEKWith(db, v.source(), nil)
		assertUnchanged(t, filepath.Dir(db), before)
		switch v.expect {
		case "success":
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dek, v.dek) {
				t.Fatalf("DEK=%x, want %x", dek, v.dek)
			}
		case "wrong kek":
			wantErr(t, err, keyring.ErrWrongKEK)
		case "corrupt header", "unsupported version":
			want := keyring.ErrCorruptHeader
			if v.expect == "unsupported version" {
				want = keyring.ErrUnsupportedVersion
			}
			he, ok := errors.AsType[*keyring.HeaderError](err)
			if !ok || !errors.Is(err, want) {
				t.Fatalf("err=%v, want a *HeaderError wrapping %v", err, want)
			}
			if got := he.Field; got != v.field {
				t.Errorf("Field=%q, want %q", got, v.field)
			}
			if got, want := he.Path, keyring.HeaderPath(db); got != want {
				t.Errorf("Path=%q, want %q", got, want)
			}
		}
	})
}

// TestVectorsParse checks ParseHeader alone: it accepts every header that
// is well-formed (even if the key is wrong) and re-encodes it losslessly.
func TestVectorsParse(t *testing.T) {
	forEachVector(t, func(t *testing.T, v *vector) {
		h, err := keyring.ParseHeader(v.header)
		if v.expect == "corrupt header" || v.expect == "unsupported version" {
			if err == nil {
				t.Fatal("ParseHeader accepted it")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := keyring.MarshalHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, v.header) {
			t.Errorf("re-encoded header differs:\n%s\nwant\n%s", b, v.header)
		}
	})
}
