package host

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/abi"
)

// TestEventIDsRolledBack checks that IDs drawn by a write that rolls back
// are never handed out again by its Store, that another Store on the same
// file continues above every committed ID, and that a Store opened later
// continues above both.
func TestEventIDsRolledBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	open := func() *Store {
		t.Helper()
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	ctx := context.Background()
	appendOne := func(s *Store) uint64 {
		t.Helper()
		id, err := s.Append(ctx, abi.EventEnvelope{Session: "s", Kind: abi.KindSystem, Payload: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a, b := open(), open()
	first := appendOne(a)
	boom := errors.New("boom")
	var drawn uint64
	err := a.write(ctx, func(tx *wtx) error {
		for range 3 {
			id, err := tx.nextEventID()
			if err != nil {
				return err
			}
			drawn = id
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failing write: %v, want %v", err, boom)
	}
	if drawn <= first {
		t.Fatalf("rolled-back write drew ID %d after %d", drawn, first)
	}
	if id := appendOne(a); id <= drawn {
		t.Errorf("after a rolled-back write that drew ID %d, the same Store handed out %d", drawn, id)
	}
	last := appendOne(a)
	if id := appendOne(b); id <= last {
		t.Errorf("second Store handed out %d after the first committed %d", id, last)
	} else {
		last = id
	}
	a.Close()
	b.Close()
	if id := appendOne(open()); id <= last {
		t.Errorf("reopened store handed out %d after %d", id, last)
	}
}
