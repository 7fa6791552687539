package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
	"github.com/gofastr/store/keyring"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"runner": func() { os.Exit(Main()) },
	})
}

// cacheDir is shared by every script so that SQLite is compiled once.
var cacheDir string

// TestScripts runs the command-line scripts in testdata/script: each runs
// the runner as a separate process in a fresh directory whose HOME and XDG
// directories are private to it.
func TestScripts(t *testing.T) {
	if raceEnabled && testing.Short() {
		// Every script line runs the race-instrumented test binary as a
		// new process (SQLite compiled, keys derived): 5 to 10 times the
		// cost, for a command line that is one goroutine. The library
		// under it runs its own tests with -race.
		t.Skip("the scripts run in the plain test run; with -race -short they would only repeat it at several times the cost")
	}
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			home := env.WorkDir + "/home"
			env.Setenv("HOME", home)
			env.Setenv("XDG_STATE_HOME", home+"/.local/state")
			env.Setenv("XDG_CONFIG_HOME", home+"/.config")
			env.Setenv("XDG_CACHE_HOME", home+"/.cache")
			env.Setenv("GOFASTR_CACHE_DIR", cacheDir)
			env.Setenv("GOFASTR_KEK", "")
			env.Setenv("REPO", repo)
			return nil
		},
		Cmds:      scriptCmds,
		Condition: scriptCondition,
	})
}

// scriptConds are the conditions scripts have besides testscript's own
// ([linux], [exec:prog], …); a test file adds its own from its init
// function.
var scriptConds = map[string]func() bool{}

// scriptCondition evaluates a condition of scriptConds.
func scriptCondition(cond string) (bool, error) {
	if f, ok := scriptConds[cond]; ok {
		return f(), nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// scriptCmds are the commands scripts have besides testscript's own; a
// test file adds its own from its init function.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"mkstore":  cmdMkstore,
	"storesum": cmdStoresum,
	"exits":    cmdExits,
}

// cmdMkstore creates a store from the recorded sessions in testdata:
//
//	mkstore [-kek KEYFILE] STORE
//
// plaintext without -kek; encrypted under the key file's KEK with it.
func cmdMkstore(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! mkstore")
	}
	cfg := host.NewConfig().WithCacheDir(cacheDir)
	if len(args) == 3 && args[0] == "-kek" {
		cfg = cfg.WithKEKSource(keyring.FileKEK(ts.MkAbs(args[1])))
		args = args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: mkstore [-kek KEYFILE] STORE")
	}
	s, err := host.OpenWithConfig(ts.MkAbs(args[0]), cfg)
	ts.Check(err)
	defer s.Close()
	files, err := filepath.Glob(filepath.Join(ts.Getenv("REPO"), "testdata", "sessions", "*.jsonl"))
	ts.Check(err)
	if len(files) == 0 {
		ts.Fatalf("no recorded sessions in testdata/sessions")
	}
	for _, f := range files {
		r, err := os.Open(f)
		ts.Check(err)
		_, err = jsonl.Import(context.Background(), s, r)
		r.Close()
		ts.Check(err)
	}
}

// cmdStoresum writes the SHA-256 of each durable file of a store (the
// database, its WAL and journal, its DEK header) that exists to OUT, so
// that a script can check a failed command left the store unchanged:
//
//	storesum STORE OUT
//	... a command that must change nothing ...
//	storesum STORE OUT2
//	cmp OUT OUT2
func cmdStoresum(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: storesum STORE OUT")
	}
	path := ts.MkAbs(args[0])
	var b strings.Builder
	for _, suffix := range []string{"", "-wal", "-journal", ".dek"} {
		data, err := os.ReadFile(path + suffix)
		if os.IsNotExist(err) {
			continue
		}
		ts.Check(err)
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(data), filepath.Base(path+suffix))
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(b.String()), 0o600))
}

// cmdExits runs a program like exec and checks its exit status; stdout and
// stderr are then checked with the stdout and stderr commands as usual:
//
//	exits 3 runner --db s.db --kek-file wrong.key sessions
//	stderr 'wrong KEK'
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
