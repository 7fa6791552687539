package keyring_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gofastr/store/keyring"
)

// FuzzParseHeader feeds arbitrary bytes to ParseHeader, seeded with the
// header of every vector. It must never panic; every error must be a
// *HeaderError; every accepted header must re-encode to bytes that parse
// to the same header.
func FuzzParseHeader(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "vectors"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata", "vectors", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		// The header follows the first empty line.
		for i := 0; i+1 < len(data); i++ {
			if data[i] == '\n' && data[i+1] == '\n' {
				f.Add(data[i+2:])
				break
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := keyring.ParseHeader(data)
		if err != nil {
			if _, ok := errors.AsType[*keyring.HeaderError](err); !ok {
				t.Fatalf("error %v (%T) is not a *HeaderError", err, err)
			}
			if !errors.Is(err, keyring.ErrCorruptHeader) && !errors.Is(err, keyring.ErrUnsupportedVersion) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		b, err := keyring.MarshalHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := keyring.ParseHeader(b)
		if err != nil {
			t.Fatalf("re-encoded header does not parse: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("re-encoded header differs: %+v vs %+v", h, h2)
		}
	})
}
