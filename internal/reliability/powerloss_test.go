package reliability_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofastr/store/internal/faultvfs"
	"github.com/gofastr/store/internal/reliability"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// The power-loss loop: the whole workload runs with the power cut at its
// Nth write, sync or truncate (every file of the directory that SQLite
// writes goes through the faultvfs.VFS under the encrypting VFS). At the
// cut the directory is copied as it is on disk and the workload's context
// is cancelled; once every handle is closed, the directory is put back to
// that copy (what the process did after the cut with the os package never
// happened, as on a machine that is off), the unsynced writes are undone
// (discarded, reordered, torn), and Check holds the reopened store to its
// promises: every database reopens by itself (a creation cut short
// included), no acknowledged write lost, nothing half present, every page
// authenticates, no plaintext marker in any file.
//
// The cut points are fractions of the run's writes, syncs and truncates
// (counted by a run without a cut), drawn from a seed the test prints:
// GOFASTR_FAULT_SEED replays the draw, and a failure prints the exact
// GOFASTR_FAULT_CUT line that replays its one cut and power loss. The
// files of a failed run are kept in the OS's temporary directory and
// their path printed. GOFASTR_FAULTS=full spreads 200 cut points per mode
// over the whole workload.

// envCut replays one cut: "<store>,<case>,<n>,<seed>" as a failure prints
// it (store encrypted or plaintext; case discard, reorder, tear-<sector>
// or syncfail): the same cut point and power loss on the same workload
// (its goroutines may interleave differently, and its keys and marker are
// new).
const envCut = "GOFASTR_FAULT_CUT"

// powerSeed returns the seed of the run's random choices.
func powerSeed(t *testing.T) uint64 {
	if s := os.Getenv(envSeed); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// powerWorkload returns a workload on a fresh directory outside the
// test's temporary directory (kept when the run fails): the full one, or a
// smaller one for the default run.
func powerWorkload(t *testing.T, encrypted, full bool) reliability.Workload {
	dir, err := os.MkdirTemp("", "gofastr-powerloss-")
	if err != nil {
		t.Fatal(err)
	}
	w := reliability.Workload{Dir: dir, Encrypted: encrypted, Marker: storefiles.NewMarker()}
	if encrypted {
		w.KEK, w.NewKEK = make([]byte, 32), make([]byte, 32)
		for i := range w.KEK {
			w.KEK[i], w.NewKEK[i] = byte(rand.Uint32()), byte(rand.Uint32())
		}
	}
	if !full {
		w.Appenders, w.Events = 2, 4
	}
	return w
}

// powerOps are the calls counted for a cut point: those that change what
// the disk holds.
const powerOps = faultvfs.OpWrite | faultvfs.OpSync | faultvfs.OpTruncate

// powerCase is a power-loss mode with the storage's atomic write unit,
// and whether syncs also fail at random, dropping the file's unsynced
// writes (Fault.DropOnSyncError).
type powerCase struct {
	mode     faultvfs.Mode
	sector   int
	syncFail bool
}

func (pc powerCase) String() string {
	switch {
	case pc.syncFail:
		return "syncfail"
	case pc.mode == faultvfs.Tear:
		return fmt.Sprintf("%v-%d", pc.mode, pc.sector)
	}
	return pc.mode.String()
}

// powerCases returns the cases of a store flavor.
func powerCases(encrypted bool) []powerCase {
	cases := []powerCase{{mode: faultvfs.Discard}, {mode: faultvfs.Reorder}, {mode: faultvfs.Tear, sector: 512}, {mode: faultvfs.Discard, syncFail: true}}
	if encrypted {
		// sqlitevfs requires storage that writes whole 4 KiB pages
		// atomically (a torn page 1 fails authentication: see its
		// package documentation); plaintext SQLite copes with 512.
		cases[2].sector = 4096
	}
	return cases
}

// syncFailProb is the probability that a sync fails in the syncfail case.
const syncFailProb = 0.05

// powerTally sums the runs of one flavor and case.
type powerTally struct {
	cuts, tried, acked, pending, undone, torn, reverted, dropped, recovered, lost int
}

func (pt *powerTally) add(res reliability.Result, rep faultvfs.Report, dropped, recovered int) {
	pt.cuts++
	pt.tried += res.Tried
	pt.acked += res.Acked
	pt.pending += rep.Pending
	pt.undone += rep.Lost
	pt.torn += rep.Torn
	pt.reverted += rep.Reverted
	pt.dropped += dropped
	pt.recovered += recovered
	pt.lost += res.Lost
}

// TestPowerLoss runs the power-loss loop (see above).
func TestPowerLoss(t *testing.T) {
	v := faultVFS
	if s := os.Getenv(envCut); s != "" {
		powerReplay(t, v, s)
		return
	}
	full := os.Getenv(envFaults) == "full"
	perCase := 4
	if full {
		perCase = 200
	}
	flavorsToRun := []bool{true, false}
	if testing.Short() && !full {
		// The race detector makes every run ~10x slower.
		perCase = 1
		flavorsToRun = []bool{true}
	}
	seed := powerSeed(t)
	t.Logf("seed %d (replay: %s=%d)", seed, envSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x13))

	var lines []string
	var total powerTally
	start := time.Now()
	for _, encrypted := range flavorsToRun {
		flavor := "plaintext"
		if encrypted {
			flavor = "encrypted"
		}
		// A run without a cut counts the calls that change the disk.
		v.Arm(faultvfs.Fault{Ops: powerOps})
		w := powerWorkload(t, encrypted, full)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var o reliability.Oracle
		err := w.Run(ctx, &o)
		cancel()
		os.RemoveAll(w.Dir)
		if err != nil {
			t.Fatalf("%s: run without faults: %v", flavor, err)
		}
		writes := v.Calls()
		v.Disarm()

		for ci, pc := range powerCases(encrypted) {
			// Fractions of the run, so that a seed draws the same
			// places in a run whose call count differs a little.
			var fracs []float64
			if full {
				step := 1 / float64(perCase)
				for f := rng.Float64() * step; f < 1; f += step {
					fracs = append(fracs, f)
				}
			} else {
				// One cut among the first calls, where the databases
				// are created, the others anywhere (with one cut per
				// case, the first case's only).
				early := perCase > 1 || ci == 0
				if early {
					fracs = append(fracs, rng.Float64()*min(1, 40/float64(writes)))
				}
				for len(fracs) < perCase {
					fracs = append(fracs, rng.Float64())
				}
				slices.Sort(fracs)
			}
			var tally powerTally
			for _, f := range fracs {
				n := max(1, int64(math.Ceil(f*float64(writes))))
				res, rep, dropped, recovered := powerRun(t, v, encrypted, full, pc, n, rng.Uint64())
				tally.add(res, rep, dropped, recovered)
			}
			total.cuts += tally.cuts
			total.tried += tally.tried
			total.acked += tally.acked
			total.undone += tally.undone
			total.reverted += tally.reverted
			total.dropped += tally.dropped
			total.recovered += tally.recovered
			total.lost += tally.lost
			lines = append(lines, fmt.Sprintf("| %s | %v | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |",
				flavor, pc, writes, tally.cuts, tally.tried, tally.tried-tally.acked, tally.pending, tally.undone, tally.torn,
				tally.dropped, tally.reverted, tally.recovered, tally.lost))
		}
	}
	t.Logf("power loss over the whole workload (%v, seed %d):\n"+
		"| store | mode | calls per run | cuts | ops tried | ops failed | unsynced writes | undone | torn | dropped by failed syncs | files reverted to the cut | creations recovered | acked lost |\n"+
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|\n%s",
		time.Since(start).Round(time.Second), seed, strings.Join(lines, "\n"))
	t.Logf("total: %d cut points, %d operations failed (not acknowledged), %d unsynced writes undone, %d dropped by failed syncs, %d files put back to their state at the cut, %d creations cut short and recovered by the next open, %d acknowledged writes lost",
		total.cuts, total.tried-total.acked, total.undone, total.dropped, total.reverted, total.recovered, total.lost)
	// A cut that lands where every file is synced undoes nothing; with
	// a handful of cuts that can happen to all of them.
	if total.undone == 0 {
		if total.cuts >= 8 {
			t.Error("no unsynced write was ever undone: the power cuts did not bite")
		} else {
			t.Logf("no unsynced write undone in %d cuts (too few to require it)", total.cuts)
		}
	}
}

// powerReplay runs the one cut that spec ("<store>,<case>,<n>,<seed>")
// names.
func powerReplay(t *testing.T, v *faultvfs.VFS, spec string) {
	parts := strings.Split(spec, ",")
	if len(parts) != 4 || parts[0] != "encrypted" && parts[0] != "plaintext" {
		t.Fatalf("%s=%q: want <encrypted|plaintext>,<case>,<n>,<seed>", envCut, spec)
	}
	encrypted := parts[0] == "encrypted"
	var pc powerCase
	found := false
	for _, c := range powerCases(encrypted) {
		if c.String() == parts[1] {
			pc, found = c, true
		}
	}
	n, err1 := strconv.ParseInt(parts[2], 10, 64)
	seed, err2 := strconv.ParseUint(parts[3], 10, 64)
	if !found || err1 != nil || err2 != nil || n < 1 {
		t.Fatalf("%s=%q: want <encrypted|plaintext>,<case>,<n>,<seed> (cases %v)", envCut, spec, powerCases(encrypted))
	}
	full := os.Getenv(envFaults) == "full"
	res, rep, dropped, recovered := powerRun(t, v, encrypted, full, pc, n, seed)
	t.Logf("%s: %+v; restore %+v; %d writes dropped by failed syncs; %d creations recovered", spec, res, rep, dropped, recovered)
}

// powerRun runs a fresh workload with the power cut at its nth write,
// sync or truncate, restores the disk as pc says and checks the result.
// It returns the check's result, the restore's report, the writes dropped
// by failed syncs and the creations cut short that the check's opens
// recovered. A failure is reported with the line that replays it, and
// the run's files are kept.
func powerRun(t *testing.T, v *faultvfs.VFS, encrypted, full bool, pc powerCase, n int64, seed uint64) (reliability.Result, faultvfs.Report, int, int) {
	t.Helper()
	w := powerWorkload(t, encrypted, full)
	flavor := "plaintext"
	if encrypted {
		flavor = "encrypted"
	}
	name := fmt.Sprintf("%s=%s,%v,%d,%d", envCut, flavor, pc, n, seed)
	if full {
		name = envFaults + "=full " + name
	}
	failed := false
	fail := func(format string, args ...any) {
		failed = true
		t.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	defer func() {
		if failed {
			t.Logf("the files of %s are kept in %s", name, w.Dir)
		} else {
			os.RemoveAll(w.Dir)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	v.Track(true)
	defer v.Track(false)
	if pc.syncFail {
		v.Arm(faultvfs.Fault{Ops: faultvfs.OpSync, Prob: syncFailProb, Seed: seed, Err: syscall.EIO, DropOnSyncError: true})
	}
	dropped0 := v.Dropped()
	v.SnapshotAtCut(w.Dir)
	v.OnCut(stop) // the machine is off: the workload stops
	v.CutPowerAt(n, powerOps)
	var o reliability.Oracle
	runErr := w.Run(runCtx, &o) // fails once the power is cut: expected
	v.Disarm()
	dropped := int(v.Dropped() - dropped0)
	if !v.PowerCut() {
		v.CutPowerAt(0, 0)
		v.CutPower() // the run wrote less than the run without a cut: cut at its end
	}
	rep, err := v.Restore(faultvfs.PowerLoss{Mode: pc.mode, Seed: seed, Sector: pc.sector})
	if err != nil {
		fail("Restore: %v (run error: %v)", err, runErr)
		return reliability.Result{}, rep, dropped, 0
	}
	v.Track(false)
	// The creations the power cut short: their marker is on disk, and
	// the check's first open of each must discard them and create the
	// store again.
	markers, _ := filepath.Glob(filepath.Join(w.Dir, "*.dek.creating"))
	monthMarkers, _ := filepath.Glob(filepath.Join(w.MonthsDir(), "*.dek.creating"))
	recovered := len(markers) + len(monthMarkers)
	res, err := reliability.Check(ctx, w, &o)
	if err != nil {
		fail("check (%d creations cut short): %v\n%s\nrun error: %v", recovered, err, res.String(), runErr)
		return res, rep, dropped, recovered
	}
	if !res.OK() {
		fail("%s\nrun error: %v", res.String(), runErr)
	}
	return res, rep, dropped, recovered
}
