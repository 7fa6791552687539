package host_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/sqlitevfs"
)

// TestEncryptedDamagedPageError damages the pages that hold the events of
// an encrypted store: reading them fails with an error that carries the
// PageError naming the store's file (the reader connection's own typed
// error, in WAL mode), and a second, intact store open at the same time
// reads without error.
func TestEncryptedDamagedPageError(t *testing.T) {
	path := tempStorePath(t)
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		mustAppend(t, s, storeEvent("s1", i, "user_message", fmt.Sprintf(`{"text":%q}`, incompressible(uint64(i), 8000))))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	size := int(binary.BigEndian.Uint16(raw[16:18]))
	if size == 1 {
		size = 65536
	}
	pages := len(raw) / size
	if pages < 40 {
		t.Fatalf("store has %d pages, want at least 40", pages)
	}
	for pg := pages / 2; pg < pages; pg++ { // the payloads written last
		raw[pg*size+100] ^= 1
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	intact, _ := openEncStore(t)
	mustAppend(t, intact, storeEvent("s1", 1, "user_message", `{"text":"intact"}`))

	s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatalf("open: %v (the damage should be found by the read)", err)
	}
	defer s.Close()
	_, err = s.EventsSince(context.Background(), "s1", 0, 0)
	var pe *sqlitevfs.PageError
	if !errors.As(err, &pe) || pe.File != path || pe.Kind != "db" || !errors.Is(err, sqlitevfs.ErrAuth) {
		t.Fatalf("reading the damaged store: %v, want a PageError for %s", err, path)
	}
	if evs, err := intact.EventsSince(context.Background(), "s1", 0, 0); err != nil || len(evs) != 1 {
		t.Fatalf("intact store after the damaged one failed: %d events, %v", len(evs), err)
	}
}
