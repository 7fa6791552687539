package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["mkguest"] = cmdMkguest
	scriptCmds["writefile"] = cmdWritefile
}

// cmdWritefile writes TEXT to FILE without a final newline (a file of a
// txtar archive always ends with one):
//
//	writefile FILE TEXT
func cmdWritefile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: writefile FILE TEXT")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(args[1]), 0o644))
}

var (
	guestsMu    sync.Mutex
	guestsBuilt = map[string]string{} // package → built module
	guestsDir   string
)

// cmdMkguest builds a guest package of the repository for wasip1 (once per
// test binary, with the test's environment and Go build cache) and copies
// the module into the script's directory:
//
//	mkguest guest/examples/replay replay.wasm
//
// A script that uses it begins with "[!exec:go] skip 'why'".
func cmdMkguest(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkguest PACKAGE OUT.wasm")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		ts.Fatalf("no go command to build the wasip1 guest %s (begin the script with [!exec:go] skip)", args[0])
	}
	guestsMu.Lock()
	defer guestsMu.Unlock()
	mod, ok := guestsBuilt[args[0]]
	if !ok {
		if guestsDir == "" {
			guestsDir, err = os.MkdirTemp("", "runner-guests-")
			ts.Check(err)
		}
		mod = filepath.Join(guestsDir, strings.ReplaceAll(args[0], "/", "_")+".wasm")
		cmd := exec.Command(goCmd, "build", "-trimpath", "-o", mod, "./"+args[0])
		cmd.Dir = ts.Getenv("REPO")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			ts.Fatalf("go build %s: %v\n%s", args[0], err, out)
		}
		guestsBuilt[args[0]] = mod
	}
	b, err := os.ReadFile(mod)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
	fmt.Fprintf(ts.Stdout(), "built %s\n", args[0])
}
