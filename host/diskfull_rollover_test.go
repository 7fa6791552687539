//go:build linux

package host_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// TestDiskFullRolloverNewMonth moves the clock of an encrypted rollover
// into a new month while the disk has less and less room: the append that
// seals the last month and creates the next (its DEK header, database,
// schema and counters) runs out of space at a point that moves with the
// slack. Every failure must be the typed disk-full error; after freeing
// space the rollover opens under the same KEK, the new month is created
// (an interrupted creation is discarded and made again), every event of
// the earlier months is there, appends work, Verify passes on every
// month file and no marker is in any file.
func TestDiskFullRolloverNewMonth(t *testing.T) {
	dir := smallfs.Mount(t, "4m")
	kek, marker := randomKey(t), storefiles.NewMarker()
	tmpl, evs := rolloverTemplate(t, kek, marker, 6)
	next := rolloverMonths[2].AddDate(0, 1, 0)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(kek))

	var res sweepResult
	step := sweepStep(8 << 10)
	for slack := int64(0); ; slack += step {
		if slack > 1<<20 {
			t.Fatal("the new month was never created")
		}
		copyDir(t, tmpl, dir)
		var clk rolloverClock
		clk.set(rolloverMonths[2])
		m, err := host.NewMonthlyRolloverWithConfig(dir, cfg.WithClock(clk.now))
		if err != nil {
			t.Fatal(err)
		}
		fill(t, dir, slack)
		clk.set(next)
		ev := storeEvent("s1", 0, "user_message", `{"text":"new month"}`)
		ev.TS = next
		id, err := m.Append(context.Background(), ev)
		m.Close()
		unfill(t, dir)
		res.points++
		if err == nil {
			res.succeeded++
			want := clone(evs)
			want[id] = `{"text":"new month"}`
			checkRollover(t, dir, kek, next, want, marker)
			break
		}
		res.addErr(err, dir)
		wantHostDiskFull(t, fmt.Sprintf("Append into a new month (slack %d)", slack), err)
		months := checkRollover(t, dir, kek, next, evs, marker)
		if t.Failed() {
			t.Fatalf("slack %d: %v", slack, err)
		}
		if len(months) != 4 {
			t.Errorf("slack %d: months after the retry %v, want 4", slack, months)
		}
		if l := strayFiles(t, dir); len(l) > 0 {
			t.Fatalf("slack %d: left behind after the retry %v", slack, l)
		}
	}
	res.log(t, "MonthlyRollover new month")
	if res.failed < 5 && !testing.Short() {
		t.Errorf("only %d fill points failed", res.failed)
	}
}

// TestDiskFullDropMonths runs DropMonthsBefore, which copies the pinned
// sessions of the months it deletes into the current month before
// deleting them, with less and less room. Every failure must be the typed
// disk-full error and lose nothing: after freeing space every event of
// the pinned session is readable (in its old month or in the copy), the
// unpinned session's events are either all there or their month is
// gone, and the retry drops the months.
func TestDiskFullDropMonths(t *testing.T) {
	dir := smallfs.Mount(t, "4m")
	kek, marker := randomKey(t), storefiles.NewMarker()
	tmpl, evs := rolloverTemplate(t, kek, marker, 6) // session s1, pinned below
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(kek))
	var clk rolloverClock
	clk.set(rolloverMonths[2])
	m, err := host.NewMonthlyRolloverWithConfig(tmpl, cfg.WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Pin(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	m.Close()
	horizon := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // January and February go

	var res sweepResult
	step := sweepStep(8 << 10)
	for slack := int64(0); ; slack += step {
		if slack > 2<<20 {
			t.Fatal("DropMonthsBefore never succeeded")
		}
		copyDir(t, tmpl, dir)
		m, err := host.NewMonthlyRolloverWithConfig(dir, cfg.WithClock(clk.now))
		if err != nil {
			t.Fatal(err)
		}
		fill(t, dir, slack)
		dropped, err := m.DropMonthsBefore(context.Background(), horizon)
		m.Close()
		unfill(t, dir)
		res.points++
		if err == nil {
			res.succeeded++
			if len(dropped) != 2 {
				t.Fatalf("dropped %v, want 2 months", dropped)
			}
			checkRollover(t, dir, kek, rolloverMonths[2], evs, marker)
			break
		}
		res.addErr(err, dir)
		wantHostDiskFull(t, fmt.Sprintf("DropMonthsBefore (slack %d)", slack), err)
		checkRollover(t, dir, kek, rolloverMonths[2], evs, marker)
		if t.Failed() {
			t.Fatalf("slack %d: %v", slack, err)
		}
		// The retry, with space, drops both months and keeps the pinned
		// session whole.
		m, err = host.NewMonthlyRolloverWithConfig(dir, cfg.WithClock(clk.now))
		if err != nil {
			t.Fatal(err)
		}
		dropped, err = m.DropMonthsBefore(context.Background(), horizon)
		m.Close()
		if err != nil {
			t.Fatalf("slack %d: retry after freeing space: %v", slack, err)
		}
		left, _ := filepath.Glob(filepath.Join(dir, "sessions-*.db"))
		if len(left) != 1 {
			t.Fatalf("slack %d: after the retry (dropped %v) the months are %v", slack, dropped, left)
		}
	}
	res.log(t, "DropMonthsBefore")
	if res.failed < 5 && !testing.Short() {
		t.Errorf("only %d fill points failed", res.failed)
	}
}

func clone(m map[uint64]string) map[uint64]string {
	c := make(map[uint64]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
