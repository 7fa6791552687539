package keyring_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/gofastr/store/keyring"
)

// newStoreHeader creates a store under src and returns its path and header
// bytes.
func newStoreHeader(t *testing.T, src keyring.KEKSource) (string, []byte) {
	t.Helper()
	db := newDB(t)
	if _, _, err := keyring.LoadOrCreateDEKWith(db, src, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(keyring.HeaderPath(db))
	if err != nil {
		t.Fatal(err)
	}
	return db, data
}

func fastPassphrase(p string) *keyring.PassphraseKEK {
	s := keyring.NewPassphraseKEK([]byte(p))
	defer keyring.SetArgon2Floor(0, 0)() // test-only parameters
	if err := s.SetParams(1, 64, 1); err != nil {
		panic(err)
	}
	return s
}

// lineLabel names the header field on a line of the indented JSON, with
// "kdf." for nested fields, or "structure" for braces.
func lineLabels(data []byte) []string {
	var labels []string
	prefix := ""
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		label := "structure"
		if k, _, ok := strings.Cut(s, ":"); ok && strings.HasPrefix(k, `"`) {
			label = prefix + strings.Trim(k, `"`)
			if strings.HasSuffix(s, "{") {
				prefix = label + "."
			}
		} else if strings.HasPrefix(s, "}") {
			prefix = ""
		}
		labels = append(labels, label)
	}
	return labels
}

// TestHeaderBitFlips flips every bit of real headers, grouped by the field
// on each line, and checks that each flip is reported as a *HeaderError
// (never as a wrong key, never as success) and that the file is left as it
// was.
func TestHeaderBitFlips(t *testing.T) {
	for _, src := range []keyring.KEKSource{keyring.RawKEK(newKEK()), fastPassphrase("hunter2")} {
		db, orig := newStoreHeader(t, src)
		dir, hp := filepath.Dir(db), keyring.HeaderPath(db)
		lines := bytes.SplitAfter(orig, []byte("\n"))
		labels := lineLabels(orig)
		offset := 0
		for i, line := range lines {
			start := offset
			offset += len(line)
			if len(line) == 0 {
				continue
			}
			t.Run(src.Name()+"/"+labels[i], func(t *testing.T) {
				for b := start; b < start+len(line); b++ {
					for bit := range 8 {
						data := bytes.Clone(orig)
						data[b] ^= 1 << bit
						if err := os.WriteFile(hp, data, 0o600); err != nil {
							t.Fatal(err)
						}
						before := snapshot(t, dir)
						_, _, err := keyring.LoadOrCreateDEKWith(db, src, nil)
						assertUnchanged(t, dir, before)
						if _, ok := errors.AsType[*keyring.HeaderError](err); !ok {
							t.Fatalf("byte %d (%q) bit %d: err=%v, want *HeaderError", b, orig[b], bit, err)
						}
					}
				}
			})
		}
	}
}

// TestHeaderTruncated cuts a header at every length.
func TestHeaderTruncated(t *testing.T) {
	_, orig := newStoreHeader(t, keyring.RawKEK(newKEK()))
	for n := range len(orig) - 1 {
		_, err := keyring.ParseHeader(orig[:n])
		if !errors.Is(err, keyring.ErrCorruptHeader) {
			t.Fatalf("length %d of %d: err=%v, want ErrCorruptHeader", n, len(orig), err)
		}
	}
	// The final newline is optional.
	if _, err := keyring.ParseHeader(orig[:len(orig)-1]); err != nil {
		t.Fatalf("without final newline: %v", err)
	}
}

func TestHeaderVersions(t *testing.T) {
	_, orig := newStoreHeader(t, keyring.RawKEK(newKEK()))
	tests := []struct {
		version string
		want    error
	}{
		{"0", keyring.ErrUnsupportedVersion},
		{"2", keyring.ErrUnsupportedVersion},
		{"99", keyring.ErrUnsupportedVersion},
		{"-1", keyring.ErrCorruptHeader},
		{"1.0", keyring.ErrCorruptHeader},
		{"1e0", keyring.ErrCorruptHeader},
		{`"1"`, keyring.ErrCorruptHeader},
		{"null", keyring.ErrCorruptHeader},
		{"99999999999999999999", keyring.ErrCorruptHeader},
	}
	for _, tt := range tests {
		data := bytes.Replace(orig, []byte(`"version": 1`), []byte(`"version": `+tt.version), 1)
		_, err := keyring.ParseHeader(data)
		he, ok := errors.AsType[*keyring.HeaderError](err)
		if !ok || !errors.Is(err, tt.want) || he.Field != "version" {
			t.Errorf("version %s: err=%v, want %v in field version", tt.version, err, tt.want)
		}
	}
}

func TestHeaderMalformed(t *testing.T) {
	_, orig := newStoreHeader(t, keyring.RawKEK(newKEK()))
	trimmed := bytes.TrimSpace(orig)
	tests := []struct {
		name, data, field string
	}{
		{"empty", "", ""},
		{"spaces", " \n\t", ""},
		{"array", "[]", ""},
		{"null", "null", ""},
		{"open brace", "{", ""},
		{"only version", `{"version": 1}`, "nonce"},
		{"trailing garbage", string(trimmed) + "x", ""},
		{"second object", string(trimmed) + "{}", ""},
		{"too large", string(trimmed) + strings.Repeat(" ", 64<<10), ""},
		{"nonce null", strings.Replace(string(orig), `"nonce": "`, `"nonce": null, "x": "`, 1), "x"},
		{"nonce not base64", strings.Replace(string(orig), `"nonce": "`, `"nonce": "!`, 1), "nonce"},
		{"meta not string", regexp.MustCompile(`"meta": "[^"]*"`).ReplaceAllString(string(orig), `"meta": 5`), "meta"},
		{"no sum", strings.Replace(string(orig), `"sum"`, `"Sum"`, 1), "Sum"},
	}
	for _, tt := range tests {
		_, err := keyring.ParseHeader([]byte(tt.data))
		he, ok := errors.AsType[*keyring.HeaderError](err)
		if !ok || !errors.Is(err, keyring.ErrCorruptHeader) {
			t.Errorf("%s: err=%v, want ErrCorruptHeader", tt.name, err)
			continue
		}
		if he.Field != tt.field {
			t.Errorf("%s: Field=%q, want %q (%v)", tt.name, he.Field, tt.field, err)
		}
	}
}

func TestHeaderFile(t *testing.T) {
	kek := newKEK()
	db, data := newStoreHeader(t, keyring.RawKEK(kek))
	fi, err := os.Stat(keyring.HeaderPath(db))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Errorf("header mode=%v, want %v", got, want)
		}
	}
	h, err := keyring.ReadHeader(db)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != keyring.HeaderVersion || len(h.Nonce) != 12 || len(h.Wrapped) != 48 || h.Source() != "raw" || h.Created().IsZero() || !h.Rewrapped().IsZero() || h.KDF != nil {
		t.Errorf("header = %+v", h)
	}
	for _, key := range [][]byte{kek, []byte(fmt.Sprintf("%x", kek))} {
		if bytes.Contains(data, key) {
			t.Error("header contains the KEK")
		}
	}
	if files := dataFiles(t, filepath.Dir(db)); len(files) != 1 {
		t.Errorf("directory holds %v, want only the header", files)
	}
}

func TestHeaderErrorMessage(t *testing.T) {
	db, orig := newStoreHeader(t, keyring.RawKEK(newKEK()))
	data := bytes.Replace(orig, []byte(`"version": 1`), []byte(`"version": 7`), 1)
	if err := os.WriteFile(keyring.HeaderPath(db), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := keyring.ReadHeader(db)
	got := fmt.Sprint(err)
	for _, want := range []string{keyring.HeaderPath(db), "version 7", "field version", "unsupported"} {
		if !strings.Contains(got, want) {
			t.Errorf("error %q does not mention %q", got, want)
		}
	}
}
