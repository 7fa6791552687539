package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// TestCloseCheckpointsWAL: after appends and reads, Close leaves every
// event in the database file itself, with no WAL left behind, so that a
// copy of the closed store's .db alone (a backup) holds every event.
func TestCloseCheckpointsWAL(t *testing.T) {
	ctx := context.Background()
	path := tempStorePath(t)
	s, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		if _, err := s.Append(ctx, abi.EventEnvelope{
			Session: "s", Turn: i, Kind: abi.KindUserMessage,
			Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
		}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 { // reads open reader connections
			if _, err := s.EventsSince(ctx, "s", 0, 10); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.ListPastSessions(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil && fi.Size() > 0 {
			t.Errorf("%s of %d bytes left after Close", suffix, fi.Size())
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}

	// The .db alone, copied elsewhere.
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(backup, db, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := host.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	evs, err := b.EventsSince(ctx, "s", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Errorf("the closed store's .db alone holds %d of %d events", len(evs), n)
	}
}
