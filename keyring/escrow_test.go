package keyring_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/gofastr/store/keyring"
)

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newEscrow creates a store and exports its DEK to recipients.
func newEscrow(t *testing.T, recipients string) (db string, kek, dek []byte, escrow string) {
	t.Helper()
	db, kek = newDB(t), newKEK()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	writeDB(t, db, dek)
	escrow = filepath.Join(t.TempDir(), "store.dek.age")
	if err := keyring.ExportDEK(db, kek, []byte(recipients), escrow); err != nil {
		t.Fatal(err)
	}
	return db, kek, dek, escrow
}

func TestEscrowRoundTrip(t *testing.T) {
	id := newIdentity(t)
	db, _, dek, escrow := newEscrow(t, id.Recipient().String())

	fi, err := os.Stat(escrow)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("escrow mode=%v, want 0600", fi.Mode().Perm())
	}

	// The escrow file is a plain age file whose payload is the DEK.
	f, err := os.Open(escrow)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, id)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(payload, dek) {
		t.Fatalf("age.Decrypt payload=%x, %v; want the DEK", payload, err)
	}

	// Lose header and KEK, then recover under a new local KEK.
	if err := os.Remove(keyring.HeaderPath(db)); err != nil {
		t.Fatal(err)
	}
	local := newKEK()
	if err := keyring.ImportDEK(db, escrow, []byte(id.String()+"\n"), local); err != nil {
		t.Fatal(err)
	}
	got, _, err := keyring.LoadOrCreateDEK(db, local)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("after import: err=%v, same DEK %v", err, bytes.Equal(got, dek))
	}
}

// TestEscrowStockAge decrypts an escrow file with the age command, if it is
// installed.
func TestEscrowStockAge(t *testing.T) {
	bin, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("age command not found (.ci/run installs it; CI must not skip this test)")
		}
		t.Skip("age command not found (Debian: apt-get install age)")
	}
	id := newIdentity(t)
	_, _, dek, escrow := newEscrow(t, id.Recipient().String())
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(keyFile, []byte("# test key\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-d", "-i", keyFile, escrow).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, dek) {
		t.Fatalf("age -d output=%x, want the DEK", out)
	}
}

func TestEscrowTwoRecipients(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	// Recipients-file syntax: a comment, then keys separated by a comma
	// and by a newline with stray white space.
	recipients := "# escrow holders\n" + a.Recipient().String() + ",\r\n  " + b.Recipient().String() + "\n"
	db, kek, dek, escrow := newEscrow(t, recipients)
	for _, id := range []*age.X25519Identity{a, b} {
		local := newKEK()
		// Overwrite the header: the import replaces a header the local KEK
		// does not open.
		if err := keyring.ImportDEK(db, escrow, []byte(id.String()), local); err != nil {
			t.Fatal(err)
		}
		got, _, err := keyring.LoadOrCreateDEK(db, local)
		if err != nil || !bytes.Equal(got, dek) {
			t.Fatalf("import with %s: err=%v, same DEK %v", id.Recipient(), err, bytes.Equal(got, dek))
		}
	}
	_, _, err := keyring.LoadOrCreateDEK(db, kek)
	wantErr(t, err, keyring.ErrWrongKEK)
}

func TestEscrowWrongIdentity(t *testing.T) {
	db, kek, _, escrow := newEscrow(t, newIdentity(t).Recipient().String())
	wrong := newIdentity(t)
	before := snapshot(t, filepath.Dir(db))
	err := keyring.ImportDEK(db, escrow, []byte(wrong.String()), kek)
	wantErr(t, err, keyring.ErrWrongIdentity)
	if _, ok := errors.AsType[*age.NoIdentityMatchError](err); !ok {
		t.Errorf("err=%v, want it to wrap *age.NoIdentityMatchError", err)
	}
	if !errors.Is(err, age.ErrIncorrectIdentity) {
		t.Errorf("err=%v, want it to wrap age.ErrIncorrectIdentity", err)
	}
	if strings.Contains(err.Error(), wrong.String()) {
		t.Error("error contains the secret key")
	}
	assertUnchanged(t, filepath.Dir(db), before)
}

func TestExportDEKErrors(t *testing.T) {
	id := newIdentity(t)
	db, kek := newDB(t), newKEK()
	if _, _, err := keyring.LoadOrCreateDEK(db, kek); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "escrow.age")
	tests := []struct {
		name      string
		recipient []byte
		kek       []byte
		want      error
	}{
		{"secret key", []byte(id.String()), kek, keyring.ErrEscrowFormat},
		{"symmetric key", bytes.Repeat([]byte{'k'}, 32), kek, keyring.ErrEscrowFormat},
		{"empty", []byte(" \n# nobody\n"), kek, keyring.ErrEscrowFormat},
		{"bad public key", []byte("age1notakey"), kek, keyring.ErrEscrowFormat},
		{"wrong KEK", []byte(id.Recipient().String()), newKEK(), keyring.ErrWrongKEK},
	}
	for _, tt := range tests {
		err := keyring.ExportDEK(db, tt.kek, tt.recipient, out)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err=%v, want %v", tt.name, err, tt.want)
			continue
		}
		if tt.name == "secret key" && strings.Contains(err.Error(), id.String()) {
			t.Errorf("%s: error contains the secret key", tt.name)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%s: escrow file written", tt.name)
		}
	}

	// An existing file is never overwritten.
	if err := os.WriteFile(out, []byte("other store's escrow"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := keyring.ExportDEK(db, kek, []byte(id.Recipient().String()), out)
	wantErr(t, err, fs.ErrExist)
	if got, _ := os.ReadFile(out); string(got) != "other store's escrow" {
		t.Error("existing escrow file overwritten")
	}
}

func TestImportDEKErrors(t *testing.T) {
	id := newIdentity(t)
	db, kek, dek, escrow := newEscrow(t, id.Recipient().String())
	dir := filepath.Dir(db)

	// Same DEK already installed under the local KEK: nothing to do.
	before := snapshot(t, dir)
	if err := keyring.ImportDEK(db, escrow, []byte(id.String()), kek); err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, dir, before)

	// Another store's escrow over a header the local KEK opens: refused.
	_, _, _, otherEscrow := newEscrow(t, id.Recipient().String())
	err := keyring.ImportDEK(db, otherEscrow, []byte(id.String()), kek)
	wantErr(t, err, keyring.ErrDEKMismatch)
	assertUnchanged(t, dir, before)

	// An age file that does not hold a DEK.
	notDEK := filepath.Join(t.TempDir(), "note.age")
	f, err := os.Create(notDEK)
	if err != nil {
		t.Fatal(err)
	}
	w, err := age.Encrypt(f, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "hello")
	w.Close()
	f.Close()
	err = keyring.ImportDEK(db, notDEK, []byte(id.String()), newKEK())
	wantErr(t, err, keyring.ErrEscrowFormat)

	// Not an age file at all.
	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("not age"), 0o600)
	err = keyring.ImportDEK(db, garbage, []byte(id.String()), newKEK())
	wantErr(t, err, keyring.ErrEscrowFormat)

	// A malformed identity, and a bad local KEK.
	err = keyring.ImportDEK(db, escrow, []byte("AGE-SECRET-KEY-1NOTAKEY"), newKEK())
	if err == nil || strings.Contains(err.Error(), "NOTAKEY") {
		t.Errorf("malformed identity: err=%v", err)
	}
	err = keyring.ImportDEK(db, escrow, []byte(id.String()), make([]byte, 16))
	wantErr(t, err, keyring.ErrInvalidKEK)
	assertUnchanged(t, dir, before)

	if got, _, err := keyring.LoadOrCreateDEK(db, kek); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("store damaged by failed imports: %v", err)
	}
}

// TestEscrowTyped uses the typed variants with a passphrase KEK.
func TestEscrowTyped(t *testing.T) {
	id := newIdentity(t)
	db, pass := newDB(t), fastPassphrase("open sesame")
	dek, _, err := keyring.LoadOrCreateDEKWith(db, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeDB(t, db, dek)
	escrow := filepath.Join(t.TempDir(), "e.age")
	if err := keyring.ExportDEKWith(db, pass, escrow, id.Recipient()); err != nil {
		t.Fatal(err)
	}
	err = keyring.ExportDEKWith(db, pass, filepath.Join(t.TempDir(), "none.age"))
	wantErr(t, err, keyring.ErrEscrowFormat)

	other := fastPassphrase("new passphrase")
	if err := keyring.ImportDEKWith(db, escrow, other, id); err != nil {
		t.Fatal(err)
	}
	got, _, err := keyring.LoadOrCreateDEKWith(db, other, nil)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("after import: err=%v, same DEK %v", err, bytes.Equal(got, dek))
	}
}

// TestImportDEKReplaces checks which existing headers an import replaces.
func TestImportDEKReplaces(t *testing.T) {
	id := newIdentity(t)
	db, _, dek, escrow := newEscrow(t, id.Recipient().String())
	hp := keyring.HeaderPath(db)
	orig, _ := os.ReadFile(hp)

	// A corrupt header is replaced.
	if err := os.WriteFile(hp, orig[:len(orig)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	local := newKEK()
	if err := keyring.ImportDEK(db, escrow, []byte(id.String()), local); err != nil {
		t.Fatal(err)
	}
	if got, _, err := keyring.LoadOrCreateDEK(db, local); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("after replacing a corrupt header: err=%v", err)
	}

	// A header of a newer version is left for a newer build.
	newer := bytes.Replace(orig, []byte(`"version": 1`), []byte(`"version": 2`), 1)
	if err := os.WriteFile(hp, newer, 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Dir(db))
	err := keyring.ImportDEK(db, escrow, []byte(id.String()), newKEK())
	wantErr(t, err, keyring.ErrUnsupportedVersion)
	assertUnchanged(t, filepath.Dir(db), before)
}

// TestImportDEKForeign imports an escrow that is not the database's key
// over a header the local KEK does not open, or in place of a lost
// header. The original ImportDEK replaced the header and returned nil,
// leaving the store unopenable; now it must fail with ErrForeignDEK and
// change nothing.
func TestImportDEKForeign(t *testing.T) {
	id := newIdentity(t)
	_, _, _, escrowA := newEscrow(t, id.Recipient().String())
	dbB, kekB, dekB, escrowB := newEscrow(t, id.Recipient().String())
	dir := filepath.Dir(dbB)

	// Store A's escrow into store B with a KEK that does not open B's header.
	before := snapshot(t, dir)
	err := keyring.ImportDEK(dbB, escrowA, []byte(id.String()), newKEK())
	wantErr(t, err, keyring.ErrForeignDEK)
	assertUnchanged(t, dir, before)

	// An escrow made before a rekey is no longer the database's key.
	if err := rekey(dbB, kekB); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, dir)
	err = keyring.ImportDEK(dbB, escrowB, []byte(id.String()), newKEK())
	wantErr(t, err, keyring.ErrForeignDEK)
	assertUnchanged(t, dir, before)

	// Header lost: a foreign escrow is refused, the right one accepted.
	newDEK, _, err := keyring.LoadOrCreateDEK(dbB, kekB)
	if err != nil || bytes.Equal(newDEK, dekB) {
		t.Fatalf("after rekey: %v", err)
	}
	escrowNew := filepath.Join(t.TempDir(), "new.age")
	if err := keyring.ExportDEK(dbB, kekB, []byte(id.Recipient().String()), escrowNew); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyring.HeaderPath(dbB)); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, dir)
	err = keyring.ImportDEK(dbB, escrowA, []byte(id.String()), newKEK())
	wantErr(t, err, keyring.ErrForeignDEK)
	assertUnchanged(t, dir, before)
	local := newKEK()
	if err := keyring.ImportDEK(dbB, escrowNew, []byte(id.String()), local); err != nil {
		t.Fatal(err)
	}
	checkTable(t, dbB, local)

	// No database data to check against, and a header under another KEK:
	// refused, since the header may be the only copy of the key.
	dbC := newDB(t)
	if _, _, err := keyring.LoadOrCreateDEK(dbC, newKEK()); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, filepath.Dir(dbC))
	err = keyring.ImportDEK(dbC, escrowA, []byte(id.String()), newKEK())
	wantErr(t, err, keyring.ErrForeignDEK)
	assertUnchanged(t, filepath.Dir(dbC), before)
}
