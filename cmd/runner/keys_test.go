package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/keyring"
)

func init() {
	scriptCmds["holdstore"] = cmdHoldstore
	scriptCmds["releasestore"] = cmdReleasestore
	scriptCmds["mkledger"] = cmdMkledger
	scriptCmds["dekmatches"] = cmdDekmatches
	scriptCmds["rekeyloop"] = cmdRekeyloop
}

// held are the stores holdstore keeps open, by absolute path.
var held sync.Map

// cmdHoldstore opens a store in the test process, which is not the
// runner's, and keeps it open until releasestore or the end of the script:
//
//	holdstore [-kek KEYFILE] STORE
func cmdHoldstore(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! holdstore")
	}
	cfg := host.NewConfig().WithCacheDir(cacheDir)
	if len(args) == 3 && args[0] == "-kek" {
		cfg = cfg.WithKEKSource(keyring.FileKEK(ts.MkAbs(args[1])))
		args = args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: holdstore [-kek KEYFILE] STORE")
	}
	path := ts.MkAbs(args[0])
	s, err := host.OpenWithConfig(path, cfg)
	ts.Check(err)
	if _, dup := held.LoadOrStore(path, s); dup {
		s.Close()
		ts.Fatalf("holdstore: %s is already held", args[0])
	}
	ts.Defer(func() {
		if s, ok := held.LoadAndDelete(path); ok {
			s.(*host.Store).Close()
		}
	})
}

// cmdReleasestore closes a store holdstore opened:
//
//	releasestore STORE
func cmdReleasestore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: releasestore STORE")
	}
	s, ok := held.LoadAndDelete(ts.MkAbs(args[0]))
	if !ok {
		ts.Fatalf("releasestore: %s is not held", args[0])
	}
	ts.Check(s.(*host.Store).Close())
}

// cmdMkledger creates an empty cost ledger, encrypted under the key file's
// KEK with -kek:
//
//	mkledger [-kek KEYFILE] LEDGER
func cmdMkledger(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! mkledger")
	}
	cfg := host.NewConfig().WithCacheDir(cacheDir)
	if len(args) == 3 && args[0] == "-kek" {
		cfg = cfg.WithKEKSource(keyring.FileKEK(ts.MkAbs(args[1])))
		args = args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: mkledger [-kek KEYFILE] LEDGER")
	}
	l, err := host.OpenCostLedgerWithConfig(ts.MkAbs(args[0]), cfg)
	ts.Check(err)
	ts.Check(l.Close())
}

// cmdDekmatches checks that a file holding a raw 32-byte data key (as
// "age -d" recovers it from an escrow) is the key the store's database is
// sealed under, by the database's key check:
//
//	dekmatches STORE DEKFILE
func cmdDekmatches(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: [!] dekmatches STORE DEKFILE")
	}
	dek, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	if len(dek) != keyring.DEKSize {
		ts.Fatalf("%s holds %d bytes, want a %d-byte key", args[1], len(dek), keyring.DEKSize)
	}
	uses, err := pagecrypt.FileUsesKey(ts.MkAbs(args[0]), dek)
	ts.Check(err)
	switch {
	case uses && neg:
		ts.Fatalf("%s is the data key of %s", args[1], args[0])
	case !uses && !neg:
		ts.Fatalf("%s is not the data key of %s", args[1], args[0])
	}
}

// cmdRekeyloop interrupts "runner keys rekey" on an encrypted store again
// and again, at delays spread over [0, MAX), with SIGNAL (INT or KILL),
// and after every round opens the store in this process: it must open
// under the key file's KEK with every event it had, with no file of the
// rekey left behind. It logs how many rounds were killed and how many
// finished.
//
//	rekeyloop KEYFILE STORE ROUNDS MAX SIGNAL
func cmdRekeyloop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: rekeyloop KEYFILE STORE ROUNDS MAX INT|KILL")
	}
	keyFile, store := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	rounds, err := strconv.Atoi(args[2])
	ts.Check(err)
	maxDelay, err := time.ParseDuration(args[3])
	ts.Check(err)
	sig := map[string]os.Signal{"INT": os.Interrupt, "KILL": os.Kill}[args[4]]
	if sig == nil {
		ts.Fatalf("rekeyloop: unknown signal %q", args[4])
	}
	prog := ""
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if p := filepath.Join(dir, "runner"); fileExists(p) {
			prog = p
			break
		}
	}
	if prog == "" {
		ts.Fatalf("rekeyloop: no runner command in the script's PATH")
	}
	cfg := host.NewConfig().WithCacheDir(cacheDir).WithKEKSource(keyring.FileKEK(keyFile))
	events := func() int {
		s, err := host.OpenWithConfig(store, cfg)
		ts.Check(err)
		defer s.Close()
		list, err := s.ListPastSessions(context.Background(), 0)
		ts.Check(err)
		n := 0
		for _, p := range list {
			n += p.Events
		}
		return n
	}
	want := events()
	killed, finished := 0, 0
	for i := range rounds {
		cmd := exec.Command(prog, "--db", store, "--kek-file", keyFile, "keys", "rekey")
		cmd.Dir = ts.Getenv("WORK")
		cmd.Env = os.Environ()
		for _, k := range []string{"HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "GOFASTR_CACHE_DIR", "GOFASTR_KEK", "TMPDIR"} {
			cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		ts.Check(cmd.Start())
		time.Sleep(time.Duration(i) * maxDelay / time.Duration(rounds))
		_ = cmd.Process.Signal(sig)
		if err := cmd.Wait(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != -1 {
				ts.Fatalf("round %d: runner keys rekey: %v\n%s", i, err, out.String())
			}
			killed++
		} else {
			finished++
		}
		if got := events(); got != want {
			ts.Fatalf("round %d: %d events after an interrupted rekey, want %d", i, got, want)
		}
		for _, suffix := range []string{".rekey", ".dek.next"} {
			if fileExists(store + suffix) {
				ts.Fatalf("round %d: %s left after the store was opened", i, filepath.Base(store+suffix))
			}
		}
	}
	ts.Logf("rekeyloop: %d rounds killed by SIG%s, %d finished", killed, args[4], finished)
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
