package keyring_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/gofastr/store/keyring"
)

// TestLoadOrCreateDEKWithCallback checks the callback: created is true only for
// the call that wrote the header, the DEK is the one returned, and a
// header the call created is removed again when the callback fails while
// the database holds no data (but kept when it has data).
func TestLoadOrCreateDEKWithCallback(t *testing.T) {
	db, kek := newDB(t), newKEK()
	errFn := errors.New("callback failed")

	// A failing first open leaves no header behind.
	_, _, err := keyring.LoadOrCreateDEKWith(db, keyring.RawKEK(kek), func(dek []byte, created bool) error {
		if !created {
			t.Error("first call: created=false")
		}
		return errFn
	})
	if !errors.Is(err, errFn) {
		t.Fatalf("err=%v, want the callback's", err)
	}
	if _, err := os.Stat(keyring.HeaderPath(db)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("header after a failed callback: %v, want it removed", err)
	}

	var seen []byte
	dek, _, err := keyring.LoadOrCreateDEKWith(db, keyring.RawKEK(kek), func(dek []byte, created bool) error {
		if !created {
			t.Error("created=false for a new header")
		}
		seen = bytes.Clone(dek)
		return os.WriteFile(db, []byte("data"), 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dek, seen) {
		t.Fatal("callback saw another DEK than the one returned")
	}
	again, _, err := keyring.LoadOrCreateDEKWith(db, keyring.RawKEK(kek), func(dek []byte, created bool) error {
		if created {
			t.Error("created=true for an existing header")
		}
		return errFn
	})
	if !errors.Is(err, errFn) || again != nil {
		t.Fatalf("err=%v dek=%v, want the callback's error and no DEK", err, again != nil)
	}
	if _, err := os.Stat(keyring.HeaderPath(db)); err != nil {
		t.Fatalf("existing header after a failed callback: %v", err)
	}
}
