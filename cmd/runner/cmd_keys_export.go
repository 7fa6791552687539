package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/spf13/pflag"

	"github.com/gofastr/store/keyring"
)

func init() {
	var (
		recipients      []string
		recipientsFiles []string
		output          string
	)
	register(&command{
		name:    "keys export",
		summary: "escrow the store's data key to age recipients",
		help: `
Writes the store's data key (DEK), encrypted to one or more age recipients,
to a new escrow file (-o). Whoever holds one of the matching age identities
can recover the store with "runner keys import" if its KEK or header is
lost; the stock age tool decrypts the file too (its plaintext is the raw
32-byte key: age -d -i key.txt FILE > dek.bin). An escrow file stays valid
across KEK rotations and becomes obsolete after "runner keys rekey".

Recipients are age public keys ("age1...", or "age1pq1..." post-quantum
hybrid; all of one kind), from --recipient (repeatable) and
--recipients-file (one or more per line, "#" starts a comment; made with
"age-keygen -y key.txt"). The KEK comes from the global flags; a wrong KEK
exits with status 3.

The escrow file is created with mode 0600 and never overwrites an existing
file. "-o -" writes it to stdout, but only when stdout is not a terminal.
The cost ledger has a data key of its own: export it with --db pointing at
it.

Example:
  age-keygen -o escrow-key.txt
  runner --db ./agent.db keys export --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p -o agent.escrow.age
  runner --db ./agent.db keys export --recipients-file team.txt -o - > agent.escrow.age`,
		flags: func(fs *pflag.FlagSet) {
			fs.StringArrayVar(&recipients, "recipient", nil, "encrypt to this age public `key` (repeatable)")
			fs.StringArrayVar(&recipientsFiles, "recipients-file", nil, "encrypt to the age public keys in this `file` (repeatable)")
			fs.StringVarP(&output, "output", "o", "", "write the escrow to this new `file` (- for stdout when it is not a terminal)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("keys export: unexpected argument %q", args[0])
			}
			if output == "" {
				return usagef("keys export: -o FILE is required (the escrow is binary; \"-o -\" writes it to a pipe)")
			}
			if output == "-" && isTerminal(a.stdout) {
				return usagef("keys export: refusing to write the escrow to a terminal; use -o FILE or redirect stdout")
			}
			var rs []age.Recipient
			for _, r := range recipients {
				parsed, err := keyring.ParseRecipients([]byte(r))
				if err != nil {
					return usagef("keys export: --recipient: %s", strings.TrimPrefix(recipientError(err), "line 1: "))
				}
				rs = append(rs, parsed...)
			}
			for _, f := range recipientsFiles {
				data, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("keys export: --recipients-file: %w", err)
				}
				parsed, err := keyring.ParseRecipients(data)
				if err != nil {
					return fmt.Errorf("keys export: --recipients-file %s: %v", f, recipientError(err))
				}
				rs = append(rs, parsed...)
			}
			if len(rs) == 0 {
				return usagef("keys export: no recipients: give --recipient age1... or --recipients-file FILE")
			}
			if err := a.requireEncrypted(false); err != nil {
				return err
			}
			src, err := a.kekSource()
			if err != nil {
				return err
			}
			out := output
			if output == "-" {
				dir, err := os.MkdirTemp("", "runner-escrow-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				out = filepath.Join(dir, "escrow.age")
			}
			if err := keyring.ExportDEKWith(a.db, src, out, rs...); err != nil {
				return fmt.Errorf("keys export: %w", err)
			}
			if output == "-" {
				f, err := os.Open(out)
				if err != nil {
					return err
				}
				defer f.Close()
				if _, err := io.Copy(a.stdout, f); err != nil {
					return fmt.Errorf("keys export: writing to stdout: %w", err)
				}
				a.infof("wrote the escrow of %s for %d recipient(s) to stdout", a.db, len(rs))
				return nil
			}
			if a.json {
				return a.printJSON(struct {
					Path       string `json:"path"`
					Output     string `json:"output"`
					Recipients int    `json:"recipients"`
				}{a.db, output, len(rs)})
			}
			fmt.Fprintf(a.stdout, "wrote the escrow of %s for %d recipient(s) to %s\n", a.db, len(rs), output)
			a.infof("Keep it away from the store; recover with: runner --db %s keys import %s --identity-file KEY", a.db, output)
			return nil
		},
	})
}

// recipientError is a keyring.ParseRecipients error without the keyring's
// prefix, which says nothing more on the command line.
func recipientError(err error) string {
	return strings.TrimPrefix(err.Error(), keyring.ErrEscrowFormat.Error()+": ")
}
