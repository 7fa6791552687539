package host_test

import (
	"crypto/rand"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/sqlitevfs"
)

// TestOpenWrongKind opens an encrypted store with Open and a plaintext
// store with OpenWithKEK and OpenEncrypted: each fails with a typed error
// that says how to open it, and no file is created or changed (no DEK
// header next to the plaintext store).
func TestOpenWrongKind(t *testing.T) {
	dir := t.TempDir()
	plain, enc := filepath.Join(dir, "plain.db"), filepath.Join(dir, "enc.db")
	kek := make([]byte, 32)
	rand.Read(kek)
	for _, open := range []func() (*host.Store, error){
		func() (*host.Store, error) { return host.Open(plain) },
		func() (*host.Store, error) { return host.OpenWithKEK(enc, kek) },
	} {
		s, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	before := dirState(t, dir)

	if _, err := host.Open(enc); !errors.Is(err, host.ErrEncryptedStore) {
		t.Errorf("Open of an encrypted store: %v, want ErrEncryptedStore", err)
	}
	if _, err := host.OpenWithKEK(plain, kek); !errors.Is(err, host.ErrPlaintextStore) || !errors.Is(err, sqlitevfs.ErrNotEncrypted) {
		t.Errorf("OpenWithKEK of a plaintext store: %v, want ErrPlaintextStore", err)
	}
	if _, err := host.OpenEncrypted(plain, host.EncryptionAtRest, kek); !errors.Is(err, host.ErrPlaintextStore) {
		t.Errorf("OpenEncrypted of a plaintext store: %v, want ErrPlaintextStore", err)
	}
	if after := dirState(t, dir); !slices.Equal(before, after) {
		t.Errorf("files changed:\nbefore %v\nafter  %v", before, after)
	}
}
