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

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// ExampleEncrypt converts a plaintext store into an encrypted one in
// place. Every handle must be closed first; afterwards the store opens
// with its KEK, and Open refuses it.
func ExampleEncrypt() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.db")

	// A plaintext store with one event.
	s, err := host.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	_, err = s.Append(context.Background(), abi.EventEnvelope{
		Session: "demo", Turn: 1, Kind: abi.KindUserMessage,
		Payload: json.RawMessage(`{"text":"hello"}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	kek := bytes.Repeat([]byte{7}, keyring.KEKSize) // in practice: from keyring.Resolve

	// While the store is open, Encrypt refuses and changes nothing.
	err = host.Encrypt(path, keyring.RawKEK(kek))
	fmt.Println("while open:", errors.Is(err, keyring.ErrInUse))
	s.Close()

	if err := host.Encrypt(path, keyring.RawKEK(kek)); err != nil {
		log.Fatal(err)
	}
	_, err = host.Open(path)
	fmt.Println("plaintext open:", errors.Is(err, host.ErrEncryptedStore))

	s, err = host.OpenWithKEK(path, kek)
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
	// Output:
	// while open: true
	// plaintext open: true
	// 1 user_message {"text":"hello"}
}
