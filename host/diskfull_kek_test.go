//go:build linux

package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// TestDiskFullRotateKEK rotates the KEK of a store and of a cost ledger
// (keyring.RotateKEK, keyring.RotateKEKWith; the ledger is rotated as the
// runner's keys rotate does) on a full disk, and with one block free. On
// the full disk each fails with the typed disk-full error and leaves its
// header byte for byte, no temporary file, and the store and ledger open
// under the old KEK only, with every event and entry; the retry, with
// space, succeeds and the new KEK opens them.
func TestDiskFullRotateKEK(t *testing.T) {
	dir := smallfs.Mount(t, "2m")
	oldKEK, newKEK, marker := randomKey(t), randomKey(t), storefiles.NewMarker()
	tmpl, evs := kekTemplate(t, oldKEK, marker)
	ledgerTmpl := filepath.Join(filepath.Dir(tmpl), "costs.db")
	l, err := host.OpenCostLedgerWithConfig(ledgerTmpl, host.NewConfig().WithKEKSource(keyring.RawKEK(oldKEK)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := l.Record(context.Background(), fmt.Sprintf("%s-%d", marker, i), "anthropic", "claude", 100, 10, 0.25); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	oldOpen := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, oldKEK) }
	newOpen := func(p string) (*host.Store, error) { return host.OpenWithKEK(p, newKEK) }
	ledgerSum := func(kek []byte, ledger string) (float64, error) {
		l, err := host.OpenCostLedgerWithConfig(ledger, host.NewConfig().WithKEKSource(keyring.RawKEK(kek)))
		if err != nil {
			return 0, err
		}
		defer l.Close()
		by, err := l.CostByProvider(context.Background(), time.Time{})
		return by["anthropic"], err
	}

	points, failed := 0, 0
	for slack := int64(0); slack <= 8<<10; slack += 4 << 10 {
		path := copyStoreTo(t, tmpl, dir)
		ledger := filepath.Join(dir, "costs.db")
		storefiles.Copy(t, ledgerTmpl, ledger)
		header, _ := os.ReadFile(keyring.HeaderPath(path))
		fill(t, dir, slack)
		err := keyring.RotateKEK(path, oldKEK, newKEK)
		lerr := keyring.RotateKEKWith(ledger, keyring.RawKEK(oldKEK), keyring.RawKEK(newKEK))
		unfill(t, dir)
		points++
		if err == nil {
			if lerr != nil {
				t.Fatalf("slack %d: the store rotated, the ledger: %v", slack, lerr)
			}
			if _, err := oldOpen(path); !errors.Is(err, keyring.ErrWrongKEK) {
				t.Fatalf("slack %d: the old KEK after a rotation: %v, want ErrWrongKEK", slack, err)
			}
			checkUsable(t, newOpen, host.NewConfig().WithKEKSource(keyring.RawKEK(newKEK)), path, evs, marker)
			if sum, err := ledgerSum(newKEK, ledger); err != nil || sum != 1.25 {
				t.Fatalf("slack %d: the ledger under the new KEK: %v, %v", slack, sum, err)
			}
			continue
		}
		failed++
		wantHostDiskFull(t, fmt.Sprintf("RotateKEK (slack %d)", slack), err)
		wantHostDiskFull(t, fmt.Sprintf("RotateKEK of the ledger (slack %d)", slack), lerr)
		if after, _ := os.ReadFile(keyring.HeaderPath(path)); !bytes.Equal(after, header) {
			t.Fatalf("slack %d: a failed rotation changed the header", slack)
		}
		if l := strayFiles(t, dir); len(l) > 0 {
			t.Fatalf("slack %d: left behind %v", slack, l)
		}
		if _, err := newOpen(path); !errors.Is(err, keyring.ErrWrongKEK) {
			t.Fatalf("slack %d: the new KEK after a failed rotation: %v, want ErrWrongKEK", slack, err)
		}
		checkUsable(t, oldOpen, host.NewConfig().WithKEKSource(keyring.RawKEK(oldKEK)), path, evs, marker)
		if sum, err := ledgerSum(oldKEK, ledger); err != nil || sum != 1.25 {
			t.Fatalf("slack %d: the ledger under the old KEK: %v, %v", slack, sum, err)
		}
		if err := keyring.RotateKEK(path, oldKEK, newKEK); err != nil {
			t.Fatalf("slack %d: retry: %v", slack, err)
		}
		if err := keyring.RotateKEKWith(ledger, keyring.RawKEK(oldKEK), keyring.RawKEK(newKEK)); err != nil {
			t.Fatalf("slack %d: retry of the ledger: %v", slack, err)
		}
		if sum, err := ledgerSum(newKEK, ledger); err != nil || sum != 1.25 {
			t.Fatalf("slack %d: the ledger under the new KEK after the retry: %v, %v", slack, sum, err)
		}
	}
	t.Logf("RotateKEK (store and ledger): %d fill points, %d failed with disk full, %d succeeded", points, failed, points-failed)
	if failed == 0 || failed == points {
		t.Errorf("%d of %d points failed: want the full disk to fail and the free block to succeed", failed, points)
	}
}

// maxID returns the largest key of evs.
func maxID(evs map[uint64]string) uint64 {
	var m uint64
	for id := range evs {
		m = max(m, id)
	}
	return m
}

// rolloverClock is a settable clock for a MonthlyRollover.
type rolloverClock struct{ unix atomic.Int64 }

func (c *rolloverClock) now() time.Time  { return time.Unix(c.unix.Load(), 0).UTC() }
func (c *rolloverClock) set(t time.Time) { c.unix.Store(t.Unix()) }

// rolloverMonths are the months of the rollover templates.
var rolloverMonths = []time.Time{
	time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC),
}

// rolloverTemplate builds an encrypted rollover under kek with perMonth
// events (session s1, payloads carrying marker) in each of
// rolloverMonths, the last of which is current, and returns its
// directory and the events.
func rolloverTemplate(t *testing.T, kek, marker []byte, perMonth int) (string, map[uint64]string) {
	t.Helper()
	dir := t.TempDir()
	var clk rolloverClock
	clk.set(rolloverMonths[0])
	m, err := host.NewMonthlyRolloverWithConfig(dir, host.NewConfig().WithKEKSource(keyring.RawKEK(kek)).WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	evs := map[uint64]string{}
	turn := 0
	for _, mo := range rolloverMonths {
		clk.set(mo)
		for range perMonth {
			p := fmt.Sprintf(`{"text":%q,"m":%q}`, incompressible(uint64(turn), 3000), marker)
			ev := storeEvent("s1", turn, "user_message", p)
			ev.TS = mo
			id, err := m.Append(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			evs[id] = p
			turn++
		}
	}
	return dir, evs
}

// copyDir copies every regular file of src into dst, after emptying dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	resetDir(t, dst)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// checkRollover opens the rollover in dir under kek at clock time at,
// checks that session s1 holds exactly want, appends one event, closes
// it, runs Verify on every month file and scans every file for marker.
// It returns the months.
func checkRollover(t *testing.T, dir string, kek []byte, at time.Time, want map[uint64]string, marker []byte) []string {
	t.Helper()
	var clk rolloverClock
	clk.set(at)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(kek))
	m, err := host.NewMonthlyRolloverWithConfig(dir, cfg.WithClock(clk.now))
	if err != nil {
		t.Fatalf("reopen the rollover after freeing space: %v", err)
	}
	got, err := m.EventsSince(context.Background(), "s1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d events, want %d", len(got), len(want))
	}
	for _, ev := range got {
		if want[ev.ID] != string(ev.Payload) {
			t.Errorf("event %d missing or changed", ev.ID)
		}
	}
	if _, err := m.Append(context.Background(), storeEvent("s1", 1, "user_message", `{"text":"after"}`)); err != nil {
		t.Errorf("append after freeing space: %v", err)
	}
	months, err := m.ListArchives()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "sessions-*.db"))
	for _, f := range files {
		rep, err := host.Verify(context.Background(), f, cfg, nil)
		if err != nil {
			t.Fatalf("Verify %s: %v", f, err)
		}
		if !rep.OK() {
			t.Errorf("Verify %s: damaged %v, integrity %v", f, rep.Damaged, rep.Integrity)
		}
	}
	scanClean(t, marker, dir)
	return months
}

// TestDiskFullRolloverRotateKEK rotates the KEK of a rollover of three
// encrypted months on a full disk: MonthlyRollover.RotateKEK fails with
// the typed disk-full error, the rollover keeps working under the old KEK
// (which still opens every month), and the retry with space rotates them
// all.
func TestDiskFullRolloverRotateKEK(t *testing.T) {
	dir := smallfs.Mount(t, "4m")
	oldKEK, newKEK, marker := randomKey(t), randomKey(t), storefiles.NewMarker()
	tmpl, evs := rolloverTemplate(t, oldKEK, marker, 8)
	copyDir(t, tmpl, dir)
	var clk rolloverClock
	clk.set(rolloverMonths[2])
	m, err := host.NewMonthlyRolloverWithConfig(dir, host.NewConfig().WithKEKSource(keyring.RawKEK(oldKEK)).WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fill(t, dir, 0)
	err = m.RotateKEK(keyring.RawKEK(newKEK))
	unfill(t, dir)
	wantHostDiskFull(t, "MonthlyRollover.RotateKEK", err)
	t.Logf("MonthlyRollover.RotateKEK on a full disk: %v", err)
	if l := strayFiles(t, dir); len(l) > 0 {
		t.Fatalf("left behind %v", l)
	}
	// The rollover goes on under the old KEK.
	id, err := m.Append(context.Background(), storeEvent("s1", 0, "user_message", `{"text":"between"}`))
	if err != nil {
		t.Fatalf("append after the failed rotation: %v", err)
	}
	evs[id] = `{"text":"between"}`
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	checkRollover(t, dir, oldKEK, rolloverMonths[2], evs, marker)
	after, err := lastEvent(dir, oldKEK, rolloverMonths[2])
	if err != nil {
		t.Fatal(err)
	}
	evs[after.ID] = string(after.Payload)

	// The retry with space.
	if m, err = host.NewMonthlyRolloverWithConfig(dir, host.NewConfig().WithKEKSource(keyring.RawKEK(oldKEK)).WithClock(clk.now)); err != nil {
		t.Fatal(err)
	}
	if err := m.RotateKEK(keyring.RawKEK(newKEK)); err != nil {
		t.Fatalf("retry after freeing space: %v", err)
	}
	m.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "sessions-*.db"))
	if len(files) != 3 {
		t.Fatalf("months %v, want 3", files)
	}
	for _, f := range files {
		if _, _, err := keyring.LoadDEK(f, keyring.RawKEK(newKEK)); err != nil {
			t.Errorf("%s under the new KEK: %v", f, err)
		}
	}
	checkRollover(t, dir, newKEK, rolloverMonths[2], evs, marker)
}

// lastEvent returns the newest event of session s1 in the rollover in
// dir.
func lastEvent(dir string, kek []byte, at time.Time) (abi.EventEnvelope, error) {
	var clk rolloverClock
	clk.set(at)
	m, err := host.NewMonthlyRolloverWithConfig(dir, host.NewConfig().WithKEKSource(keyring.RawKEK(kek)).WithClock(clk.now))
	if err != nil {
		return abi.EventEnvelope{}, err
	}
	defer m.Close()
	evs, err := m.EventsSince(context.Background(), "s1", 0, 0)
	if err != nil || len(evs) == 0 {
		return abi.EventEnvelope{}, fmt.Errorf("events: %d, %v", len(evs), err)
	}
	return evs[len(evs)-1], nil
}

// TestDiskFullRekeyLedger rekeys a cost ledger (host.Rekey works on it as
// on a store) with the free space stepped up from nothing: every failure
// is the typed disk-full error, the ledger keeps its data key and every
// entry, and the retry succeeds.
func TestDiskFullRekeyLedger(t *testing.T) {
	dir := smallfs.Mount(t, "2m")
	kek, marker := randomKey(t), storefiles.NewMarker()
	src := keyring.RawKEK(kek)
	cfg := host.NewConfig().WithKEKSource(src)
	tmpl := filepath.Join(t.TempDir(), "costs.db")
	l, err := host.OpenCostLedgerWithConfig(tmpl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := l.Record(context.Background(), fmt.Sprintf("%s-%d", marker, i), "anthropic", "claude", 100, 10, 0.25); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	oldDEK := loadDEK(t, tmpl, kek)
	sum := func(path string) float64 {
		l, err := host.OpenCostLedgerWithConfig(path, cfg)
		if err != nil {
			t.Fatalf("open the ledger after freeing space: %v", err)
		}
		defer l.Close()
		by, err := l.CostByProvider(context.Background(), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return by["anthropic"]
	}
	var res sweepResult
	step := sweepStep(8 << 10)
	for slack := int64(0); ; slack += step {
		if slack > 1<<20 {
			t.Fatal("Rekey of the ledger never succeeded")
		}
		path := copyStoreTo(t, tmpl, dir)
		fill(t, dir, slack)
		err := host.Rekey(path, src)
		unfill(t, dir)
		res.points++
		if err == nil {
			res.succeeded++
			if got := sum(path); got != 50 {
				t.Fatalf("the ledger after its rekey sums %v, want 50", got)
			}
			break
		}
		res.addErr(err, dir)
		wantHostDiskFull(t, fmt.Sprintf("Rekey of a ledger (slack %d)", slack), err)
		if l := strayFiles(t, dir); len(l) > 0 {
			t.Fatalf("slack %d: left behind %v", slack, l)
		}
		if !bytes.Equal(loadDEK(t, path, kek), oldDEK) {
			t.Fatalf("slack %d: a failed Rekey changed the ledger's data key", slack)
		}
		if got := sum(path); got != 50 {
			t.Fatalf("slack %d: the ledger sums %v, want 50", slack, got)
		}
		rep, err := host.Verify(context.Background(), path, cfg, nil)
		if err == nil && !rep.OK() {
			t.Fatalf("slack %d: Verify: %+v", slack, rep)
		}
		scanClean(t, marker, dir)
		if err := host.Rekey(path, src); err != nil {
			t.Fatalf("slack %d: retry: %v", slack, err)
		}
	}
	res.log(t, "Rekey of a cost ledger")
}
