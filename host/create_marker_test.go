package host_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// TestCreationMarkerKeepsData puts a creation marker (<db>.dek.creating)
// beside stores that hold acknowledged data, as a crash after the
// database was created, or a restore or raw-key writes after an
// unfinished creation, would leave it: the next open with the KEK keeps
// every event and the store's ID and removes the marker. Only a database
// whose first page was never written is discarded (TestCreateCrash).
func TestCreationMarkerKeepsData(t *testing.T) {
	kek := keyring.RawKEK(raceKEK1)
	cfg := host.NewConfig().WithKEKSource(kek)
	ctx := context.Background()
	fill := func(t *testing.T, s *host.Store) {
		for i := range 50 {
			mustAppend(t, s, storeEvent("m", i, "user_message", `{"text":"kept"}`))
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, path string) // leaves a closed store of 50 events and the marker
	}{
		{"created then crashed", func(t *testing.T, path string) {
			s, err := host.OpenWithConfig(path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			fill(t, s)
			s.Close()
			plantMarker(t, path)
		}},
		{"raw-key writes after the marker", func(t *testing.T, path string) {
			s, err := host.OpenWithConfig(path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			plantMarker(t, path)
			dek, _, err := keyring.LoadDEK(path, kek)
			if err != nil {
				t.Fatal(err)
			}
			s, err = host.OpenWithConfig(path, host.NewConfig().WithKey(dek))
			if err != nil {
				t.Fatal(err)
			}
			fill(t, s)
			s.Close()
		}},
		{"restored from a backup", func(t *testing.T, path string) {
			backup := filepath.Join(t.TempDir(), "backup.db")
			s, err := host.OpenWithConfig(backup, cfg)
			if err != nil {
				t.Fatal(err)
			}
			fill(t, s)
			s.Close()
			// An unfinished creation at path, then the backup's
			// database and header copied over it.
			s, err = host.OpenWithConfig(path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			plantMarker(t, path)
			os.Remove(path + "-shm")
			for _, suf := range []string{"", "-wal", ".dek"} {
				b, err := os.ReadFile(backup + suf)
				if errors.Is(err, fs.ErrNotExist) {
					os.Remove(path + suf)
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path+suf, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			c.setup(t, path)
			s, err := host.OpenWithConfig(path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			evs, err := s.EventsSince(ctx, "m", 0, 1000)
			if err != nil || len(evs) != 50 {
				t.Fatalf("after the open: %d events (%v), want the 50 acknowledged", len(evs), err)
			}
			if _, err := os.Stat(keyring.HeaderPath(path) + ".creating"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the marker is still there: %v", err)
			}
		})
	}
}

func plantMarker(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(keyring.HeaderPath(path)+".creating", nil, 0o600); err != nil {
		t.Fatal(err)
	}
}
