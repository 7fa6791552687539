package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

var (
	_ KEKSource = envKEK{}
	_ KEKSource = fileKEK{}
	_ KEKSource = machineKEK{}
)

// EnvKEK returns a source that reads the KEK from the environment variable
// name each time one is needed: 64 hex digits, or 32 bytes in base64 (the
// standard or URL alphabet, padded or not). Errors say what is wrong with
// the value without quoting it. The variable's value is an immutable Go
// string and cannot be cleared; it is also visible to processes that can
// read this process's environment.
func EnvKEK(name string) KEKSource { return envKEK{name} }

type envKEK struct{ name string }

func (e envKEK) Name() string { return "env:" + e.name }

func (e envKEK) NewKEK() ([]byte, *KDFParams, error) {
	k, err := e.KEK(nil)
	return k, nil, err
}

func (e envKEK) KEK(kdf *KDFParams) ([]byte, error) {
	if kdf != nil {
		return nil, errNeedsPassphrase(e.Name())
	}
	v := os.Getenv(e.name)
	if v == "" {
		return nil, fmt.Errorf("%w: environment variable %s is not set", ErrNoKEK, e.name)
	}
	text := []byte(v)
	defer clear(text)
	key, reason := decodeKEKText(text)
	if key == nil {
		return nil, fmt.Errorf("%w: environment variable %s: %s", ErrInvalidKEK, e.name, reason)
	}
	return key, nil
}

// FileKEK returns a source that reads the KEK from a key file each time one
// is needed. A file of exactly 32 bytes is the raw key; anything else is the
// key as text, in the formats [EnvKEK] accepts, with optional white space.
//
// The file must be a regular file that neither group nor others can access
// (mode 0600 or stricter); otherwise the KEK is refused with
// [ErrInsecureKeyFile] and a message naming the chmod command that fixes
// it. On Windows this check is skipped: Go reports no ACLs in file modes
// there, so protect the file with NTFS permissions instead.
func FileKEK(path string) KEKSource { return fileKEK{path} }

type fileKEK struct{ path string }

func (f fileKEK) Name() string { return "file:" + f.path }

func (f fileKEK) NewKEK() ([]byte, *KDFParams, error) {
	k, err := f.KEK(nil)
	return k, nil, err
}

func (f fileKEK) KEK(kdf *KDFParams) ([]byte, error) {
	if kdf != nil {
		return nil, errNeedsPassphrase(f.Name())
	}
	return readKeyFile(f.path)
}

// MachineKEK returns the machine default source: a random KEK kept in a key
// file that is created (mode 0600, in a directory created with mode 0700)
// the first time a new header is wrapped, and read like a [FileKEK] after
// that. path "" means [DefaultMachineKEKPath].
//
// The machine key protects a database that is copied without the user's
// configuration directory (a backup or sync of the data directory); it does
// not protect against someone who can read both, such as the thief of an
// unencrypted disk. Losing the file loses every store that uses it unless
// the store's DEK was escrowed with [ExportDEK].
func MachineKEK(path string) KEKSource { return machineKEK{path} }

type machineKEK struct{ path string }

func (machineKEK) Name() string { return "machine" }

func (m machineKEK) keyPath() (string, error) {
	if m.path != "" {
		return m.path, nil
	}
	return DefaultMachineKEKPath()
}

func (m machineKEK) NewKEK() ([]byte, *KDFParams, error) {
	p, err := m.keyPath()
	if err != nil {
		return nil, nil, err
	}
	k, err := readKeyFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKeyFile(p); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, nil, fmt.Errorf("keyring: create machine key: %w", err)
		}
		k, err = readKeyFile(p) // ours, or one a concurrent process created first
	}
	return k, nil, err
}

func (m machineKEK) KEK(kdf *KDFParams) ([]byte, error) {
	if kdf != nil {
		return nil, errNeedsPassphrase(m.Name())
	}
	p, err := m.keyPath()
	if err != nil {
		return nil, err
	}
	k, err := readKeyFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keyring: machine key %s is missing; restore it, or use ImportDEK with an escrow file: %w", p, fs.ErrNotExist)
	}
	return k, err
}

// DefaultMachineKEKPath returns where [MachineKEK] keeps the machine key by
// default: $XDG_CONFIG_HOME/gofastr/kek when XDG_CONFIG_HOME is an absolute
// path, otherwise gofastr/kek under [os.UserConfigDir] (~/.config on Linux,
// ~/Library/Application Support on macOS, %AppData% on Windows).
func DefaultMachineKEKPath() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "gofastr", "kek"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("keyring: locate machine key: %w", err)
	}
	return filepath.Join(d, "gofastr", "kek"), nil
}

// createKeyFile writes a new random KEK, base64-encoded with a trailing
// newline, to path. It fails with fs.ErrExist if path exists.
func createKeyFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	key := make([]byte, KEKSize)
	defer clear(key)
	rand.Read(key)
	text := base64.StdEncoding.AppendEncode(make([]byte, 0, 64), key)
	defer clear(text)
	return writeFileNew(path, append(text, '\n'), 0o600)
}

// readKeyFile reads a key file into a fixed buffer (no growing copies of
// the key are left behind) after checking its type and permissions on the
// open file.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: read key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring: read key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: key file %s is not a regular file", ErrInvalidKEK, path)
	}
	if err := checkKeyFilePerm(path, fi.Mode()); err != nil {
		return nil, err
	}
	buf := make([]byte, 512)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		return nil, fmt.Errorf("%w: key file %s is larger than %d bytes", ErrInvalidKEK, path, len(buf)-1)
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("keyring: read key file: %w", err)
	case n == KEKSize:
		return bytes.Clone(buf[:n]), nil
	}
	key, reason := decodeKEKText(buf[:n])
	if key == nil {
		return nil, fmt.Errorf("%w: key file %s: %s", ErrInvalidKEK, path, reason)
	}
	return key, nil
}

// checkKeyFilePerm refuses a key file that group or others can access. It
// is a no-op on Windows, where file modes do not reflect ACLs.
func checkKeyFilePerm(path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" || mode.Perm()&0o077 == 0 {
		return nil
	}
	return fmt.Errorf("%w: key file %s has mode %#o, accessible by group or others; fix with: chmod 600 %s",
		ErrInsecureKeyFile, path, mode.Perm(), shellQuote(path))
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
