package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

func init() {
	register(&command{
		name:    "verify",
		summary: "authenticate every page of the store and run SQLite's integrity check",
		help: `
Checks the store's files without writing to its database or write-ahead
log (while the store is open elsewhere it reads as any reader does, and
records its read mark in the log's index, which SQLite rebuilds after a
crash). For an encrypted store it
first authenticates every page of the database file and every frame of its
write-ahead log with the store's data key, so that a page altered, damaged
or sealed under another key is found even where SQLite would never read it;
frames after the log's last commit or of an older log are not damage (in a
copy of a store, a torn last write and a tampered last transaction cannot
be told apart: the report counts those frames and says so). Then,
for every store, it runs SQLite's PRAGMA integrity_check. It works while
harnesses have the store open and write to it. Names each damaged page or
frame (file, page, frame, offset, reason) and each integrity problem; shows
progress on a terminal. With --json, one JSON object (the report).

Exit status: 0 when the store is sound; 3 when a page or frame failed
authentication or the key-encryption key is wrong; 1 for integrity problems
without damaged pages, and for every other error (a missing store, ...).

Example:
  runner verify
  runner --db ./agent.db --kek-file ./kek.key verify --json`,
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("verify: unexpected argument %q", args[0])
			}
			kind, err := sqlitevfs.Detect(a.db)
			if err != nil {
				return fmt.Errorf("%s: %w", a.db, err)
			}
			cfg := a.config()
			switch kind {
			case sqlitevfs.FileMissing:
				if _, err := os.Stat(keyring.HeaderPath(a.db)); err == nil {
					return fmt.Errorf("%s: %w: its key header %s is there, its database is not", a.db, host.ErrDatabaseLost, keyring.HeaderPath(a.db))
				}
				return fmt.Errorf("%w at %s: %w", errNoStore, a.db, fs.ErrNotExist)
			case sqlitevfs.FileOther:
				return fmt.Errorf("%s: %w", a.db, host.ErrNotStore)
			case sqlitevfs.FilePlaintext:
				if err := a.refuseKEKFlag(a.db); err != nil {
					return err
				}
			case sqlitevfs.FileEncrypted:
				src, err := a.kekSource()
				if err != nil {
					return err
				}
				cfg = cfg.WithKEKSource(src)
			}
			p := a.newProgress(-1, "verifying", true)
			var progress func(done, total int64)
			if p != nil {
				progress = p.set
			}
			rep, err := host.Verify(ctx, a.db, cfg, progress)
			p.finish()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("%w at %s: %w", errNoStore, a.db, err)
				}
				return err
			}
			code := exitOK
			switch {
			case len(rep.Damaged) > 0:
				code = exitAuth
			case len(rep.Integrity) > 0:
				code = exitError
			}
			if a.json {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				a.printVerify(rep)
			}
			if code != exitOK {
				return &exitErr{code: code}
			}
			return nil
		},
	})
}

// printVerify prints a verify report for people.
func (a *app) printVerify(rep *host.VerifyReport) {
	w := a.stdout
	if rep.Encrypted {
		fmt.Fprintf(w, "%s: encrypted; %d database pages and %d WAL frames authenticated", rep.Path, rep.Pages, rep.Frames)
		if n := rep.Superseded + rep.Uncommitted + rep.Stale; n > 0 {
			fmt.Fprintf(w, " (not read by SQLite, not damage: %d superseded pages, %d uncommitted and %d stale frames)",
				rep.Superseded, rep.Uncommitted, rep.Stale)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "%s: plaintext; no pages to authenticate\n", rep.Path)
	}
	if rep.Uncommitted > 0 {
		fmt.Fprintf(w, "note: %d WAL frames after the last commit were not checked as committed: a transaction in progress (beside a live writer), a torn write, or, in a copy, a tampered last transaction, which cannot be told apart\n", rep.Uncommitted)
	}
	for _, d := range rep.Damaged {
		where := fmt.Sprintf("database page %d", d.Page)
		if d.Kind == "wal" {
			where = fmt.Sprintf("WAL frame %d (page %d)", d.Frame, d.Page)
			if d.Frame == 0 {
				where = "WAL header"
			}
		}
		fmt.Fprintf(w, "DAMAGED: %s: %s at offset %d: %s\n", d.File, where, d.Offset, d.Reason)
	}
	for _, line := range rep.Integrity {
		fmt.Fprintf(w, "INTEGRITY: %s\n", line)
	}
	switch {
	case len(rep.Damaged) > 0:
		fmt.Fprintf(w, "verify: %d damaged pages or frames: the store has been altered or damaged\n", len(rep.Damaged))
	case len(rep.Integrity) > 0:
		fmt.Fprintf(w, "verify: integrity_check found %d problems\n", len(rep.Integrity))
	default:
		fmt.Fprintln(w, "verify: ok (integrity_check ok)")
	}
}
