package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// TestOpenRace starts openRaceProcs processes that each open a fresh path
// at the same moment, round after round, with host.Open, host.OpenWithKEK
// and host.OpenEncrypted in turn. Every open must succeed and every store be valid
// afterwards, and every child see the ID the store keeps (its migration
// draws it once). Before migrate checked and created the schema in one write
// transaction, a racing open failed with "table events already exists",
// "database is locked" or ErrNotStore.
func TestOpenRace(t *testing.T) {
	proc.Skip(t)
	rounds := crashRounds(t, 45, 18)
	// Children start within startDelay (they compile or load the SQLite
	// module first); then a round begins every interval.
	const startDelay, interval = 2 * time.Second, 250 * time.Millisecond
	args := openRaceArgs{
		Dir:      t.TempDir(),
		T0:       time.Now().Add(startDelay).UnixNano(),
		Rounds:   rounds,
		Interval: interval,
	}
	dir := args.Dir
	env := childEnv(childCacheDir(t))
	var wg sync.WaitGroup
	for p := range openRaceProcs {
		wg.Go(func() {
			if _, err := proc.Run(t, proc.Spec{Role: "open-race", Args: args, Env: env}); err != nil {
				t.Errorf("child %d: %v", p, err)
			}
		})
	}
	wg.Wait()
	for r := range rounds {
		path := openRacePath(dir, r)
		s, err := openRaceOpen(r, path)
		if err != nil {
			t.Errorf("round %d: reopen: %v", r, err)
			continue
		}
		// Every child saw the ID the store keeps.
		seen, err := filepath.Glob(filepath.Join(filepath.Dir(path), "id-*"))
		if err != nil || len(seen) != openRaceProcs {
			t.Errorf("round %d: %d children wrote the ID they saw (%v), want %d", r, len(seen), err, openRaceProcs)
		}
		for _, f := range seen {
			if b, err := os.ReadFile(f); err != nil || string(b) != s.ID() {
				t.Errorf("round %d: %s saw the store ID %q (%v), the store has %s", r, filepath.Base(f), b, err, s.ID())
			}
		}
		mustAppend(t, s, storeEvent("open-race", 1, "user_message", `{"text":"hello"}`))
		if err := s.Close(); err != nil {
			t.Errorf("round %d: close: %v", r, err)
		}
		switch r % 3 {
		case 1:
			dek, _, err := keyring.LoadOrCreateDEK(path, raceKEK1)
			if err != nil {
				t.Fatal(err)
			}
			checkIntegrity(t, path, dek)
		case 2:
			checkIntegrity(t, path, storeTestKey)
		}
	}
}

const openRaceProcs = 4

// openRaceArgs are the arguments of the open-race child.
type openRaceArgs struct {
	Dir      string        // the rounds' stores are under Dir (openRacePath)
	T0       int64         // round 0 starts at T0 (Unix nanoseconds)
	Rounds   int           // rounds
	Interval time.Duration // a round starts every Interval
}

var _ = proc.Role("open-race", openRaceChild)

// openRaceOpen opens path the way round r does: host.Open, host.OpenWithKEK
// or host.OpenEncrypted in turn.
func openRaceOpen(r int, path string) (*host.Store, error) {
	switch r % 3 {
	case 0:
		return host.Open(path)
	case 1:
		return host.OpenWithKEK(path, raceKEK1)
	}
	return host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
}

func openRacePath(dir string, round int) string {
	return filepath.Join(dir, fmt.Sprintf("r%02d", round), "sessions.db")
}

// openRaceChild is a child process of TestOpenRace: at the start of each
// round it opens that round's path (see openRaceOpen), reads from the
// store and closes it. Every failure is reported, then the child fails.
func openRaceChild() int {
	var a openRaceArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	failed := false
	errorf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "FAIL: open-race: "+format+"\n", args...)
		failed = true
	}
	for r := range a.Rounds {
		time.Sleep(time.Until(time.Unix(0, a.T0).Add(time.Duration(r) * a.Interval)))
		path := openRacePath(a.Dir, r)
		s, err := openRaceOpen(r, path)
		if err != nil {
			errorf("round %d: open: %v", r, err)
			continue
		}
		if _, err := s.ListPastSessions(context.Background(), 10); err != nil {
			errorf("round %d: read: %v", r, err)
		}
		idFile := filepath.Join(filepath.Dir(path), fmt.Sprintf("id-%d", os.Getpid()))
		if err := os.WriteFile(idFile, []byte(s.ID()), 0o600); err != nil {
			errorf("round %d: %v", r, err)
		}
		if err := s.Close(); err != nil {
			errorf("round %d: close: %v", r, err)
		}
	}
	if failed {
		return proc.FailStatus
	}
	return 0
}
