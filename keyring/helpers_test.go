package keyring_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newKEK() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// newDB returns a database path in a fresh directory; the file does not
// exist.
func newDB(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "store.db")
}

// snapshot records every file in dir: name, mode and contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		m[e.Name()] = fmt.Sprintf("%v %q", fi.Mode(), data)
	}
	return m
}

// assertUnchanged fails if dir differs from an earlier snapshot.
func assertUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := snapshot(t, dir)
	for name, b := range before {
		if a, ok := after[name]; !ok {
			t.Errorf("%s was removed", name)
		} else if a != b {
			t.Errorf("%s changed", name)
		}
	}
	for name := range after {
		// Lock files hold no data; any operation may create them.
		if _, ok := before[name]; !ok && !strings.HasSuffix(name, ".lock") {
			t.Errorf("%s was created", name)
		}
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err=%v, want %v", err, target)
	}
}

// dataFiles lists the files in dir other than lock files, which hold no
// data and which any keyring operation may create.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			names = append(names, e.Name())
		}
	}
	return names
}
