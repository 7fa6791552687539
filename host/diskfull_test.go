//go:build linux

package host_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// The tests in this file need root to mount a small tmpfs (CI runs as
// root); elsewhere they skip, saying why.

// smallFS mounts a tmpfs of size bytes and returns its directory, or skips
// the test (with the reason) when that is not possible: not root, no mount.
func smallFS(t *testing.T, size string) string { return smallfs.Mount(t, size) }

// ballast fills a file of n bytes in dir, to be removed to free space.
func ballast(t *testing.T, dir string, n int) string {
	t.Helper()
	p := filepath.Join(dir, "ballast")
	if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type opener func(path string) (*host.Store, error)

func plainOpener(path string) (*host.Store, error) { return host.Open(path) }

func encOpener(key []byte) opener {
	return func(path string) (*host.Store, error) {
		return host.OpenEncrypted(path, host.EncryptionAtRest, key)
	}
}

func randomKey(t *testing.T) []byte {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// fillUntilFull appends events until Append fails, and returns the IDs of
// the acknowledged events with their payloads and the error.
func fillUntilFull(t *testing.T, s *host.Store) (map[uint64]string, error) {
	t.Helper()
	acked := map[uint64]string{}
	for i := range 100000 {
		p := fmt.Sprintf(`{"text":%q}`, incompressible(uint64(i), 3000))
		id, err := s.Append(context.Background(), storeEvent("s1", i, "user_message", p))
		if err != nil {
			return acked, err
		}
		acked[id] = p
	}
	t.Fatal("the disk never filled")
	return nil, nil
}

// checkAcked reopens the store and checks every acknowledged event is there.
func checkAcked(t *testing.T, open opener, path string, acked map[uint64]string) {
	t.Helper()
	s, err := open(path)
	if err != nil {
		t.Fatalf("reopen after freeing space: %v", err)
	}
	defer s.Close()
	got := map[uint64]string{}
	for _, ev := range allEvents(t, s, "s1") {
		got[ev.ID] = string(ev.Payload)
	}
	for id, p := range acked {
		if g, ok := got[id]; !ok {
			t.Errorf("acknowledged event %d is missing", id)
		} else if g != p {
			t.Errorf("acknowledged event %d changed", id)
		}
	}
	t.Logf("%d acknowledged events, %d in the store", len(acked), len(got))
}

func testDiskFullAppend(t *testing.T, open opener) {
	dir := smallFS(t, "2m")
	ball := ballast(t, dir, 256<<10)
	path := filepath.Join(dir, "sessions.db")
	s, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	acked, err := fillUntilFull(t, s)
	t.Logf("full after %d events: %v", len(acked), err)
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, host.ErrDiskFull) {
		t.Errorf("Append on a full disk: %v, want errors.Is ENOSPC and ErrDiskFull", err)
	}
	// A second append on the full disk fails the same way, no panic.
	_, err2 := s.Append(context.Background(), storeEvent("s1", 0, "user_message", `{"text":"more"}`))
	if err2 != nil && !errors.Is(err2, syscall.ENOSPC) {
		t.Errorf("second Append on a full disk: %v, want ENOSPC", err2)
	}
	s.Close()
	if err := os.Remove(ball); err != nil {
		t.Fatal(err)
	}
	checkAcked(t, open, path, acked)
}

func TestDiskFullAppendPlain(t *testing.T) { testDiskFullAppend(t, plainOpener) }
func TestDiskFullAppendEncrypted(t *testing.T) {
	testDiskFullAppend(t, encOpener(randomKey(t)))
}

// freeBytes returns the space available in dir.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// testDiskFullRetention runs ApplyRetention (DropMetadata with drop) on a copy of a store of old
// events, on a tmpfs with less and less room taken by a ballast file,
// until the payloads are dropped (the change committed) and the VACUUM
// that follows fails for lack of space. ApplyRetention must then return
// the number dropped with an error matching ErrNotErased and ENOSPC, and
// after freeing space the store holds every event, payloads dropped (no
// event, with drop), and a retry erases them.
//
// cfg opens the store for Verify, which must pass after the retry; for an
// encrypted store (cfg with a key) the payloads carry a marker that no
// file of the directory may hold, after the failure and after the retry.
func testDiskFullRetention(t *testing.T, open opener, cfg host.Config, encrypted, drop bool) {
	purge := func(s *host.Store) (int64, error) {
		if drop {
			return s.DropMetadata(context.Background(), time.Hour, nil)
		}
		return s.ApplyRetention(context.Background(), time.Hour)
	}
	const events = 80
	marker := storefiles.NewMarker()
	tmpl := tempStorePath(t)
	s, err := open(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[uint64]bool{}
	for i := range events {
		ev := storeEvent("s1", i, "user_message", fmt.Sprintf(`{"text":%q,"m":%q}`, incompressible(uint64(i), 3000), marker))
		ev.TS = time.Now().Add(-48 * time.Hour)
		ids[mustAppend(t, s, ev)] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	dir := smallFS(t, "2m")
	path := filepath.Join(dir, "sessions.db")
	ballastPath := filepath.Join(dir, "ballast")
	points, noRoom := 0, 0
	for slack := int64(0); slack < 2<<20; slack += sweepStep(4 << 10) {
		points++
		os.Remove(ballastPath)
		storefiles.Copy(t, tmpl, path) // removes the last attempt's files first
		s, err := open(path)
		if err != nil {
			noRoom++
			continue // not even room to open: more slack
		}
		if fill := freeBytes(t, dir) - slack; fill > 0 {
			if err := os.WriteFile(ballastPath, make([]byte, fill), 0o600); err != nil {
				s.Close()
				continue
			}
		}
		n, rerr := purge(s)
		s.Close()
		os.Remove(ballastPath) // free the space
		if rerr == nil {
			t.Fatalf("slack %d: ApplyRetention = %d, nil before any attempt committed and failed to vacuum", slack, n)
		}
		s, err = open(path)
		if err != nil {
			t.Fatalf("slack %d: reopen after freeing space: %v (retention: %v)", slack, err, rerr)
		}
		evs := allEvents(t, s, "s1")
		dropped := 0
		for _, ev := range evs {
			if ev.Payload == nil {
				dropped++
			}
		}
		if drop {
			dropped = events - len(evs)
		} else if len(evs) != events {
			t.Fatalf("slack %d: %d events after a failed retention, want %d", slack, len(evs), events)
		}
		if dropped == 0 {
			// The change itself did not commit: nothing dropped, n must be 0.
			s.Close()
			if n != 0 {
				t.Fatalf("slack %d: ApplyRetention = %d, %v but nothing was dropped", slack, n, rerr)
			}
			wantHostDiskFull(t, fmt.Sprintf("retention (slack %d, nothing dropped)", slack), rerr)
			continue
		}
		defer s.Close()
		t.Logf("fill point %d (slack %d): %d, %v", points, slack, n, rerr)
		t.Logf("%d fill points: %d without room to open the store, %d failed with nothing dropped (the change rolled back), the last committed the change and failed to VACUUM", points, noRoom, points-1-noRoom)
		if dropped != events {
			t.Fatalf("slack %d: %d of %d payloads dropped", slack, dropped, events)
		}
		if n != events {
			t.Errorf("returned n = %d after dropping %d", n, dropped)
		}
		if !errors.Is(rerr, host.ErrNotErased) || !errors.Is(rerr, syscall.ENOSPC) || !errors.Is(rerr, host.ErrDiskFull) {
			t.Errorf("error %v: want ErrNotErased, ErrDiskFull and ENOSPC", rerr)
		}
		for _, ev := range evs {
			if !ids[ev.ID] {
				t.Errorf("unexpected event %d", ev.ID)
			}
		}
		if encrypted {
			scanClean(t, marker, dir)
		}
		// The retry erases (VACUUM) with nothing new to drop.
		if n, err := purge(s); n != 0 || err != nil {
			t.Errorf("retry after freeing space: %d, %v; want 0, nil", n, err)
		}
		if _, err := s.Append(context.Background(), storeEvent("s1", 1, "user_message", `{"text":"after"}`)); err != nil {
			t.Errorf("append after the retry: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		rep, err := host.Verify(context.Background(), path, cfg, nil)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify after the retry: %v, %+v", err, rep)
		}
		if encrypted {
			scanClean(t, marker, dir)
		}
		return
	}
	t.Fatal("no ballast size made the VACUUM fail after the change committed")
}

func TestDiskFullRetentionPlain(t *testing.T) {
	testDiskFullRetention(t, plainOpener, host.NewConfig(), false, false)
}
func TestDiskFullRetentionEncrypted(t *testing.T) {
	key := randomKey(t)
	testDiskFullRetention(t, encOpener(key), host.NewConfig().WithKey(key), true, false)
}
func TestDiskFullDropMetadataPlain(t *testing.T) {
	testDiskFullRetention(t, plainOpener, host.NewConfig(), false, true)
}
func TestDiskFullDropMetadataEncrypted(t *testing.T) {
	key := randomKey(t)
	testDiskFullRetention(t, encOpener(key), host.NewConfig().WithKey(key), true, true)
}

// TestDiskFullRetentionKEK is TestDiskFullRetentionEncrypted for a store
// under a KEK (its DEK in a header), as the runner and harnesses open it.
func TestDiskFullRetentionKEK(t *testing.T) {
	kek := randomKey(t)
	open := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, kek) }
	testDiskFullRetention(t, open, host.NewConfig().WithKEKSource(keyring.RawKEK(kek)), true, false)
}
