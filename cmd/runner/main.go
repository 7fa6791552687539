// Command runner is the operator's tool for gofastr session stores: it lists
// sessions and their events, tool calls and provider attempts, reports costs,
// checks a store's integrity and authentication, manages its keys, applies
// retention, reconciles costs against provider billing, moves sessions in and
// out as JSONL, imports Claude Code and Codex transcripts, and runs guest Wasm
// modules against a store in a sandbox.
//
// Usage:
//
//	runner [global flags] <command> [flags] [arguments]
//
// Run "runner help" for the list of commands and "runner help <command>" (or
// "runner <command> --help") for one command's flags and an example. Global
// flags may be given before or after the command name.
//
// # Exit status
//
//	0    success
//	1    an error (the message says what went wrong)
//	2    usage: an unknown command or flag, a missing or malformed argument
//	3    authentication failure or tampering: a wrong key or passphrase, or a
//	     page, WAL frame or key header that fails authentication, a
//	     plaintext database in place of an encrypted store's (its key
//	     header beside it)
//	130  interrupted (Ctrl-C); the store is left consistent
//
// The store's key-encryption key (KEK) comes from --kek-file, --passphrase,
// --kek-env (or GOFASTR_KEK), or the machine key, in that order; see
// "runner help keys".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() { os.Exit(Main()) }

// Main runs the command line in os.Args and returns the exit status. Tests
// run it as the "runner" command of their scripts.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := newApp(os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	return a.main(ctx, os.Args[1:])
}
