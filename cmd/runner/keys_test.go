package main

import (
	"os"
	"sync"

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
