package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/gofastr/store/keyring"
)

func init() {
	var nk newKEK
	register(&command{
		name:    "keys rotate",
		summary: "rewrap the store's data key under a new KEK",
		help: `
Rewraps the store's data key (DEK) under a new key-encryption key (KEK): the
current KEK comes from the global flags (--kek-file, --kek-env, --passphrase,
else $GOFASTR_KEK, else the machine key), the new one from exactly one of
--new-kek-file, --new-kek-env, --new-passphrase and --new-machine. Only the
header <db>.dek is rewritten, atomically; the data is not touched, the store
may stay open elsewhere, and escrow files remain valid. The cost ledger
beside the store (--ledger) is rotated the same way when it has a header.

With --passphrase and --new-passphrase both read from stdin (not a
terminal), the current passphrase is the first line and the new one the
second. On a terminal the new passphrase is asked twice.

A wrong current KEK exits with status 3 and changes nothing. Running the
command again after a failure is safe: a header already under the new KEK
is left as it is. Rotation does not change the data key: after a DEK or
old-KEK compromise, use "runner keys rekey".

Example:
  runner --db ./agent.db --kek-file old.key keys rotate --new-kek-file new.key
  runner --db ./agent.db keys rotate --new-passphrase`,
		flags: nk.flags,
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("keys rotate: unexpected argument %q", args[0])
			}
			if err := a.requireEncrypted(true); err != nil {
				return err
			}
			oldSrc, err := a.kekSource()
			if err != nil {
				return err
			}
			newSrc, err := nk.source(a, "keys rotate")
			if err != nil {
				return err
			}
			before, _ := os.ReadFile(keyring.HeaderPath(a.db))
			if err := keyring.RotateKEKWith(a.db, oldSrc, newSrc); err != nil {
				return fmt.Errorf("keys rotate: %s: %w", a.db, err)
			}
			// A rotation retried after it took effect writes nothing.
			changed := true
			if after, err := os.ReadFile(keyring.HeaderPath(a.db)); err == nil && bytes.Equal(before, after) {
				changed = false
			}
			result := struct {
				Path      string `json:"path"`
				KEKSource string `json:"kek_source"`
				Ledger    string `json:"ledger,omitempty"`
			}{Path: a.db, KEKSource: newSrc.Name()}
			if _, err := os.Stat(keyring.HeaderPath(a.ledger)); err == nil {
				if err := keyring.RotateKEKWith(a.ledger, oldSrc, newSrc); err != nil {
					return fmt.Errorf("keys rotate: the store %s now uses kek=%s, but its cost ledger %s was not rotated (run the same command again): %w",
						a.db, newSrc.Name(), a.ledger, err)
				}
				result.Ledger = a.ledger
			} else {
				a.debugf("no encrypted cost ledger at %s; only the store was rotated", a.ledger)
			}
			if a.json {
				return a.printJSON(result)
			}
			if changed {
				fmt.Fprintf(a.stdout, "rotated %s to kek=%s\n", a.db, newSrc.Name())
			} else {
				fmt.Fprintf(a.stdout, "%s: already under kek=%s; nothing changed\n", a.db, newSrc.Name())
			}
			if result.Ledger != "" {
				fmt.Fprintf(a.stdout, "rotated %s to kek=%s\n", result.Ledger, newSrc.Name())
			}
			return nil
		},
	})
}
