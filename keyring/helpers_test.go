package keyring_test

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofastr/store/internal/testkit/storefiles"
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

// snapshot records every file in dir but lock files: name, mode and
// contents (storefiles.Take).
func snapshot(t *testing.T, dir string) storefiles.Snapshot {
	t.Helper()
	return storefiles.Take(t, dir)
}

// assertUnchanged fails if dir differs from an earlier snapshot. Lock
// files hold no data; any operation may create them.
func assertUnchanged(t *testing.T, dir string, before storefiles.Snapshot) {
	t.Helper()
	storefiles.Unchanged(t, dir, before)
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
