package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

func init() {
	registerGroup("keys", "create, rotate, rekey, escrow and inspect a store's keys")
}

// errPlaintext is returned by the key commands for a store that is not
// encrypted.
var errPlaintext = errors.New("the store is not encrypted")

// requireEncrypted checks that --db names an encrypted store (its
// database exists and is sealed, or, with headerOnly, at least its DEK
// header exists), without a key and without changing anything.
func (a *app) requireEncrypted(headerOnly bool) error {
	kind, err := sqlitevfs.Detect(a.db)
	if err != nil {
		return fmt.Errorf("%s: %w", a.db, err)
	}
	_, herr := os.Stat(keyring.HeaderPath(a.db))
	switch kind {
	case sqlitevfs.FileEncrypted:
		return nil
	case sqlitevfs.FilePlaintext:
		if herr == nil {
			return fmt.Errorf("%s: %w: the encrypted store's database was replaced or lost; nothing was changed", a.db, keyring.ErrHeaderExists)
		}
		return fmt.Errorf("%w: %s is a plaintext store; encrypt it with \"runner keys init --encrypt-existing\"", errPlaintext, a.db)
	case sqlitevfs.FileOther:
		return fmt.Errorf("%s: %w", a.db, host.ErrNotStore)
	}
	if herr == nil {
		if headerOnly {
			return nil
		}
		return fmt.Errorf("%w: %s is missing but its key header %s exists (restore the database from a backup)",
			host.ErrDatabaseLost, a.db, keyring.HeaderPath(a.db))
	}
	return fmt.Errorf("%w at %s (create one with \"runner keys init\"): %w", errNoStore, a.db, fs.ErrNotExist)
}

// inUse prefixes err with op and, for a keyring.ErrInUse from an operation
// that needs the store closed everywhere, says what to do.
func (a *app) inUse(op string, err error) error {
	if errors.Is(err, keyring.ErrInUse) {
		return fmt.Errorf("%s: %s is open in another process or handle (a harness, another runner command): close it and run the command again; nothing was changed: %w", op, a.db, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// newKEK holds the flags that select the KEK a command wraps a key under
// (keys rotate).
type newKEK struct {
	file, env           string
	passphrase, machine bool
}

func (n *newKEK) flags(fs *pflag.FlagSet) {
	fs.StringVar(&n.file, "new-kek-file", "", "the new KEK comes from this key `file` (mode 0600)")
	fs.StringVar(&n.env, "new-kek-env", "", "the new KEK (hex or base64) comes from this environment `variable`")
	fs.BoolVar(&n.passphrase, "new-passphrase", false, "the new KEK is derived from a new passphrase, prompted twice without echo (the next line of stdin when it is not a terminal)")
	fs.BoolVar(&n.machine, "new-machine", false, "the new KEK is this machine's key file (created on first use)")
}

// source returns the KEK source the flags select, or a usage error unless
// exactly one is given.
func (n *newKEK) source(a *app, cmd string) (keyring.KEKSource, error) {
	count := 0
	for _, set := range []bool{n.file != "", n.env != "", n.passphrase, n.machine} {
		if set {
			count++
		}
	}
	if count != 1 {
		return nil, usagef("%s: give exactly one of --new-kek-file, --new-kek-env, --new-passphrase and --new-machine", cmd)
	}
	switch {
	case n.file != "":
		p, err := filepath.Abs(n.file)
		if err != nil {
			return nil, err
		}
		return keyring.FileKEK(p), nil
	case n.env != "":
		if a.getenv(n.env) == "" {
			return nil, fmt.Errorf("--new-kek-env %s: the environment variable is not set or empty", n.env)
		}
		return keyring.EnvKEK(n.env), nil
	case n.passphrase:
		p, err := a.newPassphrase("New passphrase: ")
		if err != nil {
			return nil, err
		}
		return keyring.NewPassphraseKEK(p), nil
	default:
		return keyring.MachineKEK(""), nil
	}
}

// newPassphrase reads a passphrase for a new header: on a terminal it is
// asked twice without echo and both must match; otherwise it is the next
// line of stdin.
func (a *app) newPassphrase(prompt string) ([]byte, error) {
	if f, ok := a.stdin.(*os.File); ok && isTerminal(f) {
		p1, err := a.readPassphrase(prompt)
		if err != nil {
			return nil, err
		}
		p2, err := a.readPassphrase("Repeat the passphrase: ")
		if err != nil {
			return nil, err
		}
		if string(p1) != string(p2) {
			clear(p1)
			clear(p2)
			return nil, errors.New("the passphrases do not match")
		}
		clear(p2)
		return p1, nil
	}
	line, err := readLine(a.stdin)
	if err != nil || line == "" {
		return nil, errors.New("no new passphrase on stdin (expected on its own line)")
	}
	return []byte(line), nil
}

// createKEKSource is the KEK source for a new header: the global flags',
// with a passphrase asked twice on a terminal, and a key file named by its
// absolute path (the header records the name).
func (a *app) createKEKSource() (keyring.KEKSource, error) {
	if a.kekFile != "" && a.kek == nil {
		p, err := filepath.Abs(a.kekFile)
		if err != nil {
			return nil, err
		}
		a.kekFile = p
	}
	if a.passphrase && a.kek == nil {
		p, err := a.newPassphrase("Passphrase for the new store: ")
		if err != nil {
			return nil, err
		}
		a.kek = keyring.NewPassphraseKEK(p)
	}
	return a.kekSource()
}

// waitSpinning runs fn, showing a spinner with desc on a terminal, and
// returns its error. If ctx is canceled first and fn cannot be canceled
// (uncancelable: a rekey, an encryption), it says so and goes on waiting:
// such operations are crash-safe but not cancelable. A cancelable fn
// watches ctx itself.
func (a *app) waitSpinning(ctx context.Context, desc string, uncancelable bool, fn func() error) error {
	p := a.newProgress(-1, desc, false)
	defer p.finish()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	interrupted := false
	for i := int64(1); ; i++ {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			p.set(i, -1)
		case <-ctx.Done():
			if uncancelable && !interrupted {
				interrupted = true
				fmt.Fprintf(a.stderr, "runner: %s cannot stop halfway; waiting for it to finish (a killed process is recovered by the next open)\n", desc)
			}
			ctx = context.Background()
		}
	}
}
