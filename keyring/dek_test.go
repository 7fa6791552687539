package keyring_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/keyring"
)

func TestLoadOrCreateDEK(t *testing.T) {
	db, kek := newDB(t), newKEK()
	dek, hp, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hp, db+".dek"; got != want {
		t.Errorf("header path=%q, want %q", got, want)
	}
	if got, want := len(dek), keyring.DEKSize; got != want {
		t.Fatalf("len(DEK)=%d, want %d", got, want)
	}
	again, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, dek) {
		t.Error("second open returned another DEK")
	}
	other, _, err := keyring.LoadOrCreateDEK(newDB(t), kek)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, dek) {
		t.Error("two stores share a DEK")
	}
}

func TestLoadOrCreateDEKEmptyDatabase(t *testing.T) {
	db := newDB(t)
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keyring.LoadOrCreateDEK(db, newKEK()); err != nil {
		t.Fatalf("empty database: %v", err)
	}
}

// TestMissingHeaderWithData checks that no DEK is created over a database
// (or WAL or journal) that already holds data.
func TestMissingHeaderWithData(t *testing.T) {
	for _, suffix := range []string{"", "-wal", "-journal"} {
		t.Run("db"+suffix, func(t *testing.T) {
			db := newDB(t)
			if err := os.WriteFile(db+suffix, []byte("SQLite format 3\x00"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, filepath.Dir(db))
			_, _, err := keyring.LoadOrCreateDEK(db, newKEK())
			wantErr(t, err, keyring.ErrNoHeader)
			assertUnchanged(t, filepath.Dir(db), before)
			if !strings.Contains(err.Error(), "ImportDEK") {
				t.Errorf("error %q does not say how to recover", err)
			}
		})
	}
}

func TestWrongKEK(t *testing.T) {
	db := newDB(t)
	if _, _, err := keyring.LoadOrCreateDEK(db, newKEK()); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Dir(db))
	_, _, err := keyring.LoadOrCreateDEK(db, newKEK())
	wantErr(t, err, keyring.ErrWrongKEK)
	assertUnchanged(t, filepath.Dir(db), before)
}

func TestKEKLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		db := newDB(t)
		_, _, err := keyring.LoadOrCreateDEK(db, make([]byte, n))
		wantErr(t, err, keyring.ErrInvalidKEK)
		if files := dataFiles(t, filepath.Dir(db)); len(files) != 0 {
			t.Errorf("KEK of %d bytes: %v created", n, files)
		}
	}
	_, _, err := keyring.LoadOrCreateDEK(newDB(t), nil)
	wantErr(t, err, keyring.ErrInvalidKEK)
}

// TestConcurrentCreate opens one new store from many goroutines: all must
// get the same DEK (the header is created exclusively).
func TestConcurrentCreate(t *testing.T) {
	db, kek := newDB(t), newKEK()
	const n = 16
	deks := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { deks[i], _, errs[i] = keyring.LoadOrCreateDEK(db, kek) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(deks[i], deks[0]) {
			t.Fatalf("goroutine %d got another DEK", i)
		}
	}
	if files := dataFiles(t, filepath.Dir(db)); len(files) != 1 {
		t.Errorf("directory holds %v, want only the header", files)
	}
}

func TestRotateKEK(t *testing.T) {
	db, k1, k2 := newDB(t), newKEK(), newKEK()
	dek, hp, err := keyring.LoadOrCreateDEK(db, k1)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(hp)
	if err := keyring.RotateKEK(db, k1, k2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keyring.LoadOrCreateDEK(db, k1); err == nil {
		t.Error("old KEK still opens the header")
	}
	got, _, err := keyring.LoadOrCreateDEK(db, k2)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("new KEK: err=%v, same DEK %v", err, bytes.Equal(got, dek))
	}
	if now, _ := os.ReadFile(hp); bytes.Equal(now, old) {
		t.Error("header unchanged by rotation")
	}

	// Retrying a finished rotation succeeds without writing.
	before := snapshot(t, filepath.Dir(db))
	if err := keyring.RotateKEK(db, k1, k2); err != nil {
		t.Errorf("retry of a finished rotation: %v", err)
	}
	assertUnchanged(t, filepath.Dir(db), before)

	// Neither KEK: error, nothing written.
	err = keyring.RotateKEK(db, newKEK(), newKEK())
	wantErr(t, err, keyring.ErrWrongKEK)
	assertUnchanged(t, filepath.Dir(db), before)

	// A bad new KEK is refused before anything is written.
	err = keyring.RotateKEK(db, k2, make([]byte, 5))
	wantErr(t, err, keyring.ErrInvalidKEK)
	assertUnchanged(t, filepath.Dir(db), before)

	err = keyring.RotateKEK(newDB(t), k1, k2)
	wantErr(t, err, fs.ErrNotExist)
}

// TestStaleTempFiles checks that leftover temporary files (from a crash)
// do not disturb later writes, and that old ones are cleaned up.
func TestStaleTempFiles(t *testing.T) {
	db, k1, k2 := newDB(t), newKEK(), newKEK()
	if _, _, err := keyring.LoadOrCreateDEK(db, k1); err != nil {
		t.Fatal(err)
	}
	hp := keyring.HeaderPath(db)
	fresh, stale := hp+".tmp-fresh", hp+".tmp-stale"
	for _, p := range []string{fresh, stale} {
		if err := os.WriteFile(p, []byte("{garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * keyring.StaleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := keyring.RotateKEK(db, k1, k2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, _, err := keyring.LoadOrCreateDEK(db, k2); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	for _, data := range []string{"one", "two, longer", ""} {
		if err := keyring.WriteFileAtomic(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != data {
			t.Fatalf("ReadFile=%q, %v; want %q", got, err, data)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 1 {
		t.Errorf("directory holds %d files, want 1", len(entries))
	}
	// Relative paths stay in their own directory.
	t.Chdir(filepath.Dir(p))
	if err := keyring.WriteFileAtomic("g", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), "g")); err != nil {
		t.Fatal(err)
	}
}
