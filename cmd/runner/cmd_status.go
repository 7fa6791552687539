package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gofastr/store/host"
)

func init() {
	register(&command{
		name:    "status",
		summary: "show the store's path, size, schema, encryption and key dates",
		help: `
Shows the state of the store, as a harness's health endpoint would serve it
(host.Store.Health): its path, the sizes of the database file and of its
write-ahead log, the schema version, whether it is encrypted and, if so, the
source of the key-encryption key in use, the version of the key header, when
the data key was created and last rewrapped under another KEK, when the
last reconciliation ran, and the counts of sessions, events and pinned
sessions; then the cost ledger's path and size when there is one. Never any
key material. With --json, one JSON object.

Example:
  runner status
  runner --db ./agent.db --kek-file ./kek.key status --json`,
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("status: unexpected argument %q", args[0])
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			h, err := s.Health(ctx)
			if err != nil {
				return err
			}
			st := status{Health: h}
			if fi, err := os.Stat(a.ledger); err == nil {
				st.Ledger = &ledgerStatus{Path: a.ledger, Size: fi.Size()}
				if wi, err := os.Stat(a.ledger + "-wal"); err == nil {
					st.Ledger.WALSize = wi.Size()
				}
			}
			if a.json {
				return a.printJSON(st)
			}
			tw := a.table()
			row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
			row("path", h.Path)
			row("size", fmt.Sprintf("%s (%d bytes)", fmtSize(h.Size), h.Size))
			row("WAL size", fmt.Sprintf("%s (%d bytes)", fmtSize(h.WALSize), h.WALSize))
			row("schema version", fmt.Sprint(h.SchemaVersion))
			if h.Encrypted {
				row("encryption", "encrypted (AES-GCM pages)")
				if h.KEKSource != "" {
					row("KEK source", h.KEKSource)
				}
				if h.HeaderVersion != 0 {
					row("key header version", fmt.Sprint(h.HeaderVersion))
				}
				row("data key created", fmtTime(h.KeyCreated, "unknown"))
				row("last rotation", fmtTime(h.LastRotation, "never"))
			} else {
				row("encryption", "none (plaintext)")
			}
			row("last reconciliation", fmtTime(h.LastReconciliation, "never"))
			row("sessions", fmt.Sprintf("%d (%d pinned)", h.Sessions, h.Pinned))
			row("events", fmt.Sprint(h.Events))
			if st.Ledger != nil {
				row("cost ledger", fmt.Sprintf("%s, %s, WAL %s", st.Ledger.Path, fmtSize(st.Ledger.Size), fmtSize(st.Ledger.WALSize)))
			} else {
				row("cost ledger", "none at "+a.ledger)
			}
			return tw.Flush()
		},
	})
}

// status is what the status command prints with --json.
type status struct {
	host.Health
	Ledger *ledgerStatus `json:"ledger,omitempty"`
}

type ledgerStatus struct {
	Path    string `json:"path"`
	Size    int64  `json:"size_bytes"`
	WALSize int64  `json:"wal_bytes"`
}

// fmtTime formats a time in UTC, or says none when it is zero.
func fmtTime(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtSize formats a size in bytes, with a binary unit when large.
func fmtSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
