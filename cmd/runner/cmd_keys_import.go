package main

import (
	"context"
	"fmt"
	"os"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/gofastr/store/keyring"
)

func init() {
	var identityFiles []string
	register(&command{
		name:    "keys import",
		args:    "ESCROW",
		summary: "recover a store from an escrow file, under the selected KEK",
		help: `
Recovers a store whose KEK or key header is lost: decrypts the escrow file
ESCROW (made by "runner keys export") with the age identities of
--identity-file, checks the data key against the database (its key check:
the escrow of another store, or one made before a rekey, is refused), and
writes a new header <db>.dek wrapping it under the KEK the global flags
select. Also moves a store to a machine with another KEK.

If the store's header already opens with the selected KEK, the command
changes nothing when it holds the same data key and fails when it holds
another. Identities that do not match the escrow, and an escrowed key that
is not the database's, exit with status 3; nothing is changed on any
error (lock files aside).
The database must exist.

Example:
  runner --db ./agent.db --kek-file new.key keys import agent.escrow.age --identity-file escrow-key.txt`,
		flags: func(fs *pflag.FlagSet) {
			fs.StringArrayVar(&identityFiles, "identity-file", nil, "age identity `file` (from age-keygen; repeatable)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usagef("keys import: want one escrow file, got %d arguments", len(args))
			}
			if len(identityFiles) == 0 {
				return usagef("keys import: --identity-file FILE is required")
			}
			escrow := args[0]
			if _, err := os.Stat(escrow); err != nil {
				return fmt.Errorf("keys import: %w", err)
			}
			var ids []age.Identity
			for _, f := range identityFiles {
				parsed, err := keyring.ReadIdentityFile(f)
				if err != nil {
					return fmt.Errorf("keys import: --identity-file %s: %w", f, err)
				}
				ids = append(ids, parsed...)
			}
			if err := a.requireEncrypted(false); err != nil {
				return err
			}
			src, err := a.createKEKSource()
			if err != nil {
				return err
			}
			if err := keyring.ImportDEKWith(a.db, escrow, src, ids...); err != nil {
				return fmt.Errorf("keys import: %w", err)
			}
			if a.json {
				return a.printJSON(struct {
					Path      string `json:"path"`
					KEKSource string `json:"kek_source"`
				}{a.db, src.Name()})
			}
			fmt.Fprintf(a.stdout, "%s: the escrowed data key is installed under kek=%s\n", a.db, src.Name())
			return nil
		},
	})
}
