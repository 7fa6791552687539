package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/faultvfs"
	"github.com/gofastr/store/internal/reliability"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/sqlitevfs"
)

// The power-loss loop: the whole workload runs with the power cut at its
// Nth write, sync or truncate (every file of the directory that SQLite
// writes goes through a faultvfs.VFS under the encrypting VFS), every
// handle is closed, the disk is rewritten to what a power loss leaves
// (unsynced writes discarded, reordered, torn), and Check holds the
// reopened store to its promises: no acknowledged write lost, nothing half
// present, every page authenticates, no plaintext marker in any file.
//
// The default run tries a few cut points per mode, drawn from a seed it
// prints (GOFASTR_FAULT_SEED replays one); GOFASTR_FAULTS=full spreads
// 200 cut points per mode over the whole workload.

// powerSeed returns the seed of the run's random choices.
func powerSeed(t *testing.T) uint64 {
	if s := os.Getenv("GOFASTR_FAULT_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GOFASTR_FAULT_SEED=%q: %v", s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// powerWorkload returns a workload on a fresh directory: the full one, or
// a smaller one for the default run.
func powerWorkload(t *testing.T, encrypted, full bool) reliability.Workload {
	w := reliability.Workload{Dir: t.TempDir(), Encrypted: encrypted, Marker: storefiles.NewMarker()}
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

// powerCase is a power-loss mode with the storage's atomic write unit.
type powerCase struct {
	mode   faultvfs.Mode
	sector int
}

func (pc powerCase) String() string {
	if pc.mode == faultvfs.Tear {
		return fmt.Sprintf("%v-%d", pc.mode, pc.sector)
	}
	return pc.mode.String()
}

// powerTally sums the runs of one flavor and case.
type powerTally struct {
	cuts, tried, acked, pending, undone, torn, lost, half, wrong, creations int
}

// TestPowerLoss runs the power-loss loop (see above).
func TestPowerLoss(t *testing.T) {
	full := os.Getenv("GOFASTR_FAULTS") == "full"
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
	t.Logf("seed %d (replay: GOFASTR_FAULT_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x13))

	v := faultvfs.New(nil)
	restore := engine.SetBaseVFS(v)
	defer restore()

	var lines []string
	var totalCuts, totalLost, totalUndone, totalFailed, totalCreations int
	start := time.Now()
	for _, encrypted := range flavorsToRun {
		flavor := "plaintext"
		cases := []powerCase{{mode: faultvfs.Discard}, {mode: faultvfs.Reorder}, {mode: faultvfs.Tear, sector: 512}}
		if encrypted {
			flavor = "encrypted"
			// sqlitevfs requires storage that writes whole 4 KiB pages
			// atomically (a torn page 1 fails authentication: see its
			// package documentation); plaintext SQLite copes with 512.
			cases[2].sector = 4096
		}
		// A run without a cut counts the calls that change the disk.
		v.Arm(faultvfs.Fault{Ops: powerOps})
		w := powerWorkload(t, encrypted, full)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var o reliability.Oracle
		if err := w.Run(ctx, &o); err != nil {
			cancel()
			t.Fatalf("%s: run without faults: %v", flavor, err)
		}
		cancel()
		writes := v.Calls()
		v.Disarm()

		for _, pc := range cases {
			var cuts []int64
			if full {
				step := max(writes/int64(perCase), 1)
				for n := 1 + rng.Int64N(step); n <= writes; n += step {
					cuts = append(cuts, n)
				}
			} else {
				// One cut among the first calls, where the databases
				// are created, the others anywhere.
				cuts = append(cuts, 1+rng.Int64N(min(writes, 40)))
				for range perCase - 1 {
					cuts = append(cuts, 1+rng.Int64N(writes))
				}
				slices.Sort(cuts)
			}
			var tally powerTally
			for _, n := range cuts {
				runSeed := rng.Uint64()
				name := fmt.Sprintf("%s/%v/cut-%d/seed-%d", flavor, pc, n, runSeed)
				res, rep := powerRun(t, v, powerWorkload(t, encrypted, full), n, faultvfs.PowerLoss{Mode: pc.mode, Seed: runSeed, Sector: pc.sector}, name, &tally.creations)
				tally.cuts++
				tally.tried += res.Tried
				tally.acked += res.Acked
				tally.pending += rep.Pending
				tally.undone += rep.Lost
				tally.torn += rep.Torn
				tally.lost += res.Lost
				tally.half += res.HalfPresent
				tally.wrong += res.Wrong
			}
			totalCuts += tally.cuts
			totalLost += tally.lost
			totalUndone += tally.undone
			totalFailed += tally.tried - tally.acked
			totalCreations += tally.creations
			lines = append(lines, fmt.Sprintf("| %s | %v | %d | %d | %d | %d | %d | %d | %d | %d | %d |",
				flavor, pc, writes, tally.cuts, tally.tried, tally.tried-tally.acked, tally.pending, tally.undone, tally.torn, tally.creations, tally.lost))
		}
	}
	t.Logf("power loss over the whole workload (%v, seed %d):\n| store | mode | calls per run | cuts | ops tried | ops failed | unsynced writes | undone | torn | creations cut | acked lost |\n|---|---|---|---|---|---|---|---|---|---|---|\n%s",
		time.Since(start).Round(time.Second), seed, strings.Join(lines, "\n"))
	t.Logf("total: %d cut points, %d operations failed (not acknowledged), %d unsynced writes undone, %d databases cut short in their creation (removed with their key header, as an operator would), %d acknowledged writes lost",
		totalCuts, totalFailed, totalUndone, totalCreations, totalLost)
	if totalUndone == 0 {
		t.Error("no unsynced write was ever undone: the power cuts did not bite")
	}
}

// powerRun runs w with the power cut at its nth write, sync or truncate, restores the disk
// as pl says and checks the result, reporting every failure under name.
func powerRun(t *testing.T, v *faultvfs.VFS, w reliability.Workload, n int64, pl faultvfs.PowerLoss, name string, creations *int) (reliability.Result, faultvfs.Report) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v.Track(true)
	defer v.Track(false)
	v.CutPowerAt(n, powerOps)
	var o reliability.Oracle
	runErr := w.Run(ctx, &o) // fails once the power is cut: expected
	if !v.PowerCut() {
		v.CutPowerAt(0, 0)
		v.CutPower() // the run wrote less than before: cut at its end
	}
	rep, err := v.Restore(pl)
	if err != nil {
		t.Errorf("%s: Restore: %v (run error: %v)", name, err, runErr)
		return reliability.Result{}, rep
	}
	v.Track(false)
	res, err := reliability.Check(ctx, w, &o)
	if errors.Is(err, host.ErrDatabaseLost) || errors.Is(err, sqlitevfs.ErrNotEncrypted) {
		// A creation cut short: see interruptedCreations.
		var n int
		if n, err = interruptedCreations(w, &o); err == nil {
			*creations += n
			res, err = reliability.Check(ctx, w, &o)
		}
	}
	if err != nil {
		t.Errorf("%s: check: %v\n%s\nrun error: %v", name, err, res.String(), runErr)
		return res, rep
	}
	if !res.OK() {
		t.Errorf("%s: %s\nrun error: %v", name, res.String(), runErr)
	}
	return res, rep
}

// interruptedCreations handles the one state a power loss leaves that
// needs an operator: a database whose creation was cut short. The key
// header <db>.dek is written and synced before SQLite creates the
// database, so when the power goes before SQLite's first sync the header
// survives beside a database that is empty (the next open fails with
// host.ErrDatabaseLost, whose message says to remove the header if the
// store never held data) or holds part of the unsynced first transaction
// with a hot journal (it fails as not encrypted: the encrypting VFS
// refuses page 1 before SQLite plays the journal back). For every such
// database of the workload whose target never opened and acknowledged
// nothing, the operator's remedy is applied: the database, its journal
// and its header are removed. The count is returned; any other such
// database is an error.
func interruptedCreations(w reliability.Workload, o *reliability.Oracle) (int, error) {
	targets := map[string]reliability.Target{w.StorePath(): reliability.TargetStore, w.LedgerPath(): reliability.TargetLedger}
	months, _ := filepath.Glob(filepath.Join(w.MonthsDir(), "*.dek"))
	for _, hp := range months {
		targets[strings.TrimSuffix(hp, ".dek")] = reliability.TargetMonths
	}
	// The acknowledged operations that put data in a database: every
	// write but a KEK rotation (which rewrites the header only), and a
	// successful open (which creates the schema).
	used := map[reliability.Target][]reliability.Kind{}
	for _, op := range o.Ops() {
		if op.Acked && (op.Write() && op.Kind != reliability.KindRotate || op.Kind == reliability.KindOpen) {
			used[op.Target] = append(used[op.Target], op.Kind)
		}
	}
	n := 0
	for db, t := range targets {
		if _, err := os.Stat(db + ".dek"); err != nil || !empty(db+"-wal") {
			continue
		}
		// Empty, or the zeros and pages of an unsynced first
		// transaction (a hot journal the encrypting VFS cannot play
		// back: it refuses page 1 before SQLite reads the journal).
		if kind, err := sqlitevfs.Detect(db); !empty(db) && (err != nil || kind == sqlitevfs.FileEncrypted) {
			continue
		}
		if len(used[t]) > 0 {
			return n, fmt.Errorf("%s: empty beside its key header, and its %s acknowledged %v", db, t, used[t])
		}
		// A rollback journal of an empty database holds none of its
		// pages (SQLite's switch to WAL mode leaves one): nothing to
		// roll back, but the keyring counts it as data and refuses to
		// create a new key beside it.
		if err := os.Remove(db + "-journal"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		if err := os.Remove(db); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		if err := os.Remove(db + ".dek"); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("no database cut short in its creation: the store's data was lost")
	}
	return n, nil
}

// empty reports whether the file at path is missing or empty.
func empty(path string) bool {
	fi, err := os.Stat(path)
	return err != nil || fi.Size() == 0
}
