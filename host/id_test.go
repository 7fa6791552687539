package host_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

var storeIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// reopenID opens the store at path with open, returns its ID and closes it.
func reopenID(t *testing.T, path string, open func(string) (*host.Store, error)) string {
	t.Helper()
	s, err := open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer s.Close()
	id := s.ID()
	if !storeIDPattern.MatchString(id) {
		t.Fatalf("store ID %q is not 32 lowercase hex digits", id)
	}
	return id
}

// TestStoreID: a store has an ID from its creation that stays with its
// data: across reopens, in plaintext and encrypted stores, through
// Encrypt and Rekey, in a moved store and in a copy; another store has
// another ID.
func TestStoreID(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a", "sessions.db")
	b := filepath.Join(dir, "b", "sessions.db")
	idA := reopenID(t, a, host.Open)
	if got := reopenID(t, a, host.Open); got != idA {
		t.Fatalf("reopened store has ID %s, want %s", got, idA)
	}
	if idB := reopenID(t, b, host.Open); idB == idA {
		t.Fatalf("two stores share the ID %s", idA)
	}
	if err := host.Encrypt(a, keyring.RawKEK(encKEK)); err != nil {
		t.Fatal(err)
	}
	openKEK := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, encKEK) }
	if got := reopenID(t, a, openKEK); got != idA {
		t.Fatalf("encrypted store has ID %s, want %s", got, idA)
	}
	if err := host.Rekey(a, keyring.RawKEK(encKEK)); err != nil {
		t.Fatal(err)
	}
	if got := reopenID(t, a, openKEK); got != idA {
		t.Fatalf("rekeyed store has ID %s, want %s", got, idA)
	}
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(filepath.Dir(a), moved); err != nil {
		t.Fatal(err)
	}
	if got := reopenID(t, filepath.Join(moved, "sessions.db"), openKEK); got != idA {
		t.Fatalf("moved store has ID %s, want %s", got, idA)
	}
}

// TestStoreIDRace: handles in one process opening a new path at the same
// moment all see one ID, which a reopen sees too.
func TestStoreIDRace(t *testing.T) {
	const handles = 8
	for round := range 5 {
		path := filepath.Join(t.TempDir(), "sessions.db")
		ids := make([]string, handles)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range handles {
			wg.Go(func() {
				<-start
				s, err := host.Open(path)
				if err != nil {
					t.Errorf("round %d: open: %v", round, err)
					return
				}
				ids[i] = s.ID()
				s.Close()
			})
		}
		close(start)
		wg.Wait()
		want := reopenID(t, path, host.Open)
		for i, id := range ids {
			if id != want {
				t.Errorf("round %d: handle %d saw ID %q, the store has %s", round, i, id, want)
			}
		}
	}
}

// TestStoreIDMigration: a store of schema version 6, from before store
// IDs, gets one on its first open, and keeps it across reopens.
func TestStoreIDMigration(t *testing.T) {
	path := tempStorePath(t)
	if err := host.WriteV6Store(path); err != nil {
		t.Fatal(err)
	}
	s, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	h, err := s.Health(t.Context())
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if h.SchemaVersion != host.SchemaVersion {
		t.Fatalf("migrated store has schema version %d, want %d", h.SchemaVersion, host.SchemaVersion)
	}
	if !storeIDPattern.MatchString(id) {
		t.Fatalf("migrated store has ID %q", id)
	}
	for range 2 {
		if got := reopenID(t, path, host.Open); got != id {
			t.Fatalf("reopened migrated store has ID %s, want %s", got, id)
		}
	}
}
