package keyring_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/keyring"
)

// FuzzLoadDEK writes arbitrary bytes (seeded with the headers of the
// vectors, the raw-KEK one as the store's genuine header) as a store's DEK header and loads the DEK with
// the store's KEK. Invariants: the load either fails with a typed error
// (*HeaderError wrapping ErrCorruptHeader or ErrUnsupportedVersion,
// ErrWrongKEK, ErrWeakKDF) or returns the genuine DEK: no header the
// fuzzer can make unwraps to another key; and no error carries the KEK
// or the DEK, in raw, hex or base64 form.
func FuzzLoadDEK(f *testing.F) {
	// The genuine store: the raw-KEK vector's KEK, DEK and header (fixed,
	// so that every fuzz process agrees on them).
	vec, err := os.ReadFile(filepath.Join("testdata", "vectors", "v1_raw"))
	if err != nil {
		f.Fatal(err)
	}
	fields, genuine, ok := bytes.Cut(vec, []byte("\n\n"))
	if !ok {
		f.Fatal("v1_raw has no header")
	}
	var kek, dek []byte
	for _, l := range bytes.Split(fields, []byte("\n")) {
		k, v, _ := bytes.Cut(l, []byte(": "))
		switch string(k) {
		case "kek":
			kek, err = hex.DecodeString(string(v))
		case "dek":
			dek, err = hex.DecodeString(string(v))
		}
		if err != nil {
			f.Fatal(err)
		}
	}
	if len(kek) != keyring.KEKSize || len(dek) == 0 {
		f.Fatalf("v1_raw: KEK of %d bytes, DEK of %d", len(kek), len(dek))
	}
	f.Add(genuine)
	f.Add(genuine[:len(genuine)/2])
	f.Add(bytes.Replace(genuine, []byte(`"version":1`), []byte(`"version":2`), 1))
	entries, err := os.ReadDir(filepath.Join("testdata", "vectors"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata", "vectors", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if _, h, ok := bytes.Cut(data, []byte("\n\n")); ok {
			f.Add(h)
		}
	}
	var secrets [][]byte
	for _, k := range [][]byte{kek, dek} {
		secrets = append(secrets, k, []byte(hex.EncodeToString(k)), []byte(base64.StdEncoding.EncodeToString(k)),
			[]byte(base64.RawStdEncoding.EncodeToString(k)), []byte(base64.RawURLEncoding.EncodeToString(k)))
	}
	f.Fuzz(func(t *testing.T, header []byte) {
		db := filepath.Join(t.TempDir(), "s.db")
		if err := os.WriteFile(keyring.HeaderPath(db), header, 0o600); err != nil {
			t.Fatal(err)
		}
		got, h, err := keyring.LoadDEK(db, keyring.RawKEK(kek))
		if err != nil {
			msg := []byte(err.Error())
			for _, s := range secrets {
				if bytes.Contains(msg, s) {
					t.Fatalf("error carries a key: %v", err)
				}
			}
			if _, ok := errors.AsType[*keyring.HeaderError](err); ok {
				if !errors.Is(err, keyring.ErrCorruptHeader) && !errors.Is(err, keyring.ErrUnsupportedVersion) {
					t.Fatalf("header error %v wraps neither sentinel", err)
				}
				return
			}
			if !errors.Is(err, keyring.ErrWrongKEK) && !errors.Is(err, keyring.ErrWeakKDF) {
				t.Fatalf("untyped error %v (%T)", err, err)
			}
			return
		}
		if h == nil {
			t.Fatal("DEK loaded without a header")
		}
		if !bytes.Equal(got, dek) {
			t.Fatalf("header %q unwrapped to a DEK other than the genuine one", header)
		}
	})
}
