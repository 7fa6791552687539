package filelock_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/internal/filelock"
)

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func try(t *testing.T, f *os.File, exclusive bool) bool {
	t.Helper()
	ok, err := filelock.TryLock(f, exclusive)
	if errors.Is(err, filelock.ErrUnsupported) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestTryLock: two opens of one file in one process exclude each other
// like two processes; shared locks coexist; closing the file drops its
// lock.
func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	a, b := open(t, path), open(t, path)
	if !try(t, a, true) {
		t.Fatal("exclusive lock on a fresh file refused")
	}
	if try(t, b, true) || try(t, b, false) {
		t.Fatal("a second open locked a file held exclusively")
	}
	a.Close()
	if !try(t, b, false) {
		t.Fatal("lock not dropped when its file was closed")
	}
	c := open(t, path)
	if !try(t, c, false) {
		t.Fatal("two shared locks do not coexist")
	}
	if try(t, open(t, path), true) {
		t.Fatal("exclusive lock granted while shared locks are held")
	}
}
