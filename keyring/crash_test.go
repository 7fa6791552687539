package keyring_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/keyring"
)

// crashChildEnv makes the test binary act as the child of
// TestRotateKEKCrash: it rotates the store named by the variable back and
// forth between two KEKs until it is killed.
const crashChildEnv = "KEYRING_TEST_ROTATE_CHILD"

func crashKEK(b byte) []byte { return bytes.Repeat([]byte{b}, keyring.KEKSize) }

func rotateUntilKilled(db string) {
	cur, next := crashKEK(1), crashKEK(2)
	fmt.Println("ready")
	for {
		if err := keyring.RotateKEK(db, cur, next); err != nil {
			fmt.Fprintln(os.Stderr, "rotate:", err)
			os.Exit(3)
		}
		cur, next = next, cur
	}
}

// TestRotateKEKCrash SIGKILLs a process at random moments while it rotates
// the KEK in a loop, and checks after every kill that the header opens with
// exactly one of the two KEKs, and yields the original DEK. Set
// KEYRING_TEST_SEED to replay a run.
func TestRotateKEKCrash(t *testing.T) {
	if db := os.Getenv(crashChildEnv); db != "" {
		rotateUntilKilled(db)
		return
	}
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("cannot start processes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KEYRING_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("KEYRING_TEST_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	db := newDB(t)
	dir := filepath.Dir(db)
	dek, _, err := keyring.LoadOrCreateDEK(db, crashKEK(1))
	if err != nil {
		t.Fatal(err)
	}
	// About 25 ms a round; stop early (but after at least 50) if the
	// machine is slow.
	const rounds, minRounds = 150, 50
	deadline := time.Now().Add(15 * time.Second)
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
// and SIGKILLs it.
func kill(t *testing.T, db string, d time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRotateKEKCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+db)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q, %v; stderr: %s", line, err, stderr.String())
	}
	time.Sleep(d)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && ee.ExitCode() == 3 {
		t.Fatalf("child failed: %s", stderr.String())
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
