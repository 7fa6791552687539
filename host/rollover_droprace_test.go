package host_test

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// dropRaceConfig is the configuration of the drop race tests: the clock
// on 15 November 2026, encrypted under rolloverKEK if enc.
func dropRaceConfig(enc bool, at time.Time) host.Config {
	cfg := host.NewConfig().WithClock(func() time.Time { return at })
	if enc {
		cfg = cfg.WithKEKSource(keyring.RawKEK(rolloverKEK))
	}
	return cfg
}

var dropRaceNow = utc(2026, 11, 15, 0, 0)

// fillDropRace writes one provider attempt into each of August to
// November 2026 and returns the ID of November's.
func fillDropRace(t *testing.T, dir string, enc bool) int64 {
	t.Helper()
	ctx := context.Background()
	var last int64
	for _, mo := range []time.Month{8, 9, 10, 11} {
		at := utc(2026, mo, 15, 0, 0)
		m := newRollover(t, dir, dropRaceConfig(enc, at))
		id, err := m.RecordAttempt(ctx, abi.ProviderAttempt{Session: "s", Turn: 1, Provider: "x", Model: "m",
			StartedAt: at, EndedAt: at, TerminatedReason: "complete", EstimatedUSD: 1})
		if err != nil {
			t.Fatal(err)
		}
		last = id
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return last
}

// readDropRace opens a fresh rollover of dir and reads across its
// months, as a cost ledger's sync and a session browser do.
func readDropRace(dir string, enc bool) error {
	ctx := context.Background()
	m, err := host.NewMonthlyRolloverWithConfig(dir, dropRaceConfig(enc, dropRaceNow))
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer m.Close()
	if _, err := m.AttemptsSince(ctx, 0, 0); err != nil {
		return fmt.Errorf("attempts since: %w", err)
	}
	if _, err := m.ListPastSessions(ctx, 0); err != nil {
		return fmt.Errorf("list past sessions: %w", err)
	}
	if _, err := m.LocalCostNanosInPeriod(ctx, "x", utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)); err != nil {
		return fmt.Errorf("period cost: %w", err)
	}
	return nil
}

// checkAfterDropRace checks dir after readers raced a drop of every month
// before November: no database or DEK header of a dropped month is left
// or came back, a fresh rollover opens, drops nothing more (removing the
// empty -wal or -shm file a reader's connection, opened just before the
// drop, may have left) and reads November's attempt only, and then no
// file of a dropped month is left.
func checkAfterDropRace(t *testing.T, round int, dir string, enc bool, nov int64) {
	t.Helper()
	ctx := context.Background()
	for _, mo := range []string{"08", "09", "10"} {
		for _, suf := range []string{"", ".dek"} {
			if _, err := os.Stat(filepath.Join(dir, "sessions-2026"+mo+".db"+suf)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("round %d: sessions-2026%s.db%s of a dropped month exists (%v): %v", round, mo, suf, err, mustDir(t, dir))
			}
		}
	}
	m, err := host.NewMonthlyRolloverWithConfig(dir, dropRaceConfig(enc, dropRaceNow))
	if err != nil {
		t.Fatalf("round %d: open after the race: %v", round, err)
	}
	defer m.Close()
	dropped, err := m.DropMonthsBefore(ctx, utc(2026, 11, 1, 0, 0))
	if err != nil || len(dropped) != 0 {
		t.Fatalf("round %d: drop after the race: %v, %v", round, dropped, err)
	}
	as, err := m.AttemptsSince(ctx, 0, 0)
	if err != nil {
		t.Fatalf("round %d: read after the race: %v", round, err)
	}
	if len(as) != 1 || as[0].ID != nov {
		t.Fatalf("round %d: attempts after the race %+v, want November's (ID %d) only", round, as, nov)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "sessions-2026[01][089]*")); len(left) != 0 {
		t.Fatalf("round %d: files of dropped months after a second drop: %v", round, left)
	}
}

// TestRolloverDropRaceHandles races readers on fresh handles (each
// listing the months, then opening them) against DropMonthsBefore on
// another handle in the same process: no read fails, no dropped month
// comes back (an opener never creates a month), and the directory opens,
// drops and reads cleanly after every round, plaintext and encrypted.
func TestRolloverDropRaceHandles(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			ctx := context.Background()
			proc.Loop(t, 12, 4, func(rng *mrand.Rand, round int) {
				dir := t.TempDir()
				nov := fillDropRace(t, dir, enc)
				var stop atomic.Bool
				var wg sync.WaitGroup
				var mu sync.Mutex
				var errs []string
				for range 3 {
					wg.Go(func() {
						for !stop.Load() {
							if err := readDropRace(dir, enc); err != nil {
								mu.Lock()
								errs = append(errs, err.Error())
								mu.Unlock()
							}
						}
					})
				}
				time.Sleep(time.Duration(rng.IntN(8)) * time.Millisecond)
				d := newRollover(t, dir, dropRaceConfig(enc, dropRaceNow))
				dropped, err := d.DropMonthsBefore(ctx, utc(2026, 11, 1, 0, 0))
				if err != nil {
					t.Fatalf("round %d: drop: %v", round, err)
				}
				d.Close()
				time.Sleep(5 * time.Millisecond)
				stop.Store(true)
				wg.Wait()
				if len(errs) != 0 {
					t.Fatalf("round %d: %d reads failed, first: %s", round, len(errs), errs[0])
				}
				if len(dropped) != 3 {
					t.Fatalf("round %d: dropped %v, want August to October", round, dropped)
				}
				checkAfterDropRace(t, round, dir, enc, nov)
			})
		})
	}
}

// dropRaceArgs are the arguments of the rollover-droprace-read child.
type dropRaceArgs struct {
	Dir string
	Enc bool
	For time.Duration
}

var _ = proc.Role("rollover-droprace-read", dropRaceReadChild)

// dropRaceReadChild prints "start", then reads through fresh rollovers
// (readDropRace) for a.For, failing on the first error.
func dropRaceReadChild() int {
	var a dropRaceArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	os.Stdout.WriteString("start\n")
	for end := time.Now().Add(a.For); time.Now().Before(end); {
		if err := readDropRace(a.Dir, a.Enc); err != nil {
			proc.Fail("read: %v", err)
		}
	}
	return 0
}

// TestRolloverDropRaceProcesses is TestRolloverDropRaceHandles with the
// readers in two other OS processes.
func TestRolloverDropRaceProcesses(t *testing.T) {
	proc.Skip(t)
	cacheDir := childCacheDir(t)
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			ctx := context.Background()
			proc.Loop(t, 8, 3, func(rng *mrand.Rand, round int) {
				dir := t.TempDir()
				nov := fillDropRace(t, dir, enc)
				var ps []*proc.Proc
				var wg sync.WaitGroup
				var mu sync.Mutex
				var out []string
				started := make(chan struct{}, 2)
				for range 2 {
					p := proc.Start(t, proc.Spec{Role: "rollover-droprace-read",
						Args: dropRaceArgs{Dir: dir, Enc: enc, For: 400 * time.Millisecond}, Env: childEnv(cacheDir)})
					ps = append(ps, p)
					wg.Go(func() {
						p.Lines(func(l string) {
							if l == "start" {
								started <- struct{}{}
							}
							mu.Lock()
							out = append(out, l)
							mu.Unlock()
						})
					})
				}
				for range 2 {
					select {
					case <-started:
					case <-time.After(30 * time.Second):
						t.Fatalf("round %d: a reader did not start", round)
					}
				}
				time.Sleep(time.Duration(20+rng.IntN(100)) * time.Millisecond)
				d := newRollover(t, dir, dropRaceConfig(enc, dropRaceNow))
				dropped, err := d.DropMonthsBefore(ctx, utc(2026, 11, 1, 0, 0))
				if err != nil {
					t.Fatalf("round %d: drop: %v", round, err)
				}
				d.Close()
				wg.Wait()
				for i, p := range ps {
					if err := p.Wait(); err != nil || !p.ExitedByItself() || p.ExitCode() != 0 {
						t.Fatalf("round %d: reader %d: %v, exit %d: %s", round, i, err, p.ExitCode(), strings.TrimSpace(p.Stderr()))
					}
				}
				if !slices.Equal(dropped, []string{
					filepath.Join(dir, "sessions-202608.db"), filepath.Join(dir, "sessions-202609.db"), filepath.Join(dir, "sessions-202610.db"),
				}) {
					t.Fatalf("round %d: dropped %v", round, dropped)
				}
				checkAfterDropRace(t, round, dir, enc, nov)
			})
		})
	}
}
