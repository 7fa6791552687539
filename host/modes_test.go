package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// TestFileModes checks, under umask 022, that every file the store and the
// keyring create is 0600, after every operation: create, open and append,
// keyring.RotateKEK, keyring.ExportDEK, Rekey, keyring.ImportDEK, and an
// interrupted rekey and its recovery. The original Rekey renamed a VACUUM INTO copy created with the
// umask (0644) over the 0600 database, making the store world-readable.
func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes do not reflect ACLs on Windows")
	}
	old, ok := setUmask(0o022)
	if !ok {
		t.Skip("cannot set the umask here")
	}
	defer setUmask(old)

	dir := t.TempDir()
	db := filepath.Join(dir, "store.db")
	kek := rkKEK(t)
	seen := map[string]bool{}
	check := func(step string) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			seen[strings.TrimPrefix(e.Name(), "store.db")] = true
			if fi.Mode() != 0o600 {
				t.Errorf("after %s: %s has mode %v, want -rw-------", step, e.Name(), fi.Mode())
			}
		}
	}
	appendOne := func(step string) {
		t.Helper()
		s, err := host.OpenWithKEK(db, kek)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if _, err := s.Append(context.Background(), abi.EventEnvelope{Session: "s", Kind: abi.KindAssistantMessage, Payload: json.RawMessage(`{"a":1}`)}); err != nil {
			t.Fatal(err)
		}
		check(step + " (open)")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		check(step + " (closed)")
	}

	appendOne("create")
	kek2 := rkKEK(t)
	if err := keyring.RotateKEK(db, kek, kek2); err != nil {
		t.Fatal(err)
	}
	kek = kek2
	check("RotateKEK")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	escrow := filepath.Join(dir, "store.db.escrow.age")
	if err := keyring.ExportDEK(db, kek, []byte(id.Recipient().String()), escrow); err != nil {
		t.Fatal(err)
	}
	check("ExportDEK")
	if err := host.Rekey(db, keyring.RawKEK(kek)); err != nil {
		t.Fatal(err)
	}
	check("Rekey")
	appendOne("open after Rekey")

	os.Remove(escrow)
	if err := keyring.ExportDEK(db, kek, []byte(id.Recipient().String()), escrow); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyring.HeaderPath(db)); err != nil {
		t.Fatal(err)
	}
	kek = rkKEK(t)
	if err := keyring.ImportDEK(db, escrow, []byte(id.String()), kek); err != nil {
		t.Fatal(err)
	}
	check("ImportDEK")

	// (The keyring's tests check the files of a rekey stopped before the
	// copy exists.)
	for _, stage := range []string{"before-rename", "renamed"} {
		err := host.RekeyStoppedAt(db, keyring.RawKEK(kek), stage)
		if !errors.Is(err, host.ErrRekeyStopped) {
			t.Fatalf("interrupted rekey at %s: %v", stage, err)
		}
		check("rekey interrupted at " + stage)
		appendOne("recovery after a rekey interrupted at " + stage)
	}

	for _, name := range []string{"", "-wal", "-shm", ".dek", ".dek.next", ".rekey", ".lock", ".dek.lock", ".escrow.age"} {
		if !seen[name] {
			t.Errorf("store.db%s never existed: the test did not check it", name)
		}
	}
}
