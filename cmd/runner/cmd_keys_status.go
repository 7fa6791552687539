package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// keyStatus is what "keys status" reports about one database file (the
// store or its ledger). It never holds key material.
type keyStatus struct {
	Path     string        `json:"path"`
	Database string        `json:"database"` // encrypted, plaintext, missing, not a store
	Size     int64         `json:"size_bytes"`
	Header   *headerStatus `json:"header,omitempty"`
	// Pending is set when an interrupted rekey or encryption left its
	// files (<db>.dek.next, <db>.rekey): the next open finishes or rolls
	// it back.
	Pending bool `json:"pending_recovery,omitempty"`
	// KeyCheck: "ok", "wrong KEK", "data key does not match the database",
	// "not checked" (no KEK given), or an error.
	KeyCheck string `json:"key_check,omitempty"`
	// failed is set when the key check found a wrong KEK, a damaged
	// header or a data key that is not the database's.
	failed bool
}

type headerStatus struct {
	Path      string            `json:"path"`
	Version   int               `json:"version"`
	KEKSource string            `json:"kek_source,omitempty"`
	KDF       string            `json:"kdf"`
	Meta      map[string]string `json:"meta,omitempty"` // other fields of the header's meta
	Written   time.Time         `json:"written"`        // the header file's modification time
}

func init() {
	register(&command{
		name:    "keys status",
		summary: "show a store's key header and check the KEK, without key material",
		help: `
Shows the keys of the store at --db and of its cost ledger (--ledger): whether
the database is encrypted, the key header's path, format version, the KEK
source it was wrapped under (as recorded in the header: "machine",
"file:PATH", "env:NAME" or "passphrase"), the passphrase KDF's parameters,
any other recorded metadata, and when the header was last written (created,
rotated, imported or rekeyed). It notes an interrupted rekey or encryption,
which the next open finishes or rolls back. Nothing is printed that would
help to recover a key.

No KEK is needed. When one is given (--kek-file, --kek-env, --passphrase or
$GOFASTR_KEK), or the header names the machine key and this machine has one,
the key check also unwraps the data key and compares it with the database's
key check value: "ok", or exit status 3 for a wrong KEK or a data key that is
not the database's.

Example:
  runner --db ./agent.db keys status
  runner --db ./agent.db --kek-file agent.key keys status --json`,
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("keys status: unexpected argument %q", args[0])
			}
			st, err := a.keyStatus(a.db, true)
			if err != nil {
				return err
			}
			if st.Database == "missing" && st.Header == nil {
				return fmt.Errorf("%w at %s: %w", errNoStore, a.db, fs.ErrNotExist)
			}
			out := struct {
				Store  *keyStatus `json:"store"`
				Ledger *keyStatus `json:"ledger,omitempty"`
			}{Store: st}
			if lst, err := a.keyStatus(a.ledger, false); err == nil && (lst.Database != "missing" || lst.Header != nil) {
				out.Ledger = lst
			}
			if a.json {
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				a.printKeyStatus("store", st)
				if out.Ledger != nil {
					fmt.Fprintln(a.stdout)
					a.printKeyStatus("ledger", out.Ledger)
				}
			}
			if st.failed {
				return &exitErr{code: exitAuth, err: fmt.Errorf("keys status: %s: %s", a.db, st.KeyCheck)}
			}
			return nil
		},
	})
}

func (a *app) printKeyStatus(what string, st *keyStatus) {
	tw := a.table()
	fmt.Fprintf(tw, "%s:\t%s\n", what, st.Path)
	db := st.Database
	if st.Database == "encrypted" || st.Database == "plaintext" {
		db = fmt.Sprintf("%s, %d bytes", st.Database, st.Size)
	}
	fmt.Fprintf(tw, "database:\t%s\n", db)
	if h := st.Header; h != nil {
		fmt.Fprintf(tw, "header:\t%s (version %d, written %s)\n", h.Path, h.Version, h.Written.UTC().Format(time.DateTime+" UTC"))
		fmt.Fprintf(tw, "kek source:\t%s\n", orNone(h.KEKSource, "not recorded"))
		fmt.Fprintf(tw, "kdf:\t%s\n", h.KDF)
		for _, k := range sortedKeys(h.Meta) {
			fmt.Fprintf(tw, "%s:\t%s\n", k, h.Meta[k])
		}
	} else if st.Database != "plaintext" {
		fmt.Fprintf(tw, "header:\tmissing (recover it with \"runner keys import\")\n")
	}
	if st.Pending {
		fmt.Fprintf(tw, "pending:\tan interrupted rekey or encryption; the next open finishes or rolls it back\n")
	}
	if st.KeyCheck != "" {
		fmt.Fprintf(tw, "key check:\t%s\n", st.KeyCheck)
	}
	tw.Flush()
}

// keyStatus inspects the database at path and its header; with check, it
// also unwraps the data key if a KEK is available and compares it with the
// database's key check.
func (a *app) keyStatus(path string, check bool) (*keyStatus, error) {
	st := &keyStatus{Path: path}
	kind, err := sqlitevfs.Detect(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch kind {
	case sqlitevfs.FileEncrypted:
		st.Database = "encrypted"
	case sqlitevfs.FilePlaintext:
		st.Database = "plaintext"
	case sqlitevfs.FileMissing:
		st.Database = "missing"
	default:
		st.Database = "not a store"
	}
	if fi, err := os.Stat(path); err == nil {
		st.Size = fi.Size()
	}
	for _, p := range []string{path + ".dek.next", path + ".rekey"} {
		if _, err := os.Stat(p); err == nil {
			st.Pending = true
		}
	}
	hp := keyring.HeaderPath(path)
	h, err := keyring.ReadHeader(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if kind == sqlitevfs.FileEncrypted && check {
			st.KeyCheck = "no header: the store cannot be opened until one is restored or imported"
		}
		return st, nil
	case err != nil:
		// A damaged header is what this command exists to show.
		st.Header = &headerStatus{Path: hp, KDF: "unknown"}
		if check {
			st.KeyCheck = fmt.Sprintf("unreadable header: %v", err)
			st.failed = true
		}
		return st, nil
	}
	hs := &headerStatus{Path: hp, Version: h.Version, KDF: "none (a raw key)"}
	if fi, err := os.Stat(hp); err == nil {
		hs.Written = fi.ModTime()
	}
	if h.KDF != nil {
		hs.KDF = fmt.Sprintf("%s t=%d m=%d KiB p=%d (a passphrase)", h.KDF.Alg, h.KDF.Time, h.KDF.Memory, h.KDF.Threads)
	}
	meta := parseMeta(h.Metadata)
	hs.KEKSource = meta["kek"]
	delete(meta, "kek")
	if len(meta) > 0 {
		hs.Meta = meta
	}
	st.Header = hs
	if !check {
		return st, nil
	}
	if !a.kekGiven() && !(hs.KEKSource == "machine" && machineKeyExists()) {
		st.KeyCheck = "not checked"
		return st, nil
	}
	src, err := a.kekSource()
	if err != nil {
		return nil, err
	}
	errCreated := errors.New("the header disappeared")
	dek, _, err := keyring.LoadOrCreateDEKWith(path, src, func(_ []byte, created bool) error {
		if created {
			return errCreated
		}
		return nil
	})
	switch {
	case errors.Is(err, keyring.ErrWrongKEK):
		st.KeyCheck = fmt.Sprintf("wrong KEK: %s does not open the header", src.Name())
		st.failed = true
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("keys status: %w", err)
	}
	defer clear(dek)
	if kind != sqlitevfs.FileEncrypted {
		st.KeyCheck = "ok (the KEK opens the header; no database to compare the data key with)"
		return st, nil
	}
	uses, err := pagecrypt.FileUsesKey(path, dek)
	switch {
	case err != nil:
		st.KeyCheck = fmt.Sprintf("cannot read the database's key check: %v", err)
	case uses:
		st.KeyCheck = "ok"
	default:
		st.KeyCheck = "data key does not match the database (a header of another store?)"
		st.failed = true
	}
	return st, nil
}

// kekGiven reports whether the global flags or the environment name a KEK.
func (a *app) kekGiven() bool {
	return a.kekFile != "" || a.kekEnv != "" || a.passphrase || a.getenv(keyring.DefaultEnvVar) != ""
}

// machineKeyExists reports whether this machine's key file exists (it is
// never created here).
func machineKeyExists() bool {
	p, err := keyring.DefaultMachineKEKPath()
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// parseMeta splits a header's meta into its key=value fields, as the
// keyring writes it: dated fields separated by single spaces
// ("created=2026-11-30T10:00:00Z rewrapped=..."), then "kek=" and the KEK
// source's name, which runs to the end (it may hold spaces). Text that is
// not in that form is returned under "meta".
func parseMeta(meta string) map[string]string {
	out := map[string]string{}
	rest := meta
	for rest != "" {
		if src, ok := strings.CutPrefix(rest, "kek="); ok {
			out["kek"] = src
			return out
		}
		field, next, _ := strings.Cut(rest, " ")
		k, v, ok := strings.Cut(field, "=")
		if !ok || k == "" || strings.ContainsFunc(k, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '_' || r == '-') }) {
			return map[string]string{"meta": meta}
		}
		out[k] = v
		rest = next
	}
	return out
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
