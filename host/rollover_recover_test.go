package host_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

// interruptedMonth leaves at path the state of a rollover killed while
// creating the month: its creation marker and a database with schema.
func interruptedMonth(tb testing.TB, path string) {
	tb.Helper()
	if err := os.WriteFile(path+".creating", nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	s, err := host.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
}

func recoverEvent(sess, payload string, ts time.Time) abi.EventEnvelope {
	return abi.EventEnvelope{Session: abi.SessionID(sess), Kind: abi.KindAssistantMessage, TS: ts, Payload: []byte(`"` + payload + `"`)}
}

// checkRecoveredEvents opens dir with a fresh handle and checks that
// session s holds exactly want (payloads, in any order) with distinct IDs.
func checkRecoveredEvents(t *testing.T, dir string, want []string) {
	t.Helper()
	d := newRollover(t, dir, host.NewConfig().WithClock(func() time.Time { return utc(2026, 12, 1, 2, 0) }))
	evs, err := d.EventsSince(context.Background(), "s", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ids := map[uint64]bool{}
	for _, e := range evs {
		got = append(got, strings.Trim(string(e.Payload), `"`))
		if ids[e.ID] {
			t.Errorf("ID %d issued twice", e.ID)
		}
		ids[e.ID] = true
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("a fresh handle reads %q, want %q (acknowledged events lost)", got, want)
	}
}

// TestRolloverRecoverAfterRead: a handle that read the directory while a
// month's creation was interrupted neither opens nor keeps that month, so
// that another handle recovering it (deleting and creating it again) does
// not strand the reader's later writes in the deleted file.
func TestRolloverRecoverAfterRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	nov, dec := utc(2026, 11, 30, 23, 0), utc(2026, 12, 1, 1, 0)
	cClock := newTestClock(nov)
	c := newRollover(t, dir, host.NewConfig().WithClock(cClock.now))
	if _, err := c.Append(ctx, recoverEvent("s", "c-nov", nov)); err != nil {
		t.Fatal(err)
	}
	interruptedMonth(t, filepath.Join(dir, "sessions-202612.db"))
	if evs, err := c.EventsSince(ctx, "s", 0, 100); err != nil || len(evs) != 1 {
		t.Fatalf("EventsSince = %d events, %v; want 1", len(evs), err)
	}
	b := newRollover(t, dir, host.NewConfig().WithClock(func() time.Time { return dec }))
	if _, err := b.Append(ctx, recoverEvent("s", "b-dec", dec)); err != nil {
		t.Fatal(err)
	}
	cClock.set(dec)
	want := []string{"c-nov", "b-dec"}
	for i := range 3 {
		p := fmt.Sprint("c-dec-", i)
		if _, err := c.Append(ctx, recoverEvent("s", p, dec)); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	checkRecoveredEvents(t, dir, want)
}

// TestRolloverRecoverWhileOpen: a month whose creation was interrupted is
// not deleted while any handle has it open; the rollover fails with
// ErrBusy instead, and recovers once the handle is closed.
func TestRolloverRecoverWhileOpen(t *testing.T) {
	host.SetMonthLockWait(t, 100*time.Millisecond)
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions-202612.db")
	interruptedMonth(t, path)
	other, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := host.NewConfig().WithClock(func() time.Time { return utc(2026, 12, 1, 1, 0) })
	if _, err := host.NewMonthlyRolloverWithConfig(dir, cfg); !errors.Is(err, host.ErrBusy) {
		t.Fatalf("recovering a month another handle has open: err = %v, want ErrBusy", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the open month was deleted: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	m := newRollover(t, dir, cfg)
	if _, err := os.Stat(path + ".creating"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker left after recovery: %v", err)
	}
	rollAppend(t, m, "s", 0, `"x"`)
}

var _ = proc.Role("rollover-read-then-append", rolloverReadThenAppendChild)

// rolloverReadThenAppendChild is handle C of TestRolloverRecoverProcesses:
// in November it appends and reads (December being half created), prints
// "read", waits until December's marker is gone, and appends three events
// in December, printing "ack PAYLOAD" for each.
func rolloverReadThenAppendChild() int {
	var a struct{ Dir, Signal string }
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	proc.ExitWithParent(time.Minute)
	ctx := context.Background()
	nov := utc(2026, 11, 30, 23, 0)
	clock := newTestClock(nov)
	c, err := host.NewMonthlyRolloverWithConfig(a.Dir, host.NewConfig().WithClock(clock.now))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	if _, err := c.Append(ctx, recoverEvent("s", "c-nov", nov)); err != nil {
		proc.Fail("append: %v", err)
	}
	os.Stdout.WriteString("opened\n")
	waitFor(func() bool { _, err := os.Stat(a.Signal); return err == nil })
	if _, err := c.EventsSince(ctx, "s", 0, 100); err != nil {
		proc.Fail("read: %v", err)
	}
	os.Stdout.WriteString("read\n")
	marker := filepath.Join(a.Dir, "sessions-202612.db.creating")
	waitFor(func() bool { _, err := os.Stat(marker); return errors.Is(err, os.ErrNotExist) })
	dec := utc(2026, 12, 1, 1, 0)
	clock.set(dec)
	for i := range 3 {
		p := fmt.Sprint("c-dec-", i)
		if _, err := c.Append(ctx, recoverEvent("s", p, dec)); err != nil {
			proc.Fail("append: %v", err)
		}
		os.Stdout.WriteString("ack " + p + "\n")
	}
	return 0
}

// waitFor polls ok until it holds.
func waitFor(ok func() bool) {
	for !ok() {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRolloverRecoverProcesses is TestRolloverRecoverAfterRead with the
// reader in another OS process.
func TestRolloverRecoverProcesses(t *testing.T) {
	proc.Skip(t)
	ctx := context.Background()
	dir := t.TempDir()
	signal := filepath.Join(t.TempDir(), "read")
	dec := utc(2026, 12, 1, 1, 0)
	p := proc.Start(t, proc.Spec{Role: "rollover-read-then-append", Args: struct{ Dir, Signal string }{dir, signal}, Env: childEnv(childCacheDir(t))})
	out := bufio.NewReader(p.Stdout())
	if line, err := out.ReadString('\n'); line != "opened\n" {
		t.Fatalf("child: %q, %v; stderr: %s", line, err, p.Stderr())
	}
	interruptedMonth(t, filepath.Join(dir, "sessions-202612.db"))
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if line, err := out.ReadString('\n'); line != "read\n" {
		t.Fatalf("child: %q, %v; stderr: %s", line, err, p.Stderr())
	}
	b := newRollover(t, dir, host.NewConfig().WithClock(func() time.Time { return dec }))
	if _, err := b.Append(ctx, recoverEvent("s", "b-dec", dec)); err != nil {
		t.Fatal(err)
	}
	want := []string{"c-nov", "b-dec"}
	proc.ReadLines(out, func(line string) {
		if ack, ok := strings.CutPrefix(line, "ack "); ok {
			want = append(want, ack)
		}
	})
	if err := p.Wait(); err != nil {
		t.Fatalf("child: %v; stderr: %s", err, p.Stderr())
	}
	if len(want) != 5 {
		t.Fatalf("child acknowledged %d appends, want 3", len(want)-2)
	}
	checkRecoveredEvents(t, dir, want)
}
