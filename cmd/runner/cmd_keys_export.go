package main

import (
	"context"
	"errors"
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
				parsed, err := parseRecipient(strings.TrimSpace(r))
				if err != nil {
					return usagef("keys export: --recipient: %v", err)
				}
				rs = append(rs, parsed)
			}
			for _, f := range recipientsFiles {
				data, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("keys export: --recipients-file: %w", err)
				}
				parsed, err := parseRecipients(string(data))
				if err != nil {
					return fmt.Errorf("keys export: --recipients-file %s: %w", f, err)
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

// parseRecipients parses age public keys separated by white space, commas
// or lines, as in an age recipients file ("#" starts a comment line). Its
// errors quote a value only when it looks like a public key, never a
// secret key pasted by mistake.
func parseRecipients(text string) ([]age.Recipient, error) {
	var rs []age.Recipient
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, tok := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			r, err := parseRecipient(tok)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil, errors.New("no age recipients in it")
	}
	return rs, nil
}

func parseRecipient(tok string) (age.Recipient, error) {
	var (
		r   age.Recipient
		err error
	)
	switch {
	case strings.HasPrefix(tok, "age1pq1"):
		r, err = age.ParseHybridRecipient(tok)
	case strings.HasPrefix(tok, "age1"):
		r, err = age.ParseX25519Recipient(tok)
	case strings.HasPrefix(strings.ToUpper(tok), "AGE-SECRET-KEY-"):
		return nil, errors.New("that is an age secret key, not a recipient: pass its public key (age-keygen -y KEYFILE)")
	default:
		return nil, errors.New("not an age recipient (an age public key starts with age1)")
	}
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid age recipient: %v", tok, err)
	}
	return r, nil
}
