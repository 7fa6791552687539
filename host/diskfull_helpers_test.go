//go:build linux

package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// The disk-full tests of an operation share one shape: a template store
// (built on an ordinary disk) is copied into a small tmpfs, a ballast file
// leaves slack bytes free, the operation runs out of space at a point that
// moves with the slack, the ballast is removed, and the store is checked:
// typed error, no leftovers that break a retry, every event written
// before present and equal, a new append, Verify OK, a clean marker scan,
// and the retry succeeds. The sweep stops at the first slack where the
// operation succeeds.

// wantHostDiskFull fails unless err is the typed disk-full error:
// host.ErrDiskFull, syscall.ENOSPC and a message that says so.
func wantHostDiskFull(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, host.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("%s on a full disk: %v; want host.ErrDiskFull, ENOSPC and a message saying the disk is full", what, err)
	}
}

// resetDir removes every file in dir, the ballast included.
func resetDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// copyStoreTo copies the durable files of the template store at tmpl into
// dir under the same base name, after emptying dir, and returns its path.
func copyStoreTo(t *testing.T, tmpl, dir string) string {
	t.Helper()
	resetDir(t, dir)
	path := filepath.Join(dir, filepath.Base(tmpl))
	storefiles.Copy(t, tmpl, path)
	return path
}

// strayFiles lists the files in dir that a failed operation must not
// leave: a rekey's copy and next header, the keyring's temporary files,
// a month being created, SQLite's files of a copy.
func strayFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.Contains(n, ".rekey") || strings.HasSuffix(n, ".dek.next") || strings.Contains(n, ".tmp-") || strings.HasSuffix(n, ".creating") {
			out = append(out, n)
		}
	}
	return out
}

// markerEvents appends n events of session s1 (turns from first on)
// whose payloads carry marker and returns them by ID.
func markerEvents(t *testing.T, s *host.Store, n int, marker []byte, first int) map[uint64]string {
	t.Helper()
	evs := map[uint64]string{}
	for i := first; i < first+n; i++ {
		p := fmt.Sprintf(`{"text":%q,"m":%q}`, incompressible(uint64(i), 3000), marker)
		evs[mustAppend(t, s, storeEvent("s1", i, "user_message", p))] = p
	}
	return evs
}

// checkUsable opens the store at path with open, checks that it holds
// exactly the events of want (session s1), appends one more, closes it,
// runs Verify with cfg and, for an encrypted store (marker not nil),
// scans every file of the directory for the marker.
func checkUsable(t *testing.T, open opener, cfg host.Config, path string, want map[uint64]string, marker []byte) {
	t.Helper()
	s, err := open(path)
	if err != nil {
		t.Fatalf("reopen after freeing space: %v", err)
	}
	got := map[uint64]string{}
	for _, ev := range allEvents(t, s, "s1") {
		got[ev.ID] = string(ev.Payload)
	}
	if len(got) != len(want) {
		t.Errorf("%d events, want %d", len(got), len(want))
	}
	for id, p := range want {
		if got[id] != p {
			t.Errorf("event %d missing or changed", id)
		}
	}
	if _, err := s.Append(context.Background(), storeEvent("s1", 1, "user_message", `{"text":"after"}`)); err != nil {
		t.Errorf("append after freeing space: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := host.Verify(context.Background(), path, cfg, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Errorf("Verify: damaged %v, integrity %v", rep.Damaged, rep.Integrity)
	}
	if marker != nil {
		scanClean(t, marker, filepath.Dir(path))
	}
}

// scanClean fails if the marker is in any file under dir.
func scanClean(t *testing.T, marker []byte, dir string) {
	t.Helper()
	hits, scanned := storefiles.Scan(t, marker, dir)
	if len(hits) > 0 {
		t.Errorf("marker found in the store's files: %v", hits)
	}
	if len(scanned) == 0 {
		t.Error("marker scan: no file scanned")
	}
}

// sweepResult counts the fill points of a sweep and their outcomes.
type sweepResult struct {
	points, failed, succeeded int
	messages                  []string // distinct error messages, store paths cut
}

func (r *sweepResult) addErr(err error, dir string) {
	r.failed++
	m := strings.ReplaceAll(err.Error(), dir, "$DIR")
	if !slices.Contains(r.messages, m) {
		r.messages = append(r.messages, m)
	}
}

func (r *sweepResult) log(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d fill points, %d failed with disk full (the store usable as before), %d succeeded", what, r.points, r.failed, r.succeeded)
	for _, m := range r.messages {
		t.Logf("  %s", m)
	}
}

// fill leaves slack bytes free in dir.
func fill(t *testing.T, dir string, slack int64) { smallfs.Fill(t, dir, slack) }

// unfill frees the ballast's space.
func unfill(t *testing.T, dir string) { smallfs.Empty(t, dir) }

// sweepStep is the slack step of a sweep: step, or four times it under
// -short (the race run), which tries a quarter of the fill points.
func sweepStep(step int64) int64 {
	if testing.Short() {
		return 4 * step
	}
	return step
}
