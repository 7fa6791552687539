package main

import (
	"context"
	"fmt"

	"github.com/gofastr/store/host"
)

func init() {
	register(&command{
		name:    "keys rekey",
		summary: "replace the store's data key and re-encrypt every page",
		help: `
Replaces the store's data key (DEK) with a new random one and re-encrypts
every page under it; the header stays wrapped under the KEK the global flags
select. Use it after a data key, an escrow file or an old KEK (with a copy of
an old header) may have leaked. Afterwards escrow files made before no
longer open the store: export a new one with "runner keys export".

The store must not be open anywhere: while a harness or another runner
command has it open, nothing is changed and the command fails (exit status
1) saying so. A wrong KEK exits with status 3 and changes nothing. The copy
is written beside the database and renamed over it: killed at any point, the
store opens with exactly one data key and all of its data (the next open
finishes or rolls back the rekey). Ctrl-C does not stop a rekey halfway; the
command waits for it to finish. The cost ledger has a data key of its own:
rekey it with --db pointing at it.

Takes time and space in proportion to the store (a full copy); a spinner
shows it is working on a terminal.

Example:
  runner --db ./agent.db --kek-file agent.key keys rekey`,
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("keys rekey: unexpected argument %q", args[0])
			}
			if err := a.requireEncrypted(false); err != nil {
				return err
			}
			src, err := a.kekSource()
			if err != nil {
				return err
			}
			err = a.waitSpinning(ctx, "rekeying", true, func() error { return host.Rekey(a.db, src) })
			if err != nil {
				return a.inUse("keys rekey", err)
			}
			if a.json {
				return a.printJSON(struct {
					Path      string `json:"path"`
					KEKSource string `json:"kek_source"`
				}{a.db, src.Name()})
			}
			fmt.Fprintf(a.stdout, "rekeyed %s: every page is sealed under a new data key (still wrapped under kek=%s)\n", a.db, src.Name())
			a.infof("Escrow files made before no longer open the store: run \"runner keys export\" again.")
			return nil
		},
	})
}
