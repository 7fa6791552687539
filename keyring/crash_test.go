package keyring_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// Children of this package's tests run in a role registered with
// proc.Role (see package internal/testkit/proc).
func init() { proc.Dispatch() }

func crashKEK(b byte) []byte { return bytes.Repeat([]byte{b}, keyring.KEKSize) }

// rotateArgs are the arguments of the rotate-kek child.
type rotateArgs struct {
	DB string // the store whose header the child rotates
}

var _ = proc.Role("rotate-kek", rotateUntilKilled)

// rotateUntilKilled is the child of TestRotateKEKCrash: it rotates the
// store's KEK back and forth between two KEKs until it is killed.
func rotateUntilKilled() int {
	proc.ExitWithParent(5 * time.Minute)
	var a rotateArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	db := a.DB
	cur, next := crashKEK(1), crashKEK(2)
	fmt.Println("ready")
	for {
		if err := keyring.RotateKEK(db, cur, next); err != nil {
			proc.Fail("rotate: %v", err)
		}
		cur, next = next, cur
	}
}

// TestRotateKEKCrash SIGKILLs a process at random moments while it rotates
// the KEK in a loop, and checks after every kill that the header opens with
// exactly one of the two KEKs, and yields the original DEK. Set
// GOFASTR_TEST_SEED to replay a run, GOFASTR_CRASH_ROUNDS to change the
// number of rounds.
func TestRotateKEKCrash(t *testing.T) {
	proc.Skip(t)
	rng := proc.Rand(t, 0)

	db := newDB(t)
	dir := filepath.Dir(db)
	dek, _, err := keyring.LoadOrCreateDEK(db, crashKEK(1))
	if err != nil {
		t.Fatal(err)
	}
	// About 25 ms a round; stop early (but after at least a third) if the
	// machine is slow, unless GOFASTR_CRASH_ROUNDS asks for a number.
	rounds := proc.Rounds(t, 150, 150)
	minRounds := rounds / 3
	deadline := time.Now().Add(15 * time.Second)
	if os.Getenv(proc.EnvRounds) != "" {
		deadline = time.Now().Add(time.Hour)
	}
	var opened [3]int // by KEK 1 or 2
	strays := 0
	round := 0
	for ; round < rounds; round++ {
		if time.Now().After(deadline) {
			if round < minRounds {
				t.Fatalf("only %d rounds in 15s", round)
			}
			break
		}
		kill(t, db, time.Duration(rng.IntN(4000))*time.Microsecond)

		var which []int
		for _, k := range []byte{1, 2} {
			got, _, err := keyring.LoadOrCreateDEK(db, crashKEK(k))
			switch {
			case err == nil && bytes.Equal(got, dek):
				which = append(which, int(k))
				opened[k]++
			case err == nil:
				t.Fatalf("round %d: KEK %d opens the header but yields another DEK", round, k)
			case !errors.Is(err, keyring.ErrWrongKEK):
				t.Fatalf("round %d: KEK %d: %v", round, k, err)
			}
		}
		if len(which) != 1 {
			t.Fatalf("round %d: header opens with KEKs %v, want exactly one", round, which)
		}
		strays = countTemps(t, dir)
	}
	t.Logf("%d rounds: KEK 1 opened %d times, KEK 2 %d times; %d temporary files left behind",
		round, opened[1], opened[2], strays)
	if opened[1] == 0 || opened[2] == 0 {
		t.Errorf("the child never completed a rotation in one of the directions")
	}

	// Leftover temporary files do not disturb later operations.
	k3 := crashKEK(3)
	cur := crashKEK(1)
	if got, _, _ := keyring.LoadOrCreateDEK(db, cur); got == nil {
		cur = crashKEK(2)
	}
	if err := keyring.RotateKEK(db, cur, k3); err != nil {
		t.Fatal(err)
	}
	if got, _, err := keyring.LoadOrCreateDEK(db, k3); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("after the crash loop: err=%v, same DEK %v", err, bytes.Equal(got, dek))
	}
}

// kill starts a rotating child, waits until it runs, lets it rotate for d
// and kills it.
func kill(t *testing.T, db string, d time.Duration) {
	t.Helper()
	p := proc.Start(t, proc.Spec{Role: "rotate-kek", Args: rotateArgs{DB: db}})
	line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
	if err != nil || line != "ready\n" {
		p.Kill()
		t.Fatalf("child did not start: %q, %v; %v", line, err, p.Wait())
	}
	p.KillAfter(d)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

func countTemps(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			n++
		}
	}
	return n
}
