package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
)

func init() {
	var sessions []string
	var out string
	register(&command{
		name:    "export",
		summary: "write sessions to a JSONL file (zstd-compressed for .zst)",
		help: `
Writes sessions of the store in the JSONL interchange form (docs/JSONL.md):
per session its events, tool intents, tool outcomes, provider attempts and
pin, with event and attempt IDs renumbered from 1, so that the export of an
import of an export is the same file, byte for byte. Payloads are written as
stored (already redacted) and decrypted: treat the file as the store's
content.

Every session, sorted by ID, unless --session names some (repeat it for
several); an unknown session is an error (exit status 1) and writes nothing.
Writes to stdout, or with -o to FILE, compressed with zstd when FILE ends
in ".zst". A file is written beside FILE under a temporary name (mode 0600)
and renamed over it when complete: an error or Ctrl-C leaves FILE as it
was. Prints what it wrote on stderr (not with -q); --json prints the counts
as JSON on stdout when -o is given.

Example:
  runner export -o all.jsonl.zst
  runner export --session sess-1234 --session sess-5678 > two.jsonl`,
		flags: func(fs *pflag.FlagSet) {
			fs.StringArrayVar(&sessions, "session", nil, "export only session `S` (repeat for several)")
			fs.StringVarP(&out, "output", "o", "", "write to `FILE` instead of stdout (zstd when it ends in .zst)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("export: unexpected argument %q (sessions are given with --session)", args[0])
			}
			if a.json && (out == "" || out == "-") {
				return usagef("export: --json needs -o FILE (the export itself goes to stdout)")
			}
			ids := make([]abi.SessionID, len(sessions))
			for i, s := range sessions {
				if s == "" {
					return usagef("export: --session: empty session ID")
				}
				ids[i] = abi.SessionID(s)
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			for _, id := range ids {
				if err := requireSession(ctx, s, id); err != nil {
					return err
				}
			}
			src := &exportSource{Store: s}
			if p := a.newProgress(-1, "exporting", false); p != nil {
				total := int64(len(ids))
				if total == 0 {
					list, err := s.ListPastSessions(ctx, 0)
					if err != nil {
						return err
					}
					total = int64(len(list))
				}
				p.set(0, total)
				src.progress = func(done int64) { p.set(done, total) }
				defer p.finish()
			}
			o, err := a.createOutput(out)
			if err != nil {
				return err
			}
			defer o.abort()
			st, err := jsonl.Export(ctx, src, o.w, ids...)
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := o.commit(); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(st)
			}
			dest := out
			if dest == "" || dest == "-" {
				dest = "stdout"
			}
			a.infof("exported %d sessions to %s: %s", src.done, dest, fmtStats(st))
			return nil
		},
	})
}

// exportSource is the store as jsonl.Export reads it, counting the
// sessions written (Export reads each session's tool intents once).
type exportSource struct {
	*host.Store
	done     int64
	progress func(done int64)
}

func (e *exportSource) ToolIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error) {
	e.done++
	if e.progress != nil {
		e.progress(e.done)
	}
	return e.Store.ToolIntents(ctx, sess)
}

// fmtStats says what a jsonl.Stats counted.
func fmtStats(st jsonl.Stats) string {
	s := fmt.Sprintf("%s, %s, %s, %s, %s", plural(st.Events, "event"), plural(st.ToolIntents, "tool intent"),
		plural(st.ToolOutcomes, "tool outcome"), plural(st.Attempts, "attempt"), plural(st.Pins, "pin"))
	if st.DroppedPayloads > 0 {
		s += fmt.Sprintf(" (%s without payload, dropped by retention)", plural(st.DroppedPayloads, "event"))
	}
	return s
}

// fmtImported says what an import wrote: its records, and how many of
// them the store held already.
func fmtImported(st jsonl.Stats) string {
	if st.Skipped == 0 {
		return fmtStats(st)
	}
	total := st.Events + st.ToolIntents + st.ToolOutcomes + st.Attempts + st.Pins
	return fmt.Sprintf("%s written, %d already in the store (skipped); the input holds %s",
		plural(total-st.Skipped, "new record"), st.Skipped, fmtStats(st))
}
