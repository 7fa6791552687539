package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// rekeyExampleStore creates an encrypted store at path under kek holding one
// event, and closes it.
func rekeyExampleStore(path string, kek []byte) {
	s, err := host.OpenWithKEK(path, kek)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	_, err = s.Append(context.Background(), abi.EventEnvelope{
		Session: "demo", Turn: 1, Kind: abi.KindUserMessage,
		Payload: json.RawMessage(`{"text":"hello"}`),
	})
	if err != nil {
		log.Fatal(err)
	}
}

// rekeyExampleEvents opens the store at path under kek and prints its events.
func rekeyExampleEvents(path string, kek []byte) {
	s, err := host.OpenWithKEK(path, kek)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	evs, err := s.EventsSince(context.Background(), "demo", 0, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range evs {
		fmt.Printf("%d %s %s\n", e.ID, e.Kind, e.Payload)
	}
}

// ExampleRekey replaces the data key of a closed store: every page is
// re-encrypted under a new key, and the KEK stays the same.
func ExampleRekey() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.db")
	kek := bytes.Repeat([]byte{7}, keyring.KEKSize) // in practice: from keyring.Resolve
	rekeyExampleStore(path, kek)

	// While a Store is open on the path, Rekey refuses.
	s, err := host.OpenWithKEK(path, kek)
	if err != nil {
		log.Fatal(err)
	}
	err = host.Rekey(path, keyring.RawKEK(kek))
	fmt.Println("while open:", errors.Is(err, keyring.ErrInUse))
	s.Close()

	before, _, err := keyring.LoadOrCreateDEK(path, kek)
	if err != nil {
		log.Fatal(err)
	}
	if err := host.Rekey(path, keyring.RawKEK(kek)); err != nil {
		log.Fatal(err)
	}
	after, _, err := keyring.LoadOrCreateDEK(path, kek)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new data key:", !bytes.Equal(before, after))

	// The old data key no longer opens the store; the KEK still does.
	_, err = host.OpenEncrypted(path, host.EncryptionAtRest, before)
	fmt.Println("old data key refused:", err != nil)
	rekeyExampleEvents(path, kek)
	// Output:
	// while open: true
	// new data key: true
	// old data key refused: true
	// 1 user_message {"text":"hello"}
}

// Example_escrow exports a store's data key to an age recipient, loses the
// key header, and imports the escrowed key back under a new KEK: the store
// opens with the same data. The escrow file can also be decrypted with the
// stock tool: age -d -i key.txt escrow.age.
func Example_escrow() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.db")
	kek := bytes.Repeat([]byte{7}, keyring.KEKSize)
	rekeyExampleStore(path, kek)

	// The escrow holder's age key pair; keep the identity offline.
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		log.Fatal(err)
	}
	escrow := filepath.Join(dir, "sessions.db.escrow.age")
	if err := keyring.ExportDEK(path, kek, []byte(identity.Recipient().String()), escrow); err != nil {
		log.Fatal(err)
	}

	// The header is lost (and with it the wrapped data key).
	if err := os.Remove(keyring.HeaderPath(path)); err != nil {
		log.Fatal(err)
	}
	_, err = host.OpenWithKEK(path, kek)
	fmt.Println("without the header:", errors.Is(err, keyring.ErrNoHeader))

	// Recover: install the escrowed key under a new KEK.
	newKEK := bytes.Repeat([]byte{8}, keyring.KEKSize)
	if err := keyring.ImportDEK(path, escrow, []byte(identity.String()), newKEK); err != nil {
		log.Fatal(err)
	}
	rekeyExampleEvents(path, newKEK)
	// Output:
	// without the header: true
	// 1 user_message {"text":"hello"}
}
