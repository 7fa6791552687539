package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

func init() {
	var encryptExisting bool
	register(&command{
		name:    "keys init",
		summary: "create an encrypted store, or encrypt a plaintext one",
		help: `
Creates a new, empty, encrypted store at --db: a random data key (DEK) is
made and wrapped under the key-encryption key (KEK) the global flags select
(--kek-file, --kek-env, --passphrase, else $GOFASTR_KEK, else this machine's
key file, created on first use) in the header <db>.dek. With --passphrase on a
terminal the passphrase is asked twice.

An existing plaintext store is encrypted in place only with
--encrypt-existing: every page is copied sealed under a new data key and the
copy replaces the database. Every handle on the store must be closed first;
while one is open (a harness, another runner) nothing is changed and the
command fails. Killed or interrupted at any point, the store is either the
plaintext one or the encrypted one, each with all of its data; the next open
tidies up. A plaintext cost ledger beside the store stays plaintext, and the
commands that write to it refuse it from then on: move it aside (keep it: it
holds the costs of attempts retention may have deleted) to start an
encrypted one.

An existing encrypted store is left alone (exit status 1). Afterwards,
escrow the data key with "runner keys export": without it, losing the KEK
(or the machine key file) loses the store.

Prints the store's path and the KEK source its header names.

Example:
  runner --db ./agent.db --kek-file ~/.config/agent/kek keys init
  runner --db ./old.db keys init --encrypt-existing`,
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&encryptExisting, "encrypt-existing", false, "encrypt an existing plaintext store in place")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("keys init: unexpected argument %q", args[0])
			}
			kind, err := sqlitevfs.Detect(a.db)
			if err != nil {
				return fmt.Errorf("%s: %w", a.db, err)
			}
			result := struct {
				Path      string `json:"path"`
				KEKSource string `json:"kek_source"`
				Action    string `json:"action"` // "created" or "encrypted"
			}{Path: a.db}
			switch kind {
			case sqlitevfs.FileEncrypted:
				return fmt.Errorf("keys init: %s is already an encrypted store; nothing was changed (\"runner keys status\" shows its keys)", a.db)
			case sqlitevfs.FileOther:
				return fmt.Errorf("keys init: %s: %w", a.db, host.ErrNotStore)
			case sqlitevfs.FilePlaintext:
				if !encryptExisting {
					return fmt.Errorf("keys init: %s is a plaintext store; to encrypt it in place, close every handle on it and pass --encrypt-existing", a.db)
				}
				src, err := a.createKEKSource()
				if err != nil {
					return err
				}
				err = a.waitSpinning(ctx, "encrypting", true, func() error { return host.Encrypt(a.db, src) })
				if err != nil {
					return a.inUse("keys init", err)
				}
				result.Action, result.KEKSource = "encrypted", src.Name()
			case sqlitevfs.FileMissing:
				if _, err := os.Stat(keyring.HeaderPath(a.db)); err == nil {
					return fmt.Errorf("keys init: %w: %s is missing but its key header %s exists; restore the database, or move the header away to start a new store",
						host.ErrDatabaseLost, a.db, keyring.HeaderPath(a.db))
				}
				src, err := a.createKEKSource()
				if err != nil {
					return err
				}
				s, err := a.openStore(ctx, mayCreate, false)
				if err != nil {
					return err
				}
				if err := s.Close(); err != nil {
					return err
				}
				result.Action, result.KEKSource = "created", src.Name()
			}
			if a.json {
				if err := a.printJSON(result); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "%s %s: encrypted under kek=%s\n", result.Action, a.db, result.KEKSource)
			}
			if result.KEKSource == "machine" {
				if p, err := keyring.DefaultMachineKEKPath(); err == nil {
					a.infof("The machine key is %s; losing it loses the store.", p)
				}
			}
			a.infof("Escrow the data key now, and keep the escrow away from the store: runner --db %s%s keys export --recipient age1... -o ESCROW.age", a.db, a.kekFlags())
			return nil
		},
	})
}

// kekFlags returns the KEK flags given, as they would be typed again in a
// command the user is told to run (never a key: the flags name a file, a
// variable or a prompt).
func (a *app) kekFlags() string {
	switch {
	case a.kekFile != "":
		return " --kek-file " + a.kekFile
	case a.kekEnv != "":
		return " --kek-env " + a.kekEnv
	case a.passphrase:
		return " --passphrase"
	}
	return ""
}
