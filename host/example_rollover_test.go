package host_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// ExampleNewMonthlyRolloverWithConfig keeps one encrypted store per month,
// each with its own data key under one KEK. A session that runs past
// midnight of the 1st reads back as one, its events in ID order; months
// that ended before a horizon are deleted with their keys, pinned
// sessions copied forward first.
func ExampleNewMonthlyRolloverWithConfig() {
	dir, err := os.MkdirTemp("", "gofastr-rollover-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	kek := make([]byte, 32)
	rand.Read(kek)
	// A clock the example moves by hand; real callers leave the default.
	var mu sync.Mutex
	now := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }

	m, err := host.NewMonthlyRolloverWithConfig(dir,
		host.NewConfig().WithKEKSource(keyring.RawKEK(kek)).WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	ctx := context.Background()
	say := func(text string) {
		if _, err := m.Append(ctx, abi.EventEnvelope{Session: "demo", Kind: abi.KindUserMessage,
			Payload: json.RawMessage(fmt.Sprintf(`{"text":%q}`, text))}); err != nil {
			log.Fatal(err)
		}
	}
	say("before midnight")
	setClock(time.Date(2027, 1, 1, 0, 1, 0, 0, time.UTC))
	say("after midnight")

	files, err := m.ListArchives()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	evs, err := m.EventsSince(ctx, "demo", 0, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range evs {
		fmt.Println(e.TS.UTC().Format("2006-01-02 15:04"), string(e.Payload))
	}

	// Keep the session, then delete December.
	if err := m.Pin(ctx, "demo"); err != nil {
		log.Fatal(err)
	}
	dropped, err := m.DropMonthsBefore(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("dropped", len(dropped), "month")
	if evs, err = m.EventsSince(ctx, "demo", 0, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(evs), "events of the pinned session remain")
	// Output:
	// sessions-202612.db
	// sessions-202701.db
	// 2026-12-31 23:59 {"text":"before midnight"}
	// 2027-01-01 00:01 {"text":"after midnight"}
	// dropped 1 month
	// 2 events of the pinned session remain
}
