package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// The rekey race tests run several processes against one store: two that
// rekey it in a loop, one that opens it with OpenWithKEK and appends, one
// that opens it and reads, one that rotates the KEK back and forth and one
// that exports escrow files. (Several processes appending to one store at
// once are tested by TestIDsProcesses.)
// Before the keyring had lock files, a rekey's recovery in another process
// deleted the running rekey's files, and a writer could commit to the old
// database file just before the rekey renamed the copy over it; both lost
// the store or acknowledged events.

// raceRoles is the mix of children, by the Job of their rekeyRaceArgs.
// Appender append-N writes to session "crash-N"; two of them share the
// store, as two agents on one machine do.
var raceRoles = []string{"rekey", "rekey", "append-0", "append-1", "read", "rotate", "export"}

// rekeyRaceArgs are the arguments of the rekey-race child.
type rekeyRaceArgs struct {
	Job   string // one of raceRoles
	Path  string // the store
	Until int64  // stop by itself then (Unix nanoseconds)
	Seed  uint64 // of the child's pauses and payloads
}

var _ = proc.Role("rekey-race", rekeyRaceChild)

// The two KEKs the rotating child alternates between.
var (
	raceKEK1 = bytes.Repeat([]byte{0x11}, keyring.KEKSize)
	raceKEK2 = bytes.Repeat([]byte{0x22}, keyring.KEKSize)
)

// withEitherKEK calls f with each KEK until one is not refused as the
// wrong one. The rotating child may switch the header between the two
// calls, so it tries a few times.
func withEitherKEK(f func(kek []byte) error) error {
	var err error
	for range 20 {
		for _, k := range [][]byte{raceKEK1, raceKEK2} {
			if err = f(k); !errors.Is(err, keyring.ErrWrongKEK) {
				return err
			}
		}
	}
	return err
}

// TestRekeyRace runs the mix for a bounded time and lets the children
// finish; then the store opens with its KEK and holds every event an
// appender acknowledged. Longer with GOFASTR_CRASH_ROUNDS (0.1 s a round).
func TestRekeyRace(t *testing.T) {
	proc.Skip(t)
	// 80 rounds of 0.1 s (30 with -short).
	d := time.Duration(proc.Rounds(t, 80, 30)) * 100 * time.Millisecond
	rng := proc.Rand(t, 0)
	path, cacheDir := newRaceStore(t)
	var acks []crashAck
	rekeys := 0
	// A slow machine (-race, other load) may need another period before
	// both an append and a rekey complete; at most three.
	for period := 0; period < 3 && (period == 0 || len(acks) == 0 || rekeys == 0); period++ {
		got, n := runRaceMix(t, rng, path, cacheDir, d, 0)
		acks, rekeys = append(acks, got...), rekeys+n
		verifyRaceStore(t, path, acks, period)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d acknowledged appends, %d rekeys", len(acks), rekeys)
	if len(acks) == 0 || rekeys == 0 {
		t.Fatalf("%d appends and %d rekeys completed: the test proved nothing", len(acks), rekeys)
	}
}

// TestRekeyRaceCrash runs the same mix and kills every child at a random
// moment, round after round; after each round the store opens with its
// KEK and holds every acknowledged event.
func TestRekeyRaceCrash(t *testing.T) {
	proc.Skip(t)
	rounds := proc.Rounds(t, 12, 4)
	rng := proc.Rand(t, 0)
	path, cacheDir := newRaceStore(t)
	var acks []crashAck
	rekeys := 0
	// Until an append is acknowledged (children start slowly under -race
	// on a loaded machine) rounds go on, up to 4× as many, each giving the
	// children half a second more before the kill.
	round := 0
	for ; round < rounds || len(acks) == 0 && round < 4*rounds; round++ {
		kill := time.Duration(100+rng.IntN(700)) * time.Millisecond
		if len(acks) == 0 {
			kill += time.Duration(round) * 500 * time.Millisecond
		}
		got, n := runRaceMix(t, rng, path, cacheDir, time.Minute, kill)
		acks = append(acks, got...)
		rekeys += n
		verifyRaceStore(t, path, acks, round)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d acknowledged appends and %d rekeys survived %d rounds of kills", len(acks), rekeys, round)
	if len(acks) == 0 {
		t.Fatal("no append was acknowledged: the test proved nothing")
	}
}

// newRaceStore creates the store under raceKEK1 and returns its path and
// the compilation cache the children share.
func newRaceStore(t *testing.T) (path, cacheDir string) {
	path = tempStorePath(t)
	s, err := host.OpenWithKEK(path, raceKEK1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, childCacheDir(t)
}

// runRaceMix runs runChildren with raceRoles.
func runRaceMix(t *testing.T, rng *rand.Rand, path, cacheDir string, d, kill time.Duration) (acks []crashAck, rekeys int) {
	t.Helper()
	return runChildren(t, rng, raceRoles, path, cacheDir, d, kill)
}

// runChildren starts one rekey-race child per job, each stopping by
// itself after d; if kill is non-zero, all are killed after kill instead.
// It returns the acknowledged appends and the number of completed rekeys,
// and fails the test if a child reports an error.
func runChildren(t *testing.T, rng *rand.Rand, jobs []string, path, cacheDir string, d, kill time.Duration) (acks []crashAck, rekeys int) {
	t.Helper()
	until := time.Now().Add(d).UnixNano()
	var mu sync.Mutex
	var wg sync.WaitGroup
	procs := make([]*proc.Proc, len(jobs))
	for i, job := range jobs {
		p := proc.Start(t, proc.Spec{
			Role: "rekey-race",
			Args: rekeyRaceArgs{Job: job, Path: path, Until: until, Seed: rng.Uint64()},
			Env:  childEnv(cacheDir),
		})
		procs[i] = p
		wg.Go(func() {
			readAcks(p.Stdout(), func(a crashAck, line string, err error) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					acks = append(acks, a)
				case strings.HasPrefix(line, "ack rekeyed"):
					rekeys++
				default:
					t.Errorf("%s: bad output %q", job, line)
				}
			})
		})
	}
	if kill > 0 {
		time.Sleep(kill)
		for _, p := range procs {
			p.Kill()
		}
	}
	wg.Wait()
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("%s child: %v", jobs[i], err)
		}
	}
	return acks, rekeys
}

// verifyRaceStore opens the store through the keyring, as an application
// would, and checks every acknowledged event and the file's integrity.
func verifyRaceStore(t *testing.T, path string, acks []crashAck, round int) {
	t.Helper()
	var dek []byte
	err := withEitherKEK(func(kek []byte) (err error) {
		dek, _, err = keyring.LoadOrCreateDEK(path, kek)
		return err
	})
	if err != nil {
		t.Fatalf("round %d: load the DEK: %v", round, err)
	}
	verifyStoreKey(t, path, dek, acks, round)
}

// rekeyRaceChild is a child of TestRekeyRace and TestRekeyRaceCrash: it
// does its job over and over until the time in its arguments. Acknowledged
// appends are printed as "ack ID SESSION PAYLOAD", completed rekeys as
// "ack rekeyed N".
func rekeyRaceChild() int {
	var a rekeyRaceArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	until := time.Unix(0, a.Until)
	proc.ExitWithParent(time.Until(until) + 5*time.Minute)
	path := a.Path
	rng := rand.New(rand.NewPCG(a.Seed, 0))
	pause := func(maxMS int) { time.Sleep(time.Duration(rng.IntN(maxMS*1000)) * time.Microsecond) }
	for i := 0; time.Now().Before(until); i++ {
		switch {
		case a.Job == "rekey":
			err := withEitherKEK(func(kek []byte) error { return host.Rekey(path, keyring.RawKEK(kek)) })
			switch {
			case err == nil:
				fmt.Printf("ack rekeyed %d\n", i)
			case errors.Is(err, keyring.ErrInUse):
				// The store is open elsewhere: expected, try again.
			default:
				proc.Fail("rekey: %v", err)
			}
			pause(20)
		case strings.HasPrefix(a.Job, "append-"):
			sess := abi.SessionID("crash-" + strings.TrimPrefix(a.Job, "append-"))
			var s *host.Store
			err := withEitherKEK(func(kek []byte) (err error) {
				s, err = host.OpenWithKEK(path, kek)
				return err
			})
			if err != nil {
				proc.Fail("open: %v", err)
			}
			for j := range 1 + rng.IntN(4) {
				payload := fmt.Sprintf(`{"pid":%d,"i":%d,"j":%d,"r":"%s"}`, os.Getpid(), i, j, incompressible(rng.Uint64(), 20+rng.IntN(200)))
				id, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: i, Kind: abi.KindAssistantMessage, Payload: json.RawMessage(payload)})
				if err != nil {
					proc.Fail("append: %v", err)
				}
				os.Stdout.WriteString(fmt.Sprintf("ack %d %s %s\n", id, sess, payload))
			}
			if err := s.Close(); err != nil {
				proc.Fail("close: %v", err)
			}
			pause(30)
		case a.Job == "read":
			var s *host.Store
			err := withEitherKEK(func(kek []byte) (err error) {
				s, err = host.OpenWithKEK(path, kek)
				return err
			})
			if err != nil {
				proc.Fail("open: %v", err)
			}
			if _, err := s.EventsSince(context.Background(), "crash-0", 0, 100); err != nil {
				proc.Fail("read: %v", err)
			}
			if err := s.Close(); err != nil {
				proc.Fail("close: %v", err)
			}
			pause(30)
		case a.Job == "rotate":
			from, to := raceKEK1, raceKEK2
			if i%2 == 1 {
				from, to = to, from
			}
			// A no-op if the header is already under to.
			if err := keyring.RotateKEK(path, from, to); err != nil && !errors.Is(err, keyring.ErrInUse) {
				proc.Fail("rotate: %v", err)
			}
			pause(20)
		case a.Job == "export":
			id, err := age.GenerateX25519Identity()
			if err != nil {
				proc.Fail("%v", err)
			}
			out := filepath.Join(filepath.Dir(path), fmt.Sprintf("escrow-%d-%d.age", os.Getpid(), i))
			err = withEitherKEK(func(kek []byte) error {
				return keyring.ExportDEK(path, kek, []byte(id.Recipient().String()), out)
			})
			if err != nil && !errors.Is(err, keyring.ErrInUse) {
				proc.Fail("export: %v", err)
			}
			os.Remove(out)
			pause(20)
		default:
			proc.Fail("unknown job %q", a.Job)
		}
	}
	return 0
}

// TestRekeyOpenStore checks the opener side of a rekey in one process: an
// open Store (OpenWithKEK or OpenEncrypted) makes Rekey fail with
// ErrInUse; after the store is closed, Rekey works, and a caller that
// loaded the old data key before the rekey gets a clean wrong-key error,
// never a store writing into the replaced file.
func TestRekeyOpenStore(t *testing.T) {
	path := tempStorePath(t)
	kek := raceKEK1
	s, err := host.OpenWithKEK(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	id := mustAppend(t, s, storeEvent("s1", 1, abi.KindSystem, `{"n":1}`))
	if err := host.Rekey(path, keyring.RawKEK(kek)); !errors.Is(err, keyring.ErrInUse) {
		t.Fatalf("Rekey with OpenWithKEK store open: %v, want ErrInUse", err)
	}
	s.Close()
	oldDEK, _, err := keyring.LoadOrCreateDEK(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	s, err = host.OpenEncrypted(path, host.EncryptionAtRest, oldDEK)
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Rekey(path, keyring.RawKEK(kek)); !errors.Is(err, keyring.ErrInUse) {
		t.Fatalf("Rekey with OpenEncrypted store open: %v, want ErrInUse", err)
	}
	s.Close()
	if err := host.Rekey(path, keyring.RawKEK(kek)); err != nil {
		t.Fatal(err)
	}
	if _, err := host.OpenEncrypted(path, host.EncryptionAtRest, oldDEK); !errors.Is(err, sqlitevfs.ErrWrongKey) {
		t.Fatalf("open with the data key from before the rekey: %v, want sqlitevfs.ErrWrongKey", err)
	}
	s, err = host.OpenWithKEK(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if evs := allEvents(t, s, "s1"); len(evs) != 1 || evs[0].ID != id {
		t.Fatalf("after rekey: events %v, want event %d", evs, id)
	}
}
