//go:build linux

package keyring_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/keyring"
)

// wantDiskFull fails unless err is the typed disk-full error: ErrDiskFull,
// syscall.ENOSPC and a message that says so.
func wantDiskFull(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, keyring.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("%s on a full disk: %v; want ErrDiskFull, ENOSPC and a message saying the disk is full", what, err)
	}
}

// TestDiskFullHeaderWrites fills a small tmpfs and checks that every
// header write of the keyring (RotateKEK, ExportDEK, a new header) fails
// with the typed disk-full error, leaves the files as they were (no
// temporary file either), and succeeds once space is freed.
func TestDiskFullHeaderWrites(t *testing.T) {
	dir := smallfs.Mount(t, "256k")
	db := filepath.Join(dir, "store.db")
	oldKEK, newKEK := newKEK(), newKEK()
	dek, _, err := keyring.LoadOrCreateDEK(db, oldKEK)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)

	smallfs.Fill(t, dir, 0)
	wantDiskFull(t, "RotateKEK", keyring.RotateKEK(db, oldKEK, newKEK))
	wantDiskFull(t, "ExportDEK", keyring.ExportDEK(db, oldKEK, []byte(id.Recipient().String()), filepath.Join(dir, "escrow.age")))
	_, _, err = keyring.LoadOrCreateDEK(filepath.Join(dir, "other.db"), oldKEK)
	wantDiskFull(t, "LoadOrCreateDEK of a new store", err)
	smallfs.Empty(t, dir)
	assertUnchanged(t, dir, before)

	// The header still opens with the old KEK, and the retry succeeds.
	got, _, err := keyring.LoadOrCreateDEK(db, oldKEK)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("after the failed rotation: %v (same DEK: %v)", err, bytes.Equal(got, dek))
	}
	if err := keyring.RotateKEK(db, oldKEK, newKEK); err != nil {
		t.Fatalf("retry after freeing space: %v", err)
	}
	if got, _, err := keyring.LoadOrCreateDEK(db, newKEK); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("under the new KEK: %v (same DEK: %v)", err, bytes.Equal(got, dek))
	}
}
