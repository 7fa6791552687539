package keyring_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gofastr/store/keyring"
)

func TestEnvKEK(t *testing.T) {
	key := newKEK()
	good := []struct{ name, value string }{
		{"hex", hex.EncodeToString(key)},
		{"HEX", strings.ToUpper(hex.EncodeToString(key))},
		{"base64", base64.StdEncoding.EncodeToString(key)},
		{"base64url", base64.URLEncoding.EncodeToString(key)},
		{"raw base64", base64.RawStdEncoding.EncodeToString(key)},
		{"raw base64url", base64.RawURLEncoding.EncodeToString(key)},
		{"white space", "  " + hex.EncodeToString(key) + "\n"},
	}
	for _, tt := range good {
		t.Setenv("TEST_KEK", tt.value)
		got, err := keyring.EnvKEK("TEST_KEK").KEK(nil)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: KEK()=%x, %v; want %x", tt.name, got, err, key)
		}
	}

	bad := []struct{ name, value, reason string }{
		{"short hex", hex.EncodeToString(key[:31]), "62 characters"},
		{"long hex", hex.EncodeToString(append(key, 1)), "66 characters"},
		{"not hex", strings.Repeat("zz", 32), "not valid hex"},
		{"not base64", strings.Repeat("*", 44), "not valid base64"},
		{"base64 of 33 bytes", base64.RawStdEncoding.EncodeToString(append(key, 1)), "44 characters"},
		{"passphrase", "correct horse battery staple", "28 characters"},
	}
	for _, tt := range bad {
		t.Setenv("TEST_KEK", tt.value)
		_, err := keyring.EnvKEK("TEST_KEK").KEK(nil)
		if !errors.Is(err, keyring.ErrInvalidKEK) {
			t.Errorf("%s: err=%v, want ErrInvalidKEK", tt.name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "TEST_KEK") || !strings.Contains(msg, tt.reason) {
			t.Errorf("%s: error %q should name the variable and say %q", tt.name, msg, tt.reason)
		}
		if strings.Contains(msg, strings.TrimSpace(tt.value)) {
			t.Errorf("%s: error %q quotes the value", tt.name, msg)
		}
	}

	t.Setenv("TEST_KEK", "")
	_, err := keyring.EnvKEK("TEST_KEK").KEK(nil)
	wantErr(t, err, keyring.ErrNoKEK)
}

func writeKeyFile(t *testing.T, data []byte, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(p, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // not subject to umask
		t.Fatal(err)
	}
	return p
}

func TestFileKEKPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are not checked on Windows")
	}
	key := newKEK()
	for _, perm := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o660, 0o666, 0o700 | 0o004} {
		p := writeKeyFile(t, key, perm)
		_, err := keyring.FileKEK(p).KEK(nil)
		if !errors.Is(err, keyring.ErrInsecureKeyFile) {
			t.Errorf("mode %#o: err=%v, want ErrInsecureKeyFile", perm, err)
			continue
		}
		if want := "chmod 600 " + p; !strings.Contains(err.Error(), want) {
			t.Errorf("mode %#o: error %q does not say %q", perm, err, want)
		}
	}
	for _, perm := range []os.FileMode{0o600, 0o400} {
		p := writeKeyFile(t, key, perm)
		if got, err := keyring.FileKEK(p).KEK(nil); err != nil || !bytes.Equal(got, key) {
			t.Errorf("mode %#o: KEK()=%x, %v; want the key", perm, got, err)
		}
	}
	// A path that needs quoting in the suggested command.
	dir := filepath.Join(t.TempDir(), "my keys")
	os.Mkdir(dir, 0o700)
	p := filepath.Join(dir, "kek")
	os.WriteFile(p, key, 0o644)
	os.Chmod(p, 0o644)
	_, err := keyring.FileKEK(p).KEK(nil)
	if want := "chmod 600 '" + p + "'"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v does not say %q", err, want)
	}
}

func TestFileKEKFormats(t *testing.T) {
	key := newKEK()
	good := map[string][]byte{
		"raw":         key,
		"hex":         []byte(hex.EncodeToString(key) + "\n"),
		"base64 CRLF": []byte(base64.StdEncoding.EncodeToString(key) + "\r\n"),
	}
	for name, data := range good {
		got, err := keyring.FileKEK(writeKeyFile(t, data, 0o600)).KEK(nil)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("%s: KEK()=%x, %v; want the key", name, got, err)
		}
	}
	bad := map[string][]byte{
		"empty":    nil,
		"31 bytes": key[:31],
		"33 bytes": append(bytes.Clone(key), 0),
		"large":    bytes.Repeat([]byte("a"), 4096),
		"text":     []byte("my secret passphrase\n"),
	}
	for name, data := range bad {
		_, err := keyring.FileKEK(writeKeyFile(t, data, 0o600)).KEK(nil)
		if !errors.Is(err, keyring.ErrInvalidKEK) {
			t.Errorf("%s: err=%v, want ErrInvalidKEK", name, err)
		} else if len(data) > 0 && strings.Contains(err.Error(), strings.TrimSpace(string(data))) {
			t.Errorf("%s: error %q quotes the file", name, err)
		}
	}
	_, err := keyring.FileKEK(filepath.Join(t.TempDir(), "missing")).KEK(nil)
	wantErr(t, err, fs.ErrNotExist)
	_, err = keyring.FileKEK(t.TempDir()).KEK(nil)
	wantErr(t, err, keyring.ErrInvalidKEK)
}

func TestMachineKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "gofastr", "kek")
	src := keyring.MachineKEK(path)

	_, err := src.KEK(nil)
	wantErr(t, err, fs.ErrNotExist) // opening never creates a key

	db := newDB(t)
	dek, _, err := keyring.LoadOrCreateDEKWith(db, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s: mode %v, want %v", p, got, want)
			}
		}
	}
	keyText, _ := os.ReadFile(path)
	// The machine key is reused by later stores and opens the first one.
	if _, _, err := keyring.LoadOrCreateDEKWith(newDB(t), keyring.MachineKEK(path), nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, keyText) {
		t.Error("machine key replaced")
	}
	got, _, err := keyring.LoadOrCreateDEKWith(db, keyring.FileKEK(path), nil)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("machine key as a key file: err=%v, same DEK %v", err, bytes.Equal(got, dek))
	}
	h, _ := keyring.ReadHeader(db)
	if h.Source() != "machine" {
		t.Errorf("meta=%q, want source machine", h.Metadata)
	}
}

func TestDefaultMachineKEKPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	got, err := keyring.DefaultMachineKEKPath()
	if want := filepath.Join(dir, "gofastr", "kek"); err != nil || got != want {
		t.Errorf("DefaultMachineKEKPath()=%q, %v; want %q", got, err, want)
	}
	t.Setenv("XDG_CONFIG_HOME", "relative/dir")
	got, err = keyring.DefaultMachineKEKPath()
	if err == nil && (strings.HasPrefix(got, "relative") || !filepath.IsAbs(got)) {
		t.Errorf("relative XDG_CONFIG_HOME used: %q", got)
	}
}

func TestResolve(t *testing.T) {
	file := writeKeyFile(t, newKEK(), 0o600)
	tests := []struct {
		name    string
		env     string
		sources keyring.Sources
		want    string
	}{
		{"key beats all", "x", keyring.Sources{Key: newKEK(), KeyFile: file, Passphrase: []byte("p")}, "raw"},
		{"empty key still wins", "x", keyring.Sources{Key: []byte{}}, "raw"},
		// Explicit configuration wins over the environment, a default.
		{"file beats env", "x", keyring.Sources{KeyFile: file}, "file:" + file},
		{"passphrase beats env", "x", keyring.Sources{Passphrase: []byte("p")}, "passphrase"},
		{"file beats passphrase and env", "x", keyring.Sources{KeyFile: file, Passphrase: []byte("p")}, "file:" + file},
		{"file beats passphrase", "", keyring.Sources{KeyFile: file, Passphrase: []byte("p")}, "file:" + file},
		{"env beats machine", "x", keyring.Sources{MachineKeyFile: file}, "env:GOFASTR_KEK"},
		{"passphrase beats machine", "", keyring.Sources{Passphrase: []byte("p")}, "passphrase"},
		{"machine", "", keyring.Sources{}, "machine"},
		{"custom env var", "", keyring.Sources{EnvVar: "OTHER_KEK"}, "env:OTHER_KEK"},
	}
	for _, tt := range tests {
		t.Setenv("GOFASTR_KEK", tt.env)
		t.Setenv("OTHER_KEK", "y")
		src, err := keyring.Resolve(tt.sources)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := src.Name(); got != tt.want {
			t.Errorf("%s: Resolve picked %q, want %q", tt.name, got, tt.want)
		}
	}
	t.Setenv("GOFASTR_KEK", "")
	_, err := keyring.Resolve(keyring.Sources{NoMachineDefault: true})
	wantErr(t, err, keyring.ErrNoKEK)
}
