package host_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// dirState lists the files in dir with their sizes and contents' digests.
func dirState(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		out = append(out, e.Name()+" "+string(hexDigest(fileDigest(t, p))))
	}
	slices.Sort(out)
	return out
}

func hexDigest(d [32]byte) []byte {
	const hx = "0123456789abcdef"
	b := make([]byte, 0, 16)
	for _, c := range d[:8] {
		b = append(b, hx[c>>4], hx[c&15])
	}
	return b
}

// TestOpenZeroLengthWithHeader truncates (or removes) the database of a
// store whose data key is in <db>.dek: opening it must fail with
// host.ErrDatabaseLost and leave every file as it was, instead of
// creating a new empty store under the old key.
func TestOpenZeroLengthWithHeader(t *testing.T) {
	kek := raceKEK1
	for _, c := range []struct {
		name string
		lose func(path string) error
		open func(path string, dek []byte) (*host.Store, error)
	}{
		{"truncated/OpenWithKEK", func(p string) error { return os.Truncate(p, 0) },
			func(p string, _ []byte) (*host.Store, error) { return host.OpenWithKEK(p, kek) }},
		{"missing/OpenWithKEK", os.Remove,
			func(p string, _ []byte) (*host.Store, error) { return host.OpenWithKEK(p, kek) }},
		{"truncated/OpenEncrypted", func(p string) error { return os.Truncate(p, 0) },
			func(p string, dek []byte) (*host.Store, error) {
				return host.OpenEncrypted(p, host.EncryptionAtRest, dek)
			}},
		{"truncated/Open", func(p string) error { return os.Truncate(p, 0) },
			func(p string, _ []byte) (*host.Store, error) { return host.Open(p) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := tempStorePath(t)
			s, err := host.OpenWithKEK(path, kek)
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, storeEvent("lost", 1, "user_message", `{"text":"gone"}`))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			dek, _, err := keyring.LoadOrCreateDEK(path, kek)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.lose(path); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, filepath.Dir(path))
			s, err = c.open(path, dek)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, host.ErrDatabaseLost) {
				t.Fatalf("open: %v, want ErrDatabaseLost", err)
			}
			if after := dirState(t, filepath.Dir(path)); !slices.Equal(before, after) {
				t.Fatalf("failed open changed the directory:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

// TestOpenFailLeavesNoFiles checks that an open that fails (wrong key,
// foreign file, not a store) leaves the directory as it was: no new empty
// -wal or -shm files. Lock files (<db>.lock) are kept by design, so the
// stores are created (or locked once) before.
func TestOpenFailLeavesNoFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the cleanup runs on Linux only")
	}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string)
		open  func(path string) (*host.Store, error)
		want  error
	}{
		{"wrong key", func(t *testing.T, path string) {
			s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, storeEvent("s", 1, "user_message", `{"text":"x"}`))
			s.Close()
		}, func(path string) (*host.Store, error) {
			return host.OpenEncrypted(path, host.EncryptionAtRest, otherTestKey)
		}, sqlitevfs.ErrWrongKey},
		{"encrypted open of a plaintext store", func(t *testing.T, path string) {
			s, err := host.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			l, err := keyring.LockStore(path)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
		}, func(path string) (*host.Store, error) {
			return host.OpenEncrypted(path, host.EncryptionAtRest, otherTestKey)
		}, sqlitevfs.ErrNotEncrypted},
		{"foreign wal file", func(t *testing.T, path string) {
			createForeignDB(t, path, engine.Options{})
		}, host.Open, host.ErrNotStore},
		{"foreign rollback file", func(t *testing.T, path string) {
			createForeignDB(t, path, engine.Options{JournalMode: "delete"})
		}, host.Open, host.ErrNotStore},
		{"not sqlite", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, host.Open, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := tempStorePath(t)
			c.setup(t, path)
			before := dirState(t, filepath.Dir(path))
			s, err := c.open(path)
			if err == nil {
				s.Close()
				t.Fatal("open succeeded")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("open: %v, want %v", err, c.want)
			}
			if after := dirState(t, filepath.Dir(path)); !slices.Equal(before, after) {
				t.Fatalf("failed open changed the directory:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}
