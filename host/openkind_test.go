package host_test

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3"

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

// TestOpenNotStoreFiles opens files that are not stores with every Open
// function: random bytes, text, a bare SQLite header and another
// program's SQLite database. Each fails with ErrNotStore, and nothing is
// created or changed: no DEK header, no -wal or -shm.
func TestOpenNotStoreFiles(t *testing.T) {
	kek := make([]byte, 32)
	rand.Read(kek)
	random := make([]byte, 8192)
	rand.Read(random)
	foreign := foreignSQLite(t)
	for name, content := range map[string][]byte{
		"random":  random,
		"text":    []byte("not a database, but a note\n"),
		"header":  []byte("SQLite format 3\x00"),
		"foreign": foreign,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, dir)
			for fn, open := range map[string]func() (*host.Store, error){
				"Open":          func() (*host.Store, error) { return host.Open(path) },
				"OpenWithKEK":   func() (*host.Store, error) { return host.OpenWithKEK(path, kek) },
				"OpenEncrypted": func() (*host.Store, error) { return host.OpenEncrypted(path, host.EncryptionAtRest, kek) },
			} {
				s, err := open()
				if err == nil {
					s.Close()
					t.Fatalf("%s opened a file that is not a store", fn)
				}
				if !errors.Is(err, host.ErrNotStore) {
					t.Errorf("%s: %v, want ErrNotStore", fn, err)
				}
			}
			if after := dirState(t, dir); !slices.Equal(before, after) {
				t.Errorf("files changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// foreignSQLite returns the bytes of another program's SQLite database:
// a table of its own and an application ID that is not a store's.
func foreignSQLite(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`PRAGMA application_id=1234; CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')`); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
