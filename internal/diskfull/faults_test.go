package diskfull_test

// Disk full injected under the encrypting VFS (internal/faultvfs): the
// filesystem "fills" at the Nth write, sync or truncate of SQLite and stays
// full (Persist), for every N over an operation (every few N in the short
// run; every one with GOFASTR_FAULTS=full). Unlike a real small tmpfs, this
// needs no root and reaches every point of the operation, but the
// keyring's own files (headers written with the os package) are not
// faulted: host's tmpfs tests (host/diskfull*_test.go) cover those.
//
// This test binary installs the fault VFS under the engine for the whole
// process (engine.SetBaseVFS), which is why it lives apart from host's
// tests.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/faultvfs"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// fv is the fault VFS under every VFS the engine registers in this binary.
var fv *faultvfs.VFS

func TestMain(m *testing.M) {
	fv = faultvfs.New(nil)
	restore := engine.SetBaseVFS(fv)
	code := m.Run()
	restore()
	os.Exit(code)
}

// fullOps are the calls that fail on a full disk.
const fullOps = faultvfs.OpWrite | faultvfs.OpSync | faultvfs.OpTruncate

// maxPoints bounds the fault points of one operation in the default run
// (a quarter of it under -short).
const maxPoints = 30

// sweep runs op once without a fault to count its calls, then, for N from
// 1 to that count (a stride of them unless GOFASTR_FAULTS=full), prepares
// a fresh store, runs op with the disk full from its Nth write, sync or
// truncate on, frees the disk and hands the error to check. It returns the
// points tried and how many failed.
func sweep(t *testing.T, name string, prepare func(), op func() error, check func(n int64, err error)) {
	t.Helper()
	prepare()
	fv.Arm(faultvfs.Fault{Ops: fullOps})
	err := op()
	calls := fv.Calls()
	fv.Disarm()
	if err != nil {
		t.Fatalf("%s without a fault: %v", name, err)
	}
	stride, most := int64(1), int64(maxPoints)
	if testing.Short() {
		most = maxPoints / 4 // the race run: a smaller sample
	}
	if os.Getenv("GOFASTR_FAULTS") != "full" && calls > most {
		stride = (calls + most - 1) / most
	}
	points, failed, late := 0, 0, 0
	for n := int64(1); n <= calls; n += stride {
		prepare()
		fv.Arm(faultvfs.Fault{Ops: fullOps, N: n, Persist: true, Err: syscall.ENOSPC})
		err := op()
		injected := fv.Injected()
		fv.Disarm()
		points++
		if err != nil {
			failed++
		} else if injected > 0 {
			late++ // the fault hit a step after the result (a close's checkpoint)
		}
		check(n, err)
		if t.Failed() {
			t.Fatalf("%s: N=%d of %d: %v", name, n, calls, err)
		}
	}
	t.Logf("%s: %d writes, syncs and truncates; %d fill points (every %d), %d failed with disk full, %d succeeded (%d of them with the disk full only after the result, in a close)",
		name, calls, points, stride, failed, points-failed, late)
}

// wantDiskFull fails unless err is the typed disk-full error.
func wantDiskFull(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, host.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("%s on a full disk: %v; want host.ErrDiskFull, ENOSPC and a message saying the disk is full", what, err)
	}
}

// events appends n events (session s1) carrying marker.
func events(t *testing.T, s *host.Store, n int, marker []byte, ts time.Time) map[uint64]string {
	t.Helper()
	evs := map[uint64]string{}
	for i := range n {
		p := fmt.Sprintf(`{"text":"event %d %s","m":%q}`, i, strings.Repeat("x", 800), marker)
		ev := abi.EventEnvelope{Session: "s1", Turn: i, Kind: "user_message", Payload: []byte(p), TS: ts}
		id, err := s.Append(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		evs[id] = p
	}
	return evs
}

// template builds a store with open at a fresh path: n events, closed.
func template(t *testing.T, open func(string) (*host.Store, error), n int, marker []byte, ts time.Time) (string, map[uint64]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	evs := events(t, s, n, marker, ts)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, evs
}

// strays lists the files a failed operation must not leave in dir.
func strays(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.Contains(n, ".rekey") || strings.HasSuffix(n, ".dek.next") || strings.Contains(n, ".tmp-") {
			out = append(out, n)
		}
	}
	return out
}

// usable checks the store at path: it opens with open and holds want
// (payloads compared unless dropped), a new append works, Verify with cfg
// passes, and no file of its directory holds marker (nil: not checked).
func usable(t *testing.T, open func(string) (*host.Store, error), cfg host.Config, path string, want map[uint64]string, dropped bool, marker []byte) {
	t.Helper()
	s, err := open(path)
	if err != nil {
		t.Fatalf("reopen after freeing space: %v", err)
	}
	got, err := s.EventsSince(context.Background(), "s1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d events, want %d", len(got), len(want))
	}
	for _, ev := range got {
		p, ok := want[ev.ID]
		if !ok || (!dropped && string(ev.Payload) != p) || (dropped && ev.Payload != nil) {
			t.Errorf("event %d changed", ev.ID)
		}
	}
	if _, err := s.Append(context.Background(), abi.EventEnvelope{Session: "s1", Kind: "user_message", Payload: []byte(`{"text":"after"}`)}); err != nil {
		t.Errorf("append after freeing space: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := host.Verify(context.Background(), path, cfg, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %+v", err, rep)
	}
	if marker != nil {
		if hits, _ := storefiles.Scan(t, marker, filepath.Dir(path)); len(hits) > 0 {
			t.Errorf("marker in the store's files: %v", hits)
		}
	}
}

// reset copies the template store tmpl to path, removing every other file
// of path's directory first.
func reset(t *testing.T, tmpl, path string) {
	t.Helper()
	dir := filepath.Dir(path)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.Remove(filepath.Join(dir, e.Name()))
	}
	storefiles.Copy(t, tmpl, path)
}

func TestFaultDiskFullRekey(t *testing.T) {
	kek, marker := key(t), storefiles.NewMarker()
	open := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, kek) }
	src := keyring.RawKEK(kek)
	cfg := host.NewConfig().WithKEKSource(src)
	tmpl, evs := template(t, open, 40, marker, time.Now())
	oldDEK, _, err := keyring.LoadDEK(tmpl, src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sessions.db")
	sweep(t, "Rekey", func() { reset(t, tmpl, path) }, func() error { return host.Rekey(path, src) }, func(n int64, err error) {
		dek, _, lerr := keyring.LoadDEK(path, src)
		if lerr != nil {
			t.Fatalf("LoadDEK: %v", lerr)
		}
		if err == nil {
			if bytes.Equal(dek, oldDEK) {
				t.Fatal("Rekey returned nil but the data key is the old one")
			}
			usable(t, open, cfg, path, evs, false, marker)
			return
		}
		wantDiskFull(t, "Rekey", err)
		if !bytes.Equal(dek, oldDEK) {
			t.Fatal("a failed Rekey changed the data key")
		}
		if s := strays(t, filepath.Dir(path)); len(s) > 0 {
			t.Fatalf("left behind %v", s)
		}
		usable(t, open, cfg, path, evs, false, marker)
		if err := host.Rekey(path, src); err != nil {
			t.Fatalf("retry: %v", err)
		}
	})
}

func TestFaultDiskFullEncrypt(t *testing.T) {
	kek, marker := key(t), storefiles.NewMarker()
	src := keyring.RawKEK(kek)
	kekOpen := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, kek) }
	tmpl, evs := template(t, host.Open, 40, marker, time.Now())
	path := filepath.Join(t.TempDir(), "sessions.db")
	sweep(t, "Encrypt", func() { reset(t, tmpl, path) }, func() error { return host.Encrypt(path, src) }, func(n int64, err error) {
		if err == nil {
			usable(t, kekOpen, host.NewConfig().WithKEKSource(src), path, evs, false, marker)
			return
		}
		wantDiskFull(t, "Encrypt", err)
		if _, serr := os.Stat(keyring.HeaderPath(path)); serr == nil {
			t.Fatal("a failed Encrypt left a header")
		}
		if s := strays(t, filepath.Dir(path)); len(s) > 0 {
			t.Fatalf("left behind %v", s)
		}
		usable(t, host.Open, host.NewConfig(), path, evs, false, nil)
		if err := host.Encrypt(path, src); err != nil {
			t.Fatalf("retry: %v", err)
		}
	})
}

// TestFaultDiskFullRetention runs ApplyRetention over events past the
// retention window: it drops their payloads (one transaction) and then
// erases them with VACUUM. A fault before the commit drops nothing; one
// during the VACUUM leaves the payloads dropped and reports
// host.ErrNotErased with the disk-full error; the retry erases them.
func TestFaultDiskFullRetention(t *testing.T) {
	kek, marker := key(t), storefiles.NewMarker()
	open := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, kek) }
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(kek))
	tmpl, evs := template(t, open, 40, marker, time.Now().Add(-48*time.Hour))
	path := filepath.Join(t.TempDir(), "sessions.db")
	retain := func() (int64, error) {
		s, err := open(path)
		if err != nil {
			return 0, err
		}
		n, err := s.ApplyRetention(context.Background(), time.Hour)
		s.Close()
		return n, err
	}
	var n int64
	notErased := 0
	defer func() {
		t.Logf("ApplyRetention: %d failures after the change committed (payloads dropped, ErrNotErased; the retry erased them), the others before (nothing dropped)", notErased)
	}()
	sweep(t, "ApplyRetention", func() { reset(t, tmpl, path) }, func() (err error) { n, err = retain(); return err }, func(_ int64, err error) {
		if err == nil {
			usable(t, open, cfg, path, evs, true, marker)
			return
		}
		wantDiskFull(t, "ApplyRetention", err)
		if n != 0 && (n != int64(len(evs)) || !errors.Is(err, host.ErrNotErased)) {
			t.Fatalf("ApplyRetention = %d, %v: want all %d dropped and ErrNotErased, or 0", n, err, len(evs))
		}
		if n != 0 {
			notErased++
		}
		usable(t, open, cfg, path, evs, n != 0, marker)
		if _, err := retain(); err != nil {
			t.Fatalf("retry: %v", err)
		}
	})
}

// TestFaultDiskFullNewMonth fills the disk at every point of a
// rollover's change of month: sealing the last month, creating the next
// one (database, schema, counters) and the first append into it. After
// each failure the rollover reopens under the same KEK and every event of
// the earlier months is there.
func TestFaultDiskFullNewMonth(t *testing.T) {
	kek, marker := key(t), storefiles.NewMarker()
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(kek))
	march, april := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(march.Unix())
	cfg = cfg.WithClock(func() time.Time { return time.Unix(clock.Load(), 0).UTC() })

	tmpl := t.TempDir()
	m, err := host.NewMonthlyRolloverWithConfig(tmpl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	evs := map[uint64]string{}
	for i := range 30 {
		p := fmt.Sprintf(`{"text":"event %d %s","m":%q}`, i, strings.Repeat("x", 800), marker)
		id, err := m.Append(context.Background(), abi.EventEnvelope{Session: "s1", Turn: i, Kind: "user_message", Payload: []byte(p), TS: march})
		if err != nil {
			t.Fatal(err)
		}
		evs[id] = p
	}
	m.Close()

	dir := t.TempDir()
	prepare := func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			os.Remove(filepath.Join(dir, e.Name()))
		}
		ents, _ = os.ReadDir(tmpl)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(tmpl, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		clock.Store(march.Unix())
		if m, err = host.NewMonthlyRolloverWithConfig(dir, cfg); err != nil {
			t.Fatal(err)
		}
	}
	var newID uint64
	op := func() (err error) {
		clock.Store(april.Unix())
		newID, err = m.Append(context.Background(), abi.EventEnvelope{Session: "s1", Kind: "user_message", Payload: []byte(`{"text":"april"}`), TS: april})
		m.Close()
		return err
	}
	committed := 0
	defer func() {
		t.Logf("MonthlyRollover new month: %d failed appends were committed all the same (their commit's sync failed after the frames were written)", committed)
	}()
	sweep(t, "MonthlyRollover new month", prepare, op, func(n int64, err error) {
		want := evs
		if err == nil {
			want = maps.Clone(evs)
			want[newID] = `{"text":"april"}`
		} else {
			wantDiskFull(t, "Append into a new month", err)
		}
		r, rerr := host.NewMonthlyRolloverWithConfig(dir, cfg)
		if rerr != nil {
			t.Fatalf("reopen after freeing space: %v", rerr)
		}
		got, gerr := r.EventsSince(context.Background(), "s1", 0, 0)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if err != nil && len(got) == len(want)+1 && string(got[len(got)-1].Payload) == `{"text":"april"}` {
			// A failed sync of the commit leaves its outcome unknown (as
			// an fsync error does): the append was not acknowledged, and
			// its frames, written whole, may still be committed. It is
			// there whole or not at all.
			got = got[:len(got)-1]
			committed++
		}
		if len(got) != len(want) {
			t.Errorf("%d events, want %d", len(got), len(want))
		}
		for _, ev := range got {
			if want[ev.ID] != string(ev.Payload) {
				t.Errorf("event %d missing or changed", ev.ID)
			}
		}
		if _, err := r.Append(context.Background(), abi.EventEnvelope{Session: "s1", Kind: "user_message", Payload: []byte(`{"text":"after"}`), TS: april}); err != nil {
			t.Errorf("append after freeing space: %v", err)
		}
		r.Close()
		files, _ := filepath.Glob(filepath.Join(dir, "sessions-*.db"))
		for _, f := range files {
			rep, err := host.Verify(context.Background(), f, cfg, nil)
			if err != nil || !rep.OK() {
				t.Fatalf("Verify %s: %v %+v", f, err, rep)
			}
		}
		if hits, _ := storefiles.Scan(t, marker, dir); len(hits) > 0 {
			t.Errorf("marker in the rollover's files: %v", hits)
		}
	})
}

func key(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}
