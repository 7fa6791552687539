package keyring_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gofastr/store/keyring"
)

// TestLockStore checks that a held StoreLock (an open store) makes RekeyWith
// fail fast with ErrInUse and change nothing, while header operations
// still work, and that Rekey works again once it is released.
func TestLockStore(t *testing.T) {
	db := newDB(t)
	kek := newKEK()
	rows := rekeyRows(10)
	fillStore(t, db, kek, rows)
	dek := checkStore(t, db, kek, rows)

	l, err := keyring.LockStore(db)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := keyring.LockStore(db) // shared: a second open store
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = rekey(db, kek)
	if !errors.Is(err, keyring.ErrInUse) {
		t.Fatalf("Rekey with a StoreLock held: err=%v, want ErrInUse", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Rekey waited %v for the lock", d)
	}
	kek2 := newKEK()
	if err := keyring.RotateKEK(db, kek, kek2); err != nil {
		t.Fatalf("RotateKEK with the store open: %v", err)
	}
	l.Close()
	l.Close() // idempotent
	wantErr(t, rekey(db, kek2), keyring.ErrInUse)
	l2.Close()
	if got := checkStore(t, db, kek2, rows); string(got) != string(dek) {
		t.Fatal("a refused Rekey changed the DEK")
	}
	if err := rekey(db, kek2); err != nil {
		t.Fatal(err)
	}
	if got := checkStore(t, db, kek2, rows); string(got) == string(dek) {
		t.Fatal("Rekey kept the DEK")
	}
}
