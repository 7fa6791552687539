package keyring_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/gofastr/store/keyring"
)

func exampleDir() string {
	dir, err := os.MkdirTemp("", "keyring-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

func ExampleLoadOrCreateDEK() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "sessions.db")

	kek := bytes.Repeat([]byte{0x42}, keyring.KEKSize) // use a real secret
	dek, headerPath, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		log.Fatal(err)
	}
	defer clear(dek)
	// Hand dek to the encrypting VFS; the header keeps it wrapped on disk.
	fmt.Println(len(dek), filepath.Base(headerPath))

	// The next open returns the same DEK.
	again, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bytes.Equal(dek, again))
	// Output:
	// 32 sessions.db.dek
	// true
}

func ExampleLoadOrCreateDEKWith() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "sessions.db")

	// Pick the KEK source: an API key, a key file, a passphrase, then
	// $GOFASTR_KEK, or else the machine key.
	src, err := keyring.Resolve(keyring.Sources{
		MachineKeyFile: filepath.Join(dir, "config", "kek"), // default: DefaultMachineKEKPath()
	})
	if err != nil {
		log.Fatal(err)
	}
	dek, _, err := keyring.LoadOrCreateDEKWith(db, src, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer clear(dek)
	h, err := keyring.ReadHeader(db)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(h.Source(), !h.Created().IsZero(), h.Rewrapped().IsZero())
	// Output: machine true true
}

func ExampleRotateKEK() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "sessions.db")
	oldKEK := bytes.Repeat([]byte{1}, keyring.KEKSize)
	newKEK := bytes.Repeat([]byte{2}, keyring.KEKSize)
	if _, _, err := keyring.LoadOrCreateDEK(db, oldKEK); err != nil {
		log.Fatal(err)
	}

	// Rewrap the DEK; the database is not touched.
	if err := keyring.RotateKEK(db, oldKEK, newKEK); err != nil {
		log.Fatal(err) // either KEK may be in effect: keep both and retry
	}
	_, _, err := keyring.LoadOrCreateDEK(db, oldKEK)
	fmt.Println(errors.Is(err, keyring.ErrWrongKEK))
	// Output: true
}

func ExampleExportDEK() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "sessions.db")
	kek := bytes.Repeat([]byte{1}, keyring.KEKSize)
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		log.Fatal(err)
	}

	// The escrow holder runs age-keygen and hands over the public key.
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		log.Fatal(err)
	}
	escrow := filepath.Join(dir, "sessions.dek.age")
	recipients := []byte(identity.Recipient().String()) // one or more age1… keys
	if err := keyring.ExportDEK(db, kek, recipients, escrow); err != nil {
		log.Fatal(err)
	}
	// Recovery needs only age: age -d -i key.txt sessions.dek.age > dek.bin

	// Later the header is lost; ImportDEK installs the DEK under a new KEK.
	os.Remove(keyring.HeaderPath(db))
	newKEK := bytes.Repeat([]byte{2}, keyring.KEKSize)
	if err := keyring.ImportDEK(db, escrow, []byte(identity.String()), newKEK); err != nil {
		log.Fatal(err)
	}
	got, _, err := keyring.LoadOrCreateDEK(db, newKEK)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bytes.Equal(got, dek))
	// Output: true
}
