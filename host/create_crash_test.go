package host_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// TestCreateCrash kills, with SIGKILL at a random moment, a process that
// creates new encrypted stores and cost ledgers one after the other. Every
// path it began must open afterwards: a creation the child finished keeps
// its store (the same ID), and one cut short between the DEK header and
// the database is discarded and created again. Before the creation marker
// (<path>.dek.creating), a kill there left a header beside an empty
// database or a hot journal, which every later open refused
// (ErrDatabaseLost, "not an encrypted database").
func TestCreateCrash(t *testing.T) {
	proc.Skip(t)
	dir := t.TempDir()
	env := childEnv(childCacheDir(t))
	interrupted, finished := 0, 0
	rng := proc.Rand(t, 1)
	total := proc.Rounds(t, 20, 5)
	for round := 0; round < total || interrupted == 0 && round < 4*total; round++ {
		kind := []string{"store", "ledger"}[round%2]
		rdir := filepath.Join(dir, fmt.Sprintf("r%02d", round))
		p := proc.Start(t, proc.Spec{Role: "create-loop", Args: createLoopArgs{Dir: rdir, Kind: kind}, Env: env})
		done := map[string]string{} // path → ID the child saw
		lines := make(chan string, 64)
		go func() {
			p.Lines(func(l string) { lines <- l })
			close(lines)
		}()
		// Let the child warm up (its first creation compiles or loads
		// SQLite), then kill it at a random moment of a later creation.
		killed := false
		killDone := make(chan struct{})
		for l := range lines {
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "done" {
				done[f[1]] = f[2]
			}
			if !killed && len(done) >= 1 {
				d := time.Duration(rng.Int64N(int64(150 * time.Millisecond)))
				go func() { p.KillAfter(d); close(killDone) }()
				killed = true
			}
		}
		if killed {
			<-killDone
		}
		if err := p.Wait(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		paths, _ := filepath.Glob(filepath.Join(rdir, "*", "x.db.dek*"))
		seen := map[string]bool{}
		for _, h := range paths {
			path := filepath.Join(filepath.Dir(h), "x.db")
			if seen[path] {
				continue
			}
			seen[path] = true
			if _, err := os.Stat(keyring.HeaderPath(path) + ".creating"); err == nil {
				interrupted++
			} else if _, ok := done[path]; ok {
				finished++
			}
			id, err := createLoopOpen(kind, path)
			if err != nil {
				names := []string{}
				ents, _ := os.ReadDir(filepath.Dir(path))
				for _, e := range ents {
					if fi, err := e.Info(); err == nil {
						names = append(names, fmt.Sprintf("%s:%d", e.Name(), fi.Size()))
					}
				}
				t.Fatalf("round %d: %s %s does not open after the kill: %v; files %v", round, kind, path, err, names)
			}
			if want, ok := done[path]; ok && kind == "store" && id != want {
				t.Fatalf("round %d: %s was created (ID %s) but opens with ID %s: a finished creation was discarded", round, path, want, id)
			}
			if _, err := os.Stat(keyring.HeaderPath(path) + ".creating"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("round %d: %s: the creation marker is still there after an open: %v", round, path, err)
			}
		}
	}
	t.Logf("%d rounds (set %s to change)", total, proc.EnvRounds)
	t.Logf("%d interrupted creations recovered, %d finished ones kept", interrupted, finished)
	if interrupted == 0 {
		t.Error("no kill landed inside a creation: the test proved nothing")
	}
}

// createLoopArgs are the arguments of the create-loop child.
type createLoopArgs struct {
	Dir  string // stores are created at Dir/<i>/x.db
	Kind string // "store" or "ledger"
}

var _ = proc.Role("create-loop", createLoopChild)

// createLoopOpen opens (creating) the store or ledger at path under
// raceKEK1 and returns its ID (a ledger's is empty).
func createLoopOpen(kind, path string) (string, error) {
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(raceKEK1))
	if kind == "ledger" {
		l, err := host.OpenCostLedgerWithConfig(path, cfg)
		if err != nil {
			return "", err
		}
		return "", l.Close()
	}
	s, err := host.OpenWithConfig(path, cfg)
	if err != nil {
		return "", err
	}
	id := s.ID()
	return id, s.Close()
}

// createLoopChild creates stores (or ledgers) at new paths until it is
// killed, printing "done <path> <id>" after each.
func createLoopChild() int {
	var a createLoopArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	for i := 0; ; i++ {
		path := filepath.Join(a.Dir, fmt.Sprint(i), "x.db")
		id, err := createLoopOpen(a.Kind, path)
		if err != nil {
			proc.Fail("create %s: %v", path, err)
		}
		if id == "" {
			id = "-"
		}
		fmt.Printf("done %s %s\n", path, id)
	}
}
