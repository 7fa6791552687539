package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
	"github.com/gofastr/store/sqlitevfs"
)

func init() {
	var plaintext bool
	var from string
	var tf transcriptFlags
	register(&command{
		name:    "import",
		args:    "FILE.jsonl[.zst] | - | --from claude-code|codex [DIR|FILE...]",
		summary: "import sessions from a JSONL file, or Claude Code and Codex transcripts",
		help: `
Imports sessions from a file in the JSONL interchange form (docs/JSONL.md),
as "runner export" writes it, zstd-compressed or not (recognised by its
content), or from stdin ("-"). Every record is redacted, compressed and, for
attempts without a cost, priced as the store does for every write; the store
assigns new event and attempt IDs.

The input is read and checked whole first: a malformed line, or a record
the store would refuse (a payload over its size limit), is an error naming
its line number (exit status 1) and nothing is imported. Then the
records are written in transactions of at most 1000 records (8 MiB), each
record under a key derived from what identifies it, not its content (an
event: session, turn, kind and time to the nanosecond; docs/JSONL.md lists
the rest), so importing the same file again, or an export of the same
sessions taken after retention dropped payloads, adds nothing (the records
already there are counted as skipped), and an import stopped by an error
or Ctrl-C leaves the store consistent, holding whole transactions, and
completes when run again.

A missing store is created when the first records are written, encrypted
under the key-encryption key the global flags select (by default the
machine key), or plaintext with --plaintext. Prints what it imported on
stderr (not with -q); --json prints the counts as JSON.

` + importFromHelp + `

Example:
  runner import all.jsonl.zst
  runner --db ./copy.db import --plaintext - < sessions.jsonl
  runner import --from claude-code
  runner import --from codex ~/.codex/sessions/2026/11`,
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&plaintext, "plaintext", false, "create a missing store unencrypted")
			fs.StringVar(&from, "from", "", "import agent transcripts of `FORMAT` claude-code or codex instead of JSONL")
			tf.register(fs)
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if plaintext && a.kekFlags() != "" {
				return usagef("import: --plaintext and%s exclude each other: a plaintext store has no key", a.kekFlags())
			}
			if from != "" {
				return a.importTranscripts(ctx, from, args, plaintext, tf)
			}
			if len(args) != 1 {
				return usagef("import: want one FILE argument (or - for stdin), got %d", len(args))
			}
			in, err := a.openInput(args[0])
			if err != nil {
				return err
			}
			defer in.close()
			dst, err := a.importDestination(ctx, plaintext)
			if err != nil {
				return err
			}
			defer dst.close()
			stop := a.showReadProgress(in, "importing")
			st, err := jsonl.Import(ctx, dst, in)
			stop()
			if err != nil {
				if st == (jsonl.Stats{}) {
					return fmt.Errorf("%s: %w; nothing imported", in.name, err)
				}
				return fmt.Errorf("%s: %w (imported before the error: %s)", in.name, err, fmtImported(st))
			}
			if err := dst.close(); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(st)
			}
			a.infof("imported from %s: %s", in.name, fmtImported(st))
			return nil
		},
	})
}

// openImportStore opens the store an import writes to, creating it if it
// is missing: encrypted, or plaintext if plaintext is set. plaintext is
// refused for an existing encrypted store.
func (a *app) openImportStore(ctx context.Context, plaintext bool) (*host.Store, error) {
	kind, err := sqlitevfs.Detect(a.db)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.db, err)
	}
	if plaintext && kind == sqlitevfs.FileEncrypted {
		return nil, fmt.Errorf("import --plaintext: the store at %s exists and is encrypted", a.db)
	}
	s, err := a.openStore(ctx, mayCreate, plaintext)
	if err != nil {
		return nil, err
	}
	if kind == sqlitevfs.FileMissing {
		if plaintext {
			a.infof("created plaintext store %s", a.db)
		} else {
			name := "?"
			if src, err := a.kekSource(); err == nil {
				name = src.Name()
			}
			a.infof("created encrypted store %s under the KEK %s; without that KEK the store cannot be opened: escrow its data key with \"runner keys export\"", a.db, name)
		}
	}
	return s, nil
}
