//go:build linux

package host_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// diskFullEvents is the number of events of the disk-full templates:
// about 180 KB of incompressible payloads, 45 pages of the WAL.
const diskFullEvents = 60

// kekTemplate builds an encrypted store under kek (with events carrying
// marker) whose last events are still in its WAL, as a store open in a
// harness has them, and returns its path and events.
func kekTemplate(t *testing.T, kek, marker []byte) (string, map[uint64]string) {
	t.Helper()
	return diskFullTemplate(t, func(p string) (*host.Store, error) { return host.OpenWithKEK(p, kek) }, marker)
}

// diskFullTemplate builds a store with open: diskFullEvents events
// carrying marker, the first ones checkpointed into the database, the
// last walEvents in its WAL (the copy a crash would leave: database,
// WAL, header), and returns its path and events.
func diskFullTemplate(t *testing.T, open opener, marker []byte) (string, map[uint64]string) {
	t.Helper()
	const walEvents = 8
	live := tempStorePath(t)
	s, err := open(live)
	if err != nil {
		t.Fatal(err)
	}
	evs := markerEvents(t, s, diskFullEvents-walEvents, marker, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = open(live); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, p := range markerEvents(t, s, walEvents, marker, diskFullEvents-walEvents) {
		evs[id] = p
	}
	tmpl := filepath.Join(t.TempDir(), "sessions.db")
	storefiles.Copy(t, live, tmpl)
	return tmpl, evs
}

// loadDEK returns the data key the header of the store at path holds
// under kek.
func loadDEK(t *testing.T, path string, kek []byte) []byte {
	t.Helper()
	dek, _, err := keyring.LoadDEK(path, keyring.RawKEK(kek))
	if err != nil {
		t.Fatalf("LoadDEK: %v", err)
	}
	return dek
}

// TestDiskFullRekey runs Rekey on a copy of a store whose events are in
// its WAL, on a tmpfs with the free space stepped up from nothing, so
// that the disk fills while the next header is written, while the WAL is
// checkpointed into the database, while VACUUM INTO writes the copy and
// while the copy is checked. Every failure must be the typed disk-full
// error and leave the store as it was: under its old data key (the new
// one is never needed), no leftover copy or next header, every event
// present, appends working, Verify OK, no marker in any file; the retry
// succeeds.
func TestDiskFullRekey(t *testing.T) {
	dir := smallfs.Mount(t, "4m")
	kek, marker := randomKey(t), storefiles.NewMarker()
	tmpl, evs := kekTemplate(t, kek, marker)
	oldDEK := loadDEK(t, tmpl, kek)
	src := keyring.RawKEK(kek)
	open := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, kek) }
	cfg := host.NewConfig().WithKEKSource(src)

	var res sweepResult
	step := sweepStep(8 << 10)
	for slack := int64(0); ; slack += step {
		if slack > 1<<20 {
			t.Fatal("Rekey never succeeded")
		}
		path := copyStoreTo(t, tmpl, dir)
		fill(t, dir, slack)
		err := host.Rekey(path, src)
		unfill(t, dir)
		res.points++
		if err == nil {
			res.succeeded++
			if bytes.Equal(loadDEK(t, path, kek), oldDEK) {
				t.Fatal("Rekey returned nil but the data key is the old one")
			}
			checkUsable(t, open, cfg, path, evs, marker)
			break
		}
		res.addErr(err, dir)
		wantHostDiskFull(t, fmt.Sprintf("Rekey (slack %d)", slack), err)
		if l := strayFiles(t, dir); len(l) > 0 {
			t.Fatalf("slack %d: left behind %v", slack, l)
		}
		if !bytes.Equal(loadDEK(t, path, kek), oldDEK) {
			t.Fatalf("slack %d: a failed Rekey changed the data key", slack)
		}
		checkUsable(t, open, cfg, path, evs, marker)
		if t.Failed() {
			t.Fatalf("slack %d: %v", slack, err)
		}
		// The retry, with space, succeeds and the store holds what it did.
		if err := host.Rekey(path, src); err != nil {
			t.Fatalf("slack %d: retry after freeing space: %v", slack, err)
		}
		if bytes.Equal(loadDEK(t, path, kek), oldDEK) {
			t.Fatalf("slack %d: the retry left the old data key", slack)
		}
	}
	res.log(t, "Rekey")
	if res.failed < 10 && !testing.Short() {
		t.Errorf("only %d fill points failed: the sweep does not reach into the copy", res.failed)
	}
}

// TestDiskFullEncrypt runs Encrypt on a copy of a plaintext store whose
// last events are in its WAL, with the free space stepped up from nothing
// as in TestDiskFullRekey. Every failure must be the typed disk-full
// error and leave the plaintext store as it was: no header, no copy,
// every event present, appends working, Verify OK; the retry succeeds
// and leaves no plaintext marker in any file.
func TestDiskFullEncrypt(t *testing.T) {
	dir := smallfs.Mount(t, "4m")
	kek, marker := randomKey(t), storefiles.NewMarker()
	tmpl, evs := diskFullTemplate(t, plainOpener, marker)
	src := keyring.RawKEK(kek)
	kekOpen := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, kek) }
	kekCfg := host.NewConfig().WithKEKSource(src)

	var res sweepResult
	step := sweepStep(8 << 10)
	for slack := int64(0); ; slack += step {
		if slack > 1<<20 {
			t.Fatal("Encrypt never succeeded")
		}
		path := copyStoreTo(t, tmpl, dir)
		fill(t, dir, slack)
		err := host.Encrypt(path, src)
		unfill(t, dir)
		res.points++
		if err == nil {
			res.succeeded++
			checkUsable(t, kekOpen, kekCfg, path, evs, marker)
			break
		}
		res.addErr(err, dir)
		wantHostDiskFull(t, fmt.Sprintf("Encrypt (slack %d)", slack), err)
		if l := strayFiles(t, dir); len(l) > 0 {
			t.Fatalf("slack %d: left behind %v", slack, l)
		}
		if _, err := os.Stat(keyring.HeaderPath(path)); err == nil {
			t.Fatalf("slack %d: a failed Encrypt left a header", slack)
		}
		checkUsable(t, plainOpener, host.NewConfig(), path, evs, nil)
		if t.Failed() {
			t.Fatalf("slack %d: %v", slack, err)
		}
		if err := host.Encrypt(path, src); err != nil {
			t.Fatalf("slack %d: retry after freeing space: %v", slack, err)
		}
		if slack%(4*step) == 0 {
			// The encrypted store after the retry (every fourth point:
			// the checks are the same each time).
			evs2 := map[uint64]string{}
			s, err := kekOpen(path)
			if err != nil {
				t.Fatalf("slack %d: open after the retry: %v", slack, err)
			}
			for _, ev := range allEvents(t, s, "s1") {
				evs2[ev.ID] = string(ev.Payload)
			}
			s.Close()
			checkUsable(t, kekOpen, kekCfg, path, evs2, marker)
		}
	}
	res.log(t, "Encrypt")
	if res.failed < 10 && !testing.Short() {
		t.Errorf("only %d fill points failed: the sweep does not reach into the copy", res.failed)
	}
}
