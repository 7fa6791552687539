package host

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofastr/store/internal/zdict"
)

// TestDictIDReused covers a dictionary ID that comes back after this
// Store retired it: another Store, which never knew the ID was used,
// trains a new dictionary under it and stores rows with it. This Store
// reads them with the new dictionary, not with the decoder it kept for
// the retired one.
func TestDictIDReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	old := time.Now().Add(-48 * time.Hour)
	appendLinesAt(t, s, "old", old, synthLines(31, 300))
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	id := s.codec.z.Current()
	retire(t, s, old.Add(time.Hour))
	if !s.codec.z.Retired(id) {
		t.Fatal("the retired dictionary's decoder is not kept")
	}

	// What the other Store does, with other lines.
	lines := synthLines(32, 400)
	b, err := zdict.Build(id, lines[:300])
	if err != nil {
		t.Fatal(err)
	}
	other := zdict.NewSet()
	if err := other.Add(id, b); err != nil {
		t.Fatal(err)
	}
	if err := other.Use(id); err != nil {
		t.Fatal(err)
	}
	err = s.write(context.Background(), func(tx *wtx) error {
		_, err := tx.exec(`INSERT INTO dicts (id, created, oldest, dict) VALUES (?, ?, ?, ?)`, int64(id), time.Now().UnixNano(), time.Now().UnixNano(), b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	insertFormatted(t, s, "reused", lines[300:], func(p []byte) ([]byte, byte) {
		data, f := other.Encode(p)
		if f != zdict.ZstdDict {
			t.Fatalf("the other dictionary stored a line in format %d", f)
		}
		return data, byte(f)
	})
	checkEvents(t, s, "reused", lines[300:])
}
