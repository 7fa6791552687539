// Package keyringtest checks implementations of [keyring.KEKSource] against
// the interface's contract. Every source in package keyring runs it, and so
// should any other implementation.
package keyringtest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofastr/store/keyring"
)

// Run checks the sources returned by newSource. Each call must return a
// source for the same key (or passphrase).
func Run(t *testing.T, newSource func(t *testing.T) keyring.KEKSource) {
	t.Run("Name", func(t *testing.T) {
		src := newSource(t)
		name := src.Name()
		if name == "" || strings.ContainsAny(name, "\n\r") {
			t.Fatalf("Name()=%q, want a non-empty single line", name)
		}
		kek, _, err := src.NewKEK()
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range []string{hex.EncodeToString(kek), base64.StdEncoding.EncodeToString(kek), base64.RawURLEncoding.EncodeToString(kek)} {
			if strings.Contains(name, enc) {
				t.Fatalf("Name() contains the KEK")
			}
		}
	})

	t.Run("NewKEKThenKEK", func(t *testing.T) {
		src := newSource(t)
		kek, kdf, err := src.NewKEK()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(kek), keyring.KEKSize; got != want {
			t.Fatalf("len(NewKEK())=%d, want %d", got, want)
		}
		want := bytes.Clone(kek)
		clear(kek) // callers clear what they get; the source must not care
		again, err := src.KEK(kdf)
		if err != nil {
			t.Fatalf("KEK(kdf of NewKEK): %v", err)
		}
		if !bytes.Equal(again, want) {
			t.Fatalf("KEK(kdf) differs from NewKEK()")
		}
		clear(again)
		third, err := src.KEK(kdf)
		if err != nil || !bytes.Equal(third, want) {
			t.Fatalf("KEK after clearing a returned KEK: got err %v, equal %v; want the same key", err, bytes.Equal(third, want))
		}
	})

	t.Run("WrongKind", func(t *testing.T) {
		src := newSource(t)
		_, kdf, err := src.NewKEK()
		if err != nil {
			t.Fatal(err)
		}
		var other *keyring.KDFParams
		if kdf == nil {
			other = &keyring.KDFParams{Alg: "argon2id", Salt: make([]byte, 16), Time: 1, Memory: 8, Threads: 1}
		}
		if _, err := src.KEK(other); !errors.Is(err, keyring.ErrWrongKEK) {
			t.Fatalf("KEK(other kind of header): err=%v, want ErrWrongKEK", err)
		}
	})

	t.Run("Store", func(t *testing.T) {
		src := newSource(t)
		db := filepath.Join(t.TempDir(), "s.db")
		dek, _, err := keyring.LoadOrCreateDEKWith(db, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := keyring.LoadOrCreateDEKWith(db, newSource(t), nil)
		if err != nil || !bytes.Equal(got, dek) {
			t.Fatalf("reopen with a new source: err=%v, same DEK %v", err, bytes.Equal(got, dek))
		}
		h, err := keyring.ReadHeader(db)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := h.Source(), src.Name(); got != want {
			t.Errorf("meta=%q names source %q, want %q", h.Metadata, got, want)
		}
		raw := keyring.RawKEK(bytes.Repeat([]byte{7}, keyring.KEKSize))
		if err := keyring.RotateKEKWith(db, src, raw); err != nil {
			t.Fatal(err)
		}
		if err := keyring.RotateKEKWith(db, raw, src); err != nil {
			t.Fatal(err)
		}
		got, _, err = keyring.LoadOrCreateDEKWith(db, src, nil)
		if err != nil || !bytes.Equal(got, dek) {
			t.Fatalf("after rotating away and back: err=%v, same DEK %v", err, bytes.Equal(got, dek))
		}
	})
}
