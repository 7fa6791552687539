package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/pricing"
	"github.com/gofastr/store/sqlitevfs"
)

// app holds what every command shares: the standard streams, the
// environment and the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// Global flags.
	db         string
	ledger     string
	kekFile    string
	kekEnv     string
	passphrase bool
	json       bool
	quiet      bool
	verbose    int

	// kek is the KEK source, resolved once by kekSource.
	kek keyring.KEKSource
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
}

func (a *app) globalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.db, "db", "", "session store `path` (default "+host.DefaultPath()+")")
	fs.StringVar(&a.ledger, "ledger", "", "cost ledger `path` (default costs.db beside the store)")
	fs.StringVar(&a.kekFile, "kek-file", "", "read the key-encryption key from this key `file` (mode 0600)")
	fs.StringVar(&a.kekEnv, "kek-env", "", "read the key-encryption key (hex or base64) from this environment `variable` (default "+keyring.DefaultEnvVar+")")
	fs.BoolVar(&a.passphrase, "passphrase", false, "derive the key-encryption key from a passphrase, prompted without echo (read from stdin when it is not a terminal)")
	fs.BoolVar(&a.json, "json", false, "print JSON instead of tables")
	fs.BoolVarP(&a.quiet, "quiet", "q", false, "print only results and errors; no progress")
	fs.CountVarP(&a.verbose, "verbose", "v", "say more (repeat for more detail)")
}

// finishGlobals fills in defaults once the flags are parsed.
func (a *app) finishGlobals() error {
	if a.db == "" {
		a.db = host.DefaultPath()
	}
	if a.ledger == "" {
		a.ledger = filepath.Join(filepath.Dir(a.db), "costs.db")
	}
	n := 0
	for _, set := range []bool{a.kekFile != "", a.kekEnv != "", a.passphrase} {
		if set {
			n++
		}
	}
	if n > 1 {
		return usagef("--kek-file, --kek-env and --passphrase are alternatives: give at most one")
	}
	return nil
}

// kekSource returns the KEK source the global flags select: --kek-file,
// --passphrase, --kek-env, else GOFASTR_KEK if set, else the machine key.
func (a *app) kekSource() (keyring.KEKSource, error) {
	if a.kek != nil {
		return a.kek, nil
	}
	var s keyring.Sources
	switch {
	case a.kekFile != "":
		if _, err := os.Stat(a.kekFile); errors.Is(err, fs.ErrNotExist) {
			if looksLikeKey(a.kekFile) {
				// A key given where its file's path belongs: never echo it.
				return nil, errors.New("--kek-file: no such file; the flag takes the path of a key file, never the key itself")
			}
			return nil, fmt.Errorf("--kek-file: key file %s does not exist", a.kekFile)
		}
		s.KeyFile = a.kekFile
	case a.passphrase:
		p, err := a.readPassphrase("Passphrase: ")
		if err != nil {
			return nil, err
		}
		s.Passphrase = p
	case a.kekEnv != "":
		if !validEnvName(a.kekEnv) {
			// Perhaps a key given where its variable's name belongs:
			// never echo it.
			return nil, usagef("--kek-env: not an environment variable name; the flag takes the name of a variable that holds the key, never the key itself")
		}
		if a.getenv(a.kekEnv) == "" {
			return nil, fmt.Errorf("--kek-env %s: the environment variable is not set or empty", a.kekEnv)
		}
		s.EnvVar = a.kekEnv
	}
	src, err := keyring.Resolve(s)
	if err != nil {
		return nil, err
	}
	a.kek = src
	return src, nil
}

// readPassphrase reads a passphrase without echo from a terminal, or one
// line from stdin when it is not a terminal.
func (a *app) readPassphrase(prompt string) ([]byte, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, prompt)
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		if len(p) == 0 {
			return nil, errors.New("empty passphrase")
		}
		return p, nil
	}
	line, err := readLine(a.stdin)
	if err != nil {
		return nil, errors.New("--passphrase: no passphrase on stdin")
	}
	p := []byte(line)
	if len(p) == 0 {
		return nil, errors.New("--passphrase: empty passphrase")
	}
	return p, nil
}

// config returns the host configuration the commands open stores with.
func (a *app) config() host.Config {
	return host.NewConfig().WithPricing(pricing.Default())
}

// errNoStore is returned for a store path that holds no store.
var errNoStore = errors.New("no store")

// openMode says whether openStore may create a store.
type openMode int

const (
	mustExist openMode = iota // reading commands: never create
	mayCreate                 // import, keys init: create an encrypted store
)

// openStore opens the store at --db: encrypted or plaintext as the file
// says. A missing store is an error unless mode is mayCreate, which creates
// it encrypted under the KEK the global flags select (plaintext if
// plaintext is set).
func (a *app) openStore(ctx context.Context, mode openMode, plaintext bool) (*host.Store, error) {
	kind, err := sqlitevfs.Detect(a.db)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.db, err)
	}
	cfg := a.config()
	switch kind {
	case sqlitevfs.FileMissing:
		if _, err := os.Stat(keyring.HeaderPath(a.db)); err == nil {
			break // host reports the lost database (host.ErrDatabaseLost)
		}
		if mode == mustExist {
			return nil, fmt.Errorf("%w at %s (create one with \"runner import\" or \"runner keys init\"): %w", errNoStore, a.db, fs.ErrNotExist)
		}
		if plaintext {
			if err := a.refuseKEKFlag(a.db); err != nil {
				return nil, fmt.Errorf("--plaintext creates a plaintext store: %w", err)
			}
			return host.OpenWithConfig(a.db, cfg)
		}
	case sqlitevfs.FilePlaintext:
		if err := a.refuseKEKFlag(a.db); err != nil {
			return nil, err
		}
		return host.OpenWithConfig(a.db, cfg)
	case sqlitevfs.FileOther:
		return nil, fmt.Errorf("%s: %w", a.db, host.ErrNotStore)
	}
	src, err := a.kekSource()
	if err != nil {
		return nil, err
	}
	return host.OpenWithConfig(a.db, cfg.WithKEKSource(src))
}

// openLedger opens the cost ledger (--ledger), encrypted under the KEK
// source when the store is encrypted. A missing ledger is created only if
// mode is mayCreate.
func (a *app) openLedger(ctx context.Context, mode openMode) (*host.CostLedger, error) {
	kind, err := sqlitevfs.Detect(a.ledger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.ledger, err)
	}
	if kind == sqlitevfs.FileMissing && mode == mustExist {
		if _, err := os.Stat(keyring.HeaderPath(a.ledger)); err != nil {
			return nil, fmt.Errorf("no cost ledger at %s: %w", a.ledger, fs.ErrNotExist)
		}
	}
	if kind == sqlitevfs.FilePlaintext {
		sk, err := sqlitevfs.Detect(a.db)
		if err != nil {
			return nil, err
		}
		_, herr := os.Stat(keyring.HeaderPath(a.ledger))
		if sk == sqlitevfs.FileEncrypted && herr != nil {
			// A ledger made before its store was encrypted: writing to
			// it would keep recording session IDs, models and costs in
			// the clear beside an encrypted store.
			return nil, fmt.Errorf("the cost ledger %s is plaintext but the store %s is encrypted: move the ledger aside (it holds the costs of attempts retention may have deleted; keep it somewhere safe) and run the command again to start an encrypted one, or give --ledger; nothing was changed", a.ledger, a.db)
		}
		if err := a.refuseKEKFlag(a.ledger); err != nil {
			return nil, err
		}
	}
	cfg := a.config()
	encrypted := kind == sqlitevfs.FileEncrypted
	if kind == sqlitevfs.FileMissing {
		// A new ledger is encrypted when its store is.
		sk, err := sqlitevfs.Detect(a.db)
		if err != nil {
			return nil, err
		}
		encrypted = sk != sqlitevfs.FilePlaintext
	}
	if encrypted {
		src, err := a.kekSource()
		if err != nil {
			return nil, err
		}
		cfg = cfg.WithKEKSource(src)
	}
	return host.OpenCostLedgerWithConfig(a.ledger, cfg)
}

// plaintextStoreError is the refusal of a KEK flag for a plaintext
// store; it matches host.ErrPlaintextStore.
type plaintextStoreError struct{ msg string }

func (e *plaintextStoreError) Error() string { return e.msg }
func (e *plaintextStoreError) Unwrap() error { return host.ErrPlaintextStore }

// refuseKEKFlag returns a plaintextStoreError if a KEK flag (--kek-file,
// --kek-env, --passphrase) was given for the plaintext file at path, which
// would otherwise be ignored. A plaintext file with a DEK header beside it
// is left to package host, which refuses it as a replaced database
// (keyring.ErrHeaderExists).
func (a *app) refuseKEKFlag(path string) error {
	var flag string
	switch {
	case a.kekFile != "":
		flag = "--kek-file"
	case a.kekEnv != "":
		flag = "--kek-env"
	case a.passphrase:
		flag = "--passphrase"
	default:
		return nil
	}
	if _, err := os.Stat(keyring.HeaderPath(path)); err == nil {
		return nil
	}
	return &plaintextStoreError{msg: fmt.Sprintf("%s: the store is not encrypted; drop %s, or encrypt it with \"runner keys init --encrypt-existing\"", path, flag)}
}

// ledgerSource is the name under which the attempts of s are recorded in
// the cost ledger: "store:" and the store's ID, which stays with its data
// when the store is moved, renamed or restored elsewhere (a path would
// make a moved store a new source and count its attempts twice).
func ledgerSource(s *host.Store) string { return "store:" + s.ID() }

// printJSON prints v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table returns a tabwriter on stdout; the caller flushes it.
func (a *app) table() *tabwriter.Writer {
	return tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
}

// infof prints a message on stderr unless -q.
func (a *app) infof(format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}

// debugf prints a message on stderr with -v.
func (a *app) debugf(format string, args ...any) {
	if a.verbose > 0 {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// looksLikeKey reports whether s is a KEK in one of the key file's text
// forms (64 hex digits, 44 or 43 base64 characters) rather than a path.
func looksLikeKey(s string) bool {
	switch len(s) {
	case 64:
		_, err := hex.DecodeString(s)
		return err == nil
	case 44:
		_, err := base64.StdEncoding.DecodeString(s)
		return err == nil
	case 43:
		_, err := base64.RawStdEncoding.DecodeString(s)
		return err == nil
	}
	return false
}

// validEnvName reports whether s is a portable environment variable name:
// letters, digits and underscores, not starting with a digit.
func validEnvName(s string) bool {
	for i, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}
