package reliability_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofastr/store/internal/faultvfs"
	"github.com/gofastr/store/internal/reliability"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// Environment variables of the fault loops.
const (
	// envFaults=full runs every N of every sweep (make faults); otherwise
	// a sample (fewer still under -short).
	envFaults = "GOFASTR_FAULTS"
	// envSeed seeds the sample and the random sweep; printed by every run.
	envSeed = "GOFASTR_FAULT_SEED"
	// envN, with envSweep, replays one run of an Nth-call sweep; envSeed
	// with envSweep=random replays one random run, with the error envErr
	// (EIO or ENOSPC; default EIO) and the probability envProb (default
	// about three faults per run) its failure printed.
	envN     = "GOFASTR_FAULT_N"
	envSweep = "GOFASTR_FAULT_SWEEP"
	envErr   = "GOFASTR_FAULT_ERR"
	envProb  = "GOFASTR_FAULT_PROB"
	// envKeep names the directory the runs' directories are made in
	// (default: a new directory under the system's temporary directory);
	// a failed run's directory is kept there.
	envKeep = "GOFASTR_FAULT_KEEP"
	// envReport names a file the report table is written to (Markdown).
	envReport = "GOFASTR_FAULT_REPORT"
	// envStride=k runs every kth N of a full sweep (default 1: every N).
	envStride = "GOFASTR_FAULT_STRIDE"
	// envVerbose=1 logs every run: its fault, duration and error.
	envVerbose = "GOFASTR_FAULT_VERBOSE"
)

// sweep is one family of fault runs: the calls counted, the error, and
// whether the fault persists after the Nth call.
type sweep struct {
	name      string
	ops       faultvfs.Op
	err       syscall.Errno
	persist   bool
	plaintext bool
	random    bool // Prob instead of N
}

var sweeps = []sweep{
	{name: "any-call-eio", ops: faultvfs.OpAll, err: syscall.EIO},
	{name: "any-call-enospc", ops: faultvfs.OpAll, err: syscall.ENOSPC},
	{name: "disk-full", ops: faultvfs.OpWrite | faultvfs.OpTruncate | faultvfs.OpSync, err: syscall.ENOSPC, persist: true},
	{name: "device-gone", ops: faultvfs.OpAll, err: syscall.EIO, persist: true},
	{name: "sync-eio", ops: faultvfs.OpSync, err: syscall.EIO},
	{name: "plaintext-any-call-eio", ops: faultvfs.OpAll, err: syscall.EIO, plaintext: true},
	{name: "random", ops: faultvfs.OpAll, random: true},
}

// tally sums the runs of a sweep.
type tally struct {
	runs, failedRuns          int // runs; runs whose workload returned an error
	injected                  int64
	tried, acked              int
	lost, half, wrong, verify int
	markers, unusable         int
	elapsed                   time.Duration
}

func (t *tally) add(res reliability.Result, injected int64, runErr error) {
	t.runs++
	if runErr != nil {
		t.failedRuns++
	}
	t.injected += injected
	t.tried += res.Tried
	t.acked += res.Acked
	t.lost += res.Lost
	t.half += res.HalfPresent
	t.wrong += res.Wrong
	t.verify += len(res.Verify)
	t.markers += len(res.MarkerHits)
	t.unusable += len(res.Unusable)
}

// faultRunner runs the workload under faults, one directory per run.
type faultRunner struct {
	t      *testing.T
	fv     *faultvfs.VFS
	base   string // parent of the runs' directories
	marker []byte
	keks   [2][]byte
	seed   uint64
}

func (fr *faultRunner) workload(sw sweep, dir string) reliability.Workload {
	w := reliability.Workload{Dir: dir, Encrypted: !sw.plaintext, Marker: fr.marker, Appenders: 2, Events: 3}
	if w.Encrypted {
		w.KEK, w.NewKEK = fr.keks[0], fr.keks[1]
	}
	return w
}

// run runs the workload once with fault f armed, checks it with the
// faults disarmed, and reports a failure with the command that replays it.
func (fr *faultRunner) run(sw sweep, f faultvfs.Fault, replay string, tl *tally) (calls map[faultvfs.Op]faultvfs.Counts) {
	t := fr.t
	t.Helper()
	dir, err := os.MkdirTemp(fr.base, sw.name+"-*")
	if err != nil {
		t.Fatal(err)
	}
	w := fr.workload(sw, dir)
	var o reliability.Oracle
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
	// The file of the Nth counted call: the VFS asks Files about each
	// counted call, in order, before it counts it.
	var nth atomic.Pointer[string]
	if f.N > 0 && f.Files == nil {
		var counted int64
		f.Files = func(name string) bool {
			if counted++; counted == f.N {
				nth.Store(&name)
			}
			return true
		}
	}
	site := func(st faultvfs.Stats) string {
		s := faultSites(st, dir)
		if p := nth.Load(); p != nil && f.Persist {
			s = fmt.Sprintf("call %d on %s first; in all: %s", f.N, relName(dir, *p), s)
		} else if p != nil {
			s = fmt.Sprintf("call %d: %s", f.N, s)
		}
		return s
	}
	fr.fv.Arm(f)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, &o) }()
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(3 * time.Minute):
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		sites := site(fr.fv.Stats())
		fr.fv.Disarm()
		t.Fatalf("%s: the workload hung (did not return 1 minute after its deadline); faults hit %s; files kept in %s; replay: %s\n%s", sw.name, sites, dir, replay, b.String())
	}
	injected := fr.fv.Injected()
	st := fr.fv.Stats()
	calls = st.Ops
	fr.fv.Disarm()
	sites := site(st)
	if os.Getenv(envVerbose) == "1" {
		t.Logf("%s N=%d seed=%d: %d injected (%s), %v: %v", sw.name, f.N, f.Seed, injected, sites, time.Since(started).Round(time.Millisecond), runErr)
	}
	res, cerr := reliability.Check(context.Background(), w, &o)
	tl.add(res, injected, runErr)
	if cerr != nil || !res.OK() {
		tl.verify += boolInt(cerr != nil)
		t.Errorf("%s: %d faults injected (%s), workload: %v\ncheck: %v\n%s\nfiles kept in %s\nreplay: %s",
			sw.name, injected, sites, runErr, cerr, res.String(), dir, replay)
		return calls
	}
	if runErr != nil && injected == 0 {
		t.Errorf("%s: the workload failed with no fault injected: %v\nreplay: %s", sw.name, runErr, replay)
	}
	os.RemoveAll(dir)
	return calls
}

// faultSites names the operations and files the faults of a run hit,
// from the VFS's counts since Arm: "write on sessions.db-wal" for a
// single fault, with counts when there were several.
func faultSites(st faultvfs.Stats, dir string) string {
	var ops, files []string
	var total int64
	for op, c := range st.Ops {
		if c.Injected > 0 {
			ops = append(ops, fmt.Sprintf("%s ×%d", op, c.Injected))
			total += c.Injected
		}
	}
	for name, c := range st.Files {
		if c.Injected > 0 {
			files = append(files, fmt.Sprintf("%s ×%d", relName(dir, name), c.Injected))
		}
	}
	switch {
	case total == 0:
		return "no call"
	case total == 1 && len(files) == 1:
		return strings.TrimSuffix(ops[0], " ×1") + " on " + strings.TrimSuffix(files[0], " ×1")
	}
	sort.Strings(ops)
	sort.Strings(files)
	return strings.Join(ops, ", ") + "; files " + strings.Join(files, ", ")
}

// relName is name relative to dir when it is inside it.
func relName(dir, name string) string {
	if rel, err := filepath.Rel(dir, name); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return name
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// dryRun runs the workload of sw without faults and returns the calls it
// made, per operation.
func (fr *faultRunner) dryRun(sw sweep) map[faultvfs.Op]faultvfs.Counts {
	fr.t.Helper()
	var tl tally
	calls := fr.run(sw, faultvfs.Fault{Ops: faultvfs.OpAll}, "(the dry run, no fault)", &tl)
	if tl.failedRuns > 0 {
		fr.t.Fatalf("%s: the workload failed without faults", sw.name)
	}
	return calls
}

// callsOf sums the calls of the operations ops in a dry run's counts.
func callsOf(counts map[faultvfs.Op]faultvfs.Counts, ops faultvfs.Op) int64 {
	var n int64
	for op, c := range counts {
		if op&ops != 0 {
			n += c.Calls
		}
	}
	return n
}

func replayCmd(env ...string) string {
	return strings.Join(env, " ") + " go test -count=1 -v -run 'TestFaults$' ./internal/reliability/"
}

// TestFaults runs the whole workload with a fault injected at the Nth
// call of the VFS under the encrypting VFS, for every N of each sweep
// (GOFASTR_FAULTS=full) or a sample of them, and with faults at random
// (seeded); after each run the faults are disarmed and Check holds the
// store to its promises: no acknowledged write lost, nothing half present,
// every page authenticates, integrity_check ok, no plaintext marker.
func TestFaults(t *testing.T) {
	full := os.Getenv(envFaults) == "full"
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
		seed = v
	}
	var onlyN int64
	if s := os.Getenv(envN); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			t.Fatalf("%s=%q: want a call number from 1", envN, s)
		}
		onlyN = v
	}
	onlySweep := os.Getenv(envSweep)
	stride := int64(1)
	if s := os.Getenv(envStride); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			t.Fatalf("%s=%q: want a stride from 1", envStride, s)
		}
		stride = v
	}
	if onlyN > 0 && onlySweep == "" {
		t.Fatalf("%s needs %s (the sweep the N belongs to)", envN, envSweep)
	}
	// samples per Nth-call sweep, and random runs, when not full.
	samples, randoms := 4, 4
	if testing.Short() {
		samples, randoms = 1, 2
	}
	if race {
		samples, randoms = 1, 1
	}
	t.Logf("%s=%d (replays this run's sample and random faults); full=%v, stride %d", envSeed, seed, full, stride)

	// The runs' directories live outside t.TempDir so that those of a
	// failed run outlive the test; the rest is removed when all pass.
	base, err := os.MkdirTemp(os.Getenv(envKeep), "gofastr-faults-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(base)
		} else {
			t.Logf("the failed runs' files are kept in %s", base)
		}
	})
	fr := &faultRunner{t: t, fv: faultVFS, base: base, marker: storefiles.NewMarker(), seed: seed}
	rng := rand.New(rand.NewPCG(seed, seed^0xa5a5))
	for i := range fr.keks {
		fr.keks[i] = make([]byte, 32)
		for j := range fr.keks[i] {
			fr.keks[i][j] = byte(rng.Uint32())
		}
	}
	goroutines := runtime.NumGoroutine()
	type row struct {
		sw    sweep
		calls int64
		tl    tally
	}
	var rows []row
	dry := map[bool]map[faultvfs.Op]faultvfs.Counts{} // per plaintext
	for _, sw := range sweeps {
		if onlySweep != "" && onlySweep != sw.name {
			continue
		}
		start := time.Now()
		if dry[sw.plaintext] == nil {
			dry[sw.plaintext] = fr.dryRun(sw)
		}
		calls := callsOf(dry[sw.plaintext], sw.ops)
		var tl tally
		switch {
		case sw.random:
			// About three faults per run.
			prob := 3 / float64(max(calls, 1))
			if s := os.Getenv(envProb); s != "" {
				v, err := strconv.ParseFloat(s, 64)
				if err != nil || v <= 0 || v > 1 {
					t.Fatalf("%s=%q: want a probability in (0, 1]", envProb, s)
				}
				prob = v
			}
			replayErr := syscall.Errno(0) // the alternation below
			if s := os.Getenv(envErr); s != "" {
				e, ok := errnos[s]
				if !ok {
					t.Fatalf("%s=%q: want EIO or ENOSPC", envErr, s)
				}
				replayErr = e
			}
			seeds := []uint64{}
			if onlySweep == "random" && os.Getenv(envSeed) != "" {
				seeds = append(seeds, seed)
			} else {
				n := randoms
				if full {
					n = max(200/int(stride), randoms)
				}
				for i := range n {
					seeds = append(seeds, seed+uint64(i))
				}
			}
			for i, s := range seeds {
				errno := syscall.EIO
				if i%2 == 1 {
					errno = syscall.ENOSPC
				}
				if replayErr != 0 {
					errno = replayErr
				}
				f := faultvfs.Fault{Ops: sw.ops, Prob: prob, Seed: s, Err: errno}
				fr.run(sw, f, replayCmd(envSweep+"=random", fmt.Sprintf("%s=%d", envSeed, s), envErr+"="+errnoName(errno),
					envProb+"="+strconv.FormatFloat(prob, 'g', -1, 64)), &tl)
			}
		default:
			var ns []int64
			switch {
			case onlyN > 0:
				ns = []int64{onlyN}
			case full:
				for n := int64(1); n <= calls; n += stride {
					ns = append(ns, n)
				}
			default:
				step := max(calls/int64(samples), 1)
				off := int64(rng.Uint64N(uint64(step)))
				for n := 1 + off; n <= calls && len(ns) < samples; n += step {
					ns = append(ns, n)
				}
			}
			for _, n := range ns {
				f := faultvfs.Fault{Ops: sw.ops, N: n, Persist: sw.persist, Err: sw.err}
				fr.run(sw, f, replayCmd(envSweep+"="+sw.name, fmt.Sprintf("%s=%d", envN, n)), &tl)
				if t.Failed() && !full {
					break
				}
			}
		}
		tl.elapsed = time.Since(start)
		rows = append(rows, row{sw, calls, tl})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "| sweep | calls counted | runs | runs failed | faults injected | ops tried | acked writes | acked lost | half-present | wrong | verify failures | marker hits | unusable | seconds |\n")
	fmt.Fprintf(&b, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var sum tally
	for _, r := range rows {
		tl := r.tl
		desc := fmt.Sprintf("%s (%s, %s", r.sw.name, opsName(r.sw.ops), errName(r.sw.err, r.sw.random))
		if r.sw.persist {
			desc += ", persists"
		}
		desc += ")"
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.0f |\n", desc, r.calls, tl.runs, tl.failedRuns,
			tl.injected, tl.tried, tl.acked, tl.lost, tl.half, tl.wrong, tl.verify, tl.markers, tl.unusable, tl.elapsed.Seconds())
		sum.runs += tl.runs
		sum.failedRuns += tl.failedRuns
		sum.injected += tl.injected
		sum.tried += tl.tried
		sum.acked += tl.acked
		sum.lost += tl.lost
		sum.half += tl.half
		sum.wrong += tl.wrong
		sum.verify += tl.verify
		sum.markers += tl.markers
		sum.unusable += tl.unusable
		sum.elapsed += tl.elapsed
	}
	fmt.Fprintf(&b, "| **total** | | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.0f |\n", sum.runs, sum.failedRuns,
		sum.injected, sum.tried, sum.acked, sum.lost, sum.half, sum.wrong, sum.verify, sum.markers, sum.unusable, sum.elapsed.Seconds())
	t.Logf("fault report (%s=%d, full=%v):\n%s", envSeed, seed, full, b.String())
	if p := os.Getenv(envReport); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if sum.injected == 0 && len(rows) > 0 && onlyN == 0 {
		t.Error("no fault was injected: the sweeps proved nothing")
	}
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
	if g := runtime.NumGoroutine(); g > goroutines+20 {
		t.Errorf("goroutines grew from %d to %d over %d runs", goroutines, g, sum.runs)
	}
}

// opsName names the operations of a sweep in the report.
func opsName(ops faultvfs.Op) string {
	switch ops {
	case faultvfs.OpAll:
		return "any call"
	case faultvfs.OpWrite | faultvfs.OpTruncate | faultvfs.OpSync:
		return "writes, syncs, truncates"
	case faultvfs.OpSync:
		return "syncs"
	}
	return ops.String()
}

// errnos are the errors a replay's envErr names.
var errnos = map[string]syscall.Errno{"EIO": syscall.EIO, "ENOSPC": syscall.ENOSPC}

func errnoName(e syscall.Errno) string {
	for name, v := range errnos {
		if v == e {
			return name
		}
	}
	return e.Error()
}

func errName(e syscall.Errno, random bool) string {
	if random {
		return "EIO or ENOSPC, p≈3/calls"
	}
	if e == syscall.ENOSPC {
		return "ENOSPC"
	}
	return "EIO"
}
