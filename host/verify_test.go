package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// verifyKEK is the KEK of the encrypted stores of the verify tests. It is
// a test constant, not a secret.
var verifyKEK = bytes.Repeat([]byte{0x3c}, 32)

func verifyConfig(kek []byte) host.Config {
	return host.NewConfig().WithKEKSource(keyring.RawKEK(kek))
}

// fillVerifyStore appends n events with incompressible payloads to sessions
// s0…s3, from four goroutines (the writer commits them in shared
// transactions), and pins s0.
func fillVerifyStore(tb testing.TB, s *host.Store, first, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := first + g; i < first+n; i += 4 {
				sess := abi.SessionID(fmt.Sprintf("s%d", i%4))
				if _, err := s.Append(context.Background(), storeEvent(sess, i, "message", jsonString(incompressible(uint64(i), 1500)))); err != nil {
					tb.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	if err := s.Pin(context.Background(), "s0"); err != nil {
		tb.Fatal(err)
	}
}

// newVerifyStore creates a store at a fresh path (encrypted under
// verifyKEK, or plaintext), fills it and closes it.
func newVerifyStore(tb testing.TB, encrypted bool) (path string, cfg host.Config) {
	tb.Helper()
	path = tempStorePath(tb)
	cfg = host.NewConfig()
	if encrypted {
		cfg = verifyConfig(verifyKEK)
	}
	s, err := host.OpenWithConfig(path, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	fillVerifyStore(tb, s, 0, 200)
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return path, cfg
}

func verify(tb testing.TB, path string, cfg host.Config) *host.VerifyReport {
	tb.Helper()
	r, err := host.Verify(context.Background(), path, cfg, nil)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return r
}

// flipByte XORs one byte of the file at path.
func flipByte(tb testing.TB, path string, off int64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		tb.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b[:], off); err != nil {
		tb.Fatal(err)
	}
}

func TestVerifyClean(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			path, cfg := newVerifyStore(t, encrypted)
			dir := filepath.Dir(path)
			before := storefiles.Take(t, dir)
			var last, total int64
			r, err := host.Verify(context.Background(), path, cfg, func(done, all int64) { last, total = done, all })
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || r.Encrypted != encrypted || r.Path != path {
				t.Fatalf("report %+v", r)
			}
			fi, _ := os.Stat(path)
			if encrypted && (r.Pages != fi.Size()/4096 || r.Frames != 0) {
				t.Errorf("%d pages and %d frames authenticated, want %d and 0", r.Pages, r.Frames, fi.Size()/4096)
			}
			if !encrypted && (r.Pages != 0 || r.Frames != 0) {
				t.Errorf("plaintext store: %d pages and %d frames authenticated", r.Pages, r.Frames)
			}
			if last != total || total != fi.Size() {
				t.Errorf("progress ended at %d of %d, want %d", last, total, fi.Size())
			}
			storefiles.Unchanged(t, dir, before)
			if _, err := json.Marshal(r); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestVerifyDamagedPage flips one byte of a page of a closed store's
// database file: Verify names exactly that page, err is nil, OK is false.
func TestVerifyDamagedPage(t *testing.T) {
	path, cfg := newVerifyStore(t, true)
	fi, _ := os.Stat(path)
	pages := fi.Size() / 4096
	for _, pg := range []int64{1, 2, pages / 2, pages} {
		t.Run(fmt.Sprint("page ", pg), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "sessions.db")
			storefiles.Copy(t, path, p)
			off := (pg-1)*4096 + 40 + pg%200
			flipByte(t, p, off)
			before := storefiles.Take(t, filepath.Dir(p))
			r := verify(t, p, cfg)
			if r.OK() || len(r.Damaged) != 1 {
				t.Fatalf("damaged: %+v, want page %d", r.Damaged, pg)
			}
			d := r.Damaged[0]
			if d.Kind != "db" || int64(d.Page) != pg || d.Offset != (pg-1)*4096 || d.File != p || d.Frame != 0 ||
				!errors.Is(d.Err, sqlitevfs.ErrAuth) || d.Reason == "" {
				t.Errorf("damage %+v", d)
			}
			if r.Pages != pages-1 {
				t.Errorf("%d pages authenticated, want %d", r.Pages, pages-1)
			}
			if len(r.Integrity) == 0 {
				t.Error("integrity_check found nothing on a store with a damaged page")
			}
			storefiles.Unchanged(t, filepath.Dir(p), before)
		})
	}
}

// TestVerifyWrongKEK: a KEK that does not open the header is an error
// wrapping keyring.ErrWrongKEK, and nothing changes; so is a data key
// the store is not sealed under.
func TestVerifyWrongKEK(t *testing.T) {
	path, _ := newVerifyStore(t, true)
	dir := filepath.Dir(path)
	before := storefiles.Take(t, dir)
	other := bytes.Repeat([]byte{0x77}, 32)
	_, err := host.Verify(context.Background(), path, verifyConfig(other), nil)
	if !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("wrong KEK: %v, want keyring.ErrWrongKEK", err)
	}
	for _, secret := range [][]byte{other, verifyKEK, []byte(fmt.Sprintf("%x", other))} {
		if strings.Contains(err.Error(), string(secret)) {
			t.Error("error holds key material")
		}
	}
	_, err = host.Verify(context.Background(), path, host.NewConfig().WithKey(other), nil)
	if !errors.Is(err, sqlitevfs.ErrWrongKey) {
		t.Errorf("wrong data key: %v, want sqlitevfs.ErrWrongKey", err)
	}
	// The right data key, given directly.
	dek, _, err := keyring.LoadDEK(path, keyring.RawKEK(verifyKEK))
	if err != nil {
		t.Fatal(err)
	}
	if r := verify(t, path, host.NewConfig().WithKey(dek)); !r.OK() || r.Pages == 0 {
		t.Errorf("with the data key: %+v", r)
	}
	// Encrypted store, no key; missing store.
	if _, err := host.Verify(context.Background(), path, host.NewConfig(), nil); !errors.Is(err, host.ErrEncryptedStore) {
		t.Errorf("no key: %v, want ErrEncryptedStore", err)
	}
	missing := filepath.Join(dir, "missing.db")
	if _, err := host.Verify(context.Background(), missing, verifyConfig(verifyKEK), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing store: %v, want fs.ErrNotExist", err)
	}
	if _, err := host.Verify(context.Background(), missing, host.NewConfig(), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing plaintext store: %v, want fs.ErrNotExist", err)
	}
	storefiles.Unchanged(t, dir, before)
	if _, err := os.Stat(missing + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Verify of a missing store created its lock file: %v", err)
	}
}

// TestVerifyPlaintextDamage: a plaintext store gets integrity_check only;
// a damaged b-tree page is reported there.
func TestVerifyPlaintextDamage(t *testing.T) {
	path, cfg := newVerifyStore(t, false)
	before := verify(t, path, cfg)
	if !before.OK() {
		t.Fatalf("clean plaintext store: %+v", before)
	}
	fi, _ := os.Stat(path)
	// Garble the b-tree page header of the last page.
	off := fi.Size() - 4096
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 12), off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := verify(t, path, cfg)
	if r.OK() || len(r.Integrity) == 0 || len(r.Damaged) != 0 {
		t.Fatalf("damaged plaintext store: %+v", r)
	}
}

func TestHealth(t *testing.T) {
	ctx := context.Background()
	t.Run("encrypted", func(t *testing.T) {
		path := tempStorePath(t)
		start := time.Now().UTC().Truncate(time.Second)
		s, err := host.OpenWithConfig(path, verifyConfig(verifyKEK))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fillVerifyStore(t, s, 0, 40)
		h, err := s.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h.Path != path || !h.Encrypted || h.KEKSource != "raw" || h.HeaderVersion != keyring.HeaderVersion ||
			h.SchemaVersion != host.SchemaVersion || h.Sessions != 4 || h.Events != 40 || h.Pinned != 1 ||
			h.Size == 0 || h.WALSize == 0 || !h.LastRotation.IsZero() || !h.LastReconciliation.IsZero() {
			t.Errorf("health %+v", h)
		}
		if h.KeyCreated.Before(start) || h.KeyCreated.After(time.Now()) {
			t.Errorf("key created %v, want about %v", h.KeyCreated, start)
		}
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, verifyKEK) || strings.Contains(string(b), "last_rotation") {
			t.Errorf("JSON %s", b)
		}

		// After a KEK rotation (the store stays open), LastRotation is set.
		newKEK := bytes.Repeat([]byte{0x4d}, 32)
		if err := keyring.RotateKEK(path, verifyKEK, newKEK); err != nil {
			t.Fatal(err)
		}
		h2, err := s.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h2.LastRotation.IsZero() || h2.LastRotation.Before(start) || !h2.KeyCreated.Equal(h.KeyCreated) {
			t.Errorf("after RotateKEK: key created %v, last rotation %v", h2.KeyCreated, h2.LastRotation)
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		s, path := openPlainStore(t)
		fillVerifyStore(t, s, 0, 8)
		h, err := s.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h.Path != path || h.Encrypted || h.KEKSource != "" || h.HeaderVersion != 0 || !h.KeyCreated.IsZero() ||
			h.SchemaVersion != host.SchemaVersion || h.Sessions != 4 || h.Events != 8 || h.Pinned != 1 {
			t.Errorf("health %+v", h)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Health(ctx); !errors.Is(err, host.ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	})
	t.Run("data key", func(t *testing.T) {
		s, _ := openEncStore(t)
		h, err := s.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Encrypted || h.KEKSource != "" || h.HeaderVersion != 0 {
			t.Errorf("health %+v", h)
		}
	})
}

// TestVerifyCopyOfOpenStore verifies a copy of a store taken while it was
// open (database and WAL, no WAL index): clean, and no file appears
// beside it.
func TestVerifyCopyOfOpenStore(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			path, cfg := newVerifyStore(t, encrypted)
			s, err := host.OpenWithConfig(path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fillVerifyStore(t, s, 1000, 20)
			cp := filepath.Join(t.TempDir(), "copy.db")
			storefiles.Copy(t, path, cp)
			if fi, err := os.Stat(cp + "-wal"); err != nil || fi.Size() == 0 {
				t.Fatalf("the copy has no WAL: %v", err)
			}
			before := storefiles.Take(t, filepath.Dir(cp))
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // where the private copy goes
			r := verify(t, cp, cfg)
			if !r.OK() {
				t.Fatalf("copy of an open store: %+v", r)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("Verify left %v in the temporary directory", left)
			}
			if encrypted && r.Frames == 0 {
				t.Error("no WAL frame authenticated")
			}
			storefiles.Unchanged(t, filepath.Dir(cp), before)
			if _, err := os.Stat(cp + "-shm"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Verify created the WAL index: %v", err)
			}
		})
	}
}

// TestVerifyNewOpenStore verifies a store just created and still open,
// whose pages may all be in the WAL still.
func TestVerifyNewOpenStore(t *testing.T) {
	path := tempStorePath(t)
	cfg := verifyConfig(verifyKEK)
	s, err := host.OpenWithConfig(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppend(t, s, storeEvent("new", 1, "message", `{"text":"hello"}`))
	names := storeNames(t, filepath.Dir(path))
	r := verify(t, path, cfg)
	if !r.OK() || r.Pages+r.Frames == 0 {
		t.Fatalf("new open store: %+v", r)
	}
	if got := storeNames(t, filepath.Dir(path)); !slices.Equal(got, names) {
		t.Errorf("files %v after Verify, want %v", got, names)
	}
	mustAppend(t, s, storeEvent("new", 2, "message", `{"text":"still writable"}`))
}
