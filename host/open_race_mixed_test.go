package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/sqlitevfs"
)

// TestOpenRaceMixed starts processes that open a fresh path at the same
// moment, round after round, half of them with host.Open (plaintext) and
// half with host.OpenWithKEK, and each appends an event when its open
// succeeds. One kind must win each round: its opens succeed, the others
// fail with the typed error of the wrong kind (ErrEncryptedStore,
// ErrPlaintextStore), and the store then opens as the winner's kind with
// every acknowledged event. Before plaintext creation took the header
// lock, a plaintext database could be left beside a DEK header, refused
// by every open with keyring.ErrHeaderExists after a write to it had been
// acknowledged.
func TestOpenRaceMixed(t *testing.T) {
	proc.Skip(t)
	rounds := crashRounds(t, 40, 12)
	const startDelay, interval = 2 * time.Second, 250 * time.Millisecond
	dir := t.TempDir()
	env := childEnv(childCacheDir(t))
	kinds := []string{"plain", "kek", "plain", "kek"}
	t0 := time.Now().Add(startDelay).UnixNano()
	var wg sync.WaitGroup
	for _, kind := range kinds {
		args := mixedRaceArgs{Dir: dir, T0: t0, Rounds: rounds, Interval: interval, Kind: kind}
		wg.Go(func() {
			if _, err := proc.Run(t, proc.Spec{Role: "open-race-mixed", Args: args, Env: env}); err != nil {
				t.Errorf("%s child: %v", kind, err)
			}
		})
	}
	wg.Wait()
	wins := map[string]int{}
	for r := range rounds {
		path := openRacePath(dir, r)
		kind, err := sqlitevfs.Detect(path)
		if err != nil {
			t.Errorf("round %d: %v", r, err)
			continue
		}
		winner := map[sqlitevfs.FileKind]string{sqlitevfs.FilePlaintext: "plain", sqlitevfs.FileEncrypted: "kek"}[kind]
		if winner == "" {
			t.Errorf("round %d: the database is %v, want a plaintext or encrypted store", r, kind)
			continue
		}
		wins[winner]++
		oks, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "ok-*"))
		losts, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "lost-*"))
		if len(oks)+len(losts) != len(kinds) {
			t.Errorf("round %d: %d children reported (%v %v), want %d", r, len(oks)+len(losts), oks, losts, len(kinds))
		}
		for _, f := range oks {
			if !strings.HasPrefix(filepath.Base(f), "ok-"+winner+"-") {
				t.Errorf("round %d: the store is %s, but %s succeeded", r, winner, filepath.Base(f))
			}
		}
		for _, f := range losts {
			if strings.HasPrefix(filepath.Base(f), "lost-"+winner+"-") {
				t.Errorf("round %d: the store is %s, but %s failed", r, winner, filepath.Base(f))
			}
		}
		if _, err := os.Stat(path + ".dek"); (err == nil) != (winner == "kek") {
			t.Errorf("round %d: a %s store, DEK header stat: %v", r, winner, err)
		}
		s, err := mixedRaceOpen(winner, path)
		if err != nil {
			t.Errorf("round %d: reopen the %s store: %v", r, winner, err)
			continue
		}
		evs, err := s.EventsSince(context.Background(), "mixed", 0, 100)
		if err != nil || len(evs) != len(oks) {
			t.Errorf("round %d: %d events, %v; want one per successful open (%d)", r, len(evs), err, len(oks))
		}
		s.Close()
	}
	t.Logf("%d rounds of %d racing first opens: plaintext won %d, encrypted %d", rounds, len(kinds), wins["plain"], wins["kek"])
}

// mixedRaceArgs are the arguments of the open-race-mixed child.
type mixedRaceArgs struct {
	Dir      string        // the rounds' stores are under Dir (openRacePath)
	T0       int64         // round 0 starts at T0 (Unix nanoseconds)
	Rounds   int           // rounds
	Interval time.Duration // a round starts every Interval
	Kind     string        // "plain": host.Open; "kek": host.OpenWithKEK
}

var _ = proc.Role("open-race-mixed", mixedRaceChild)

func mixedRaceOpen(kind, path string) (*host.Store, error) {
	if kind == "plain" {
		return host.Open(path)
	}
	return host.OpenWithKEK(path, raceKEK1)
}

// mixedRaceChild is a child of TestOpenRaceMixed: at the start of each
// round it opens that round's path as its kind, appends an event and
// writes ok-<kind>-<pid>, or, when the open fails with the typed error of
// the other kind, lost-<kind>-<pid>. Any other failure fails the child.
func mixedRaceChild() int {
	var a mixedRaceArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	failed := false
	errorf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "FAIL: open-race-mixed: "+format+"\n", args...)
		failed = true
	}
	wrongKind := host.ErrEncryptedStore
	if a.Kind == "kek" {
		wrongKind = host.ErrPlaintextStore
	}
	for r := range a.Rounds {
		time.Sleep(time.Until(time.Unix(0, a.T0).Add(time.Duration(r) * a.Interval)))
		path := openRacePath(a.Dir, r)
		report := func(outcome, text string) {
			f := filepath.Join(filepath.Dir(path), fmt.Sprintf("%s-%s-%d", outcome, a.Kind, os.Getpid()))
			if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
				errorf("round %d: %v", r, err)
			}
		}
		s, err := mixedRaceOpen(a.Kind, path)
		if errors.Is(err, wrongKind) {
			report("lost", err.Error())
			continue
		}
		if err != nil {
			errorf("round %d: open %s: %v", r, a.Kind, err)
			continue
		}
		if _, err := s.Append(context.Background(), storeEvent("mixed", 1, "user_message", fmt.Sprintf(`{"pid":%d}`, os.Getpid()))); err != nil {
			errorf("round %d: append: %v", r, err)
		} else {
			report("ok", "")
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
