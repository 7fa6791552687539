package filelock_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestLockWait: LockWait gives up after its wait while another open file
// holds the lock, and gets the lock once the holder closes its file.
func TestLockWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	a, b := open(t, path), open(t, path)
	if !try(t, a, true) {
		t.Fatal("exclusive lock on a fresh file refused")
	}
	start := time.Now()
	ok, err := filelock.LockWait(b, false, 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Fatal("LockWait got a lock held exclusively by another open file")
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > 5*time.Second {
		t.Fatalf("LockWait gave up after %v, want about 30ms", d)
	}
	if ok, err := filelock.LockWait(b, true, 0); ok || err != nil {
		t.Fatalf("LockWait with no wait on a held lock = %v, %v; want false, nil", ok, err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		a.Close()
	}()
	ok, err = filelock.LockWait(b, true, 10*time.Second)
	if err != nil || !ok {
		t.Fatalf("LockWait after the holder closed = %v, %v; want true, nil", ok, err)
	}
	if try(t, open(t, path), false) {
		t.Fatal("the lock LockWait took does not exclude others")
	}
}
