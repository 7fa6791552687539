package host_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// ExampleOpenWithConfig opens an encrypted store whose data key is wrapped
// under a KEK that keyring.Resolve finds, here in a key file, with a
// smaller payload limit and a fixed clock.
func ExampleOpenWithConfig() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A key file for the example: 32 random bytes as hex, mode 0600. Real
	// callers point KeyFile at theirs, or pass a passphrase, or leave
	// Sources empty for $GOFASTR_KEK and then the machine key.
	kek := make([]byte, 32)
	rand.Read(kek)
	keyFile := filepath.Join(dir, "kek")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(kek)), 0o600); err != nil {
		log.Fatal(err)
	}
	clear(kek)

	src, err := keyring.Resolve(keyring.Sources{KeyFile: keyFile, NoMachineDefault: true})
	if err != nil {
		log.Fatal(err)
	}
	start := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	cfg := host.NewConfig().
		WithKEKSource(src).
		WithMaxPayloadSize(1 << 20).
		WithClock(func() time.Time { return start })

	s, err := host.OpenWithConfig(filepath.Join(dir, "sessions.db"), cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	// No TS: the store's clock gives it.
	if _, err := s.Append(ctx, abi.EventEnvelope{Session: "demo", Turn: 1, Kind: abi.KindUserMessage,
		Payload: json.RawMessage(`{"text":"hello"}`)}); err != nil {
		log.Fatal(err)
	}
	evs, err := s.EventsSince(ctx, "demo", 0, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range evs {
		fmt.Println(e.Kind, e.TS.UTC().Format(time.RFC3339), string(e.Payload))
	}
	// Output:
	// user_message 2025-01-02T15:04:05Z {"text":"hello"}
}
