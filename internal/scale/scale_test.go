package scale_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

func init() { proc.Dispatch() }

// envEvents sets the largest store's size (make scale sets it); without
// it the test runs a small version in temporary directories.
const envEvents = "GOFASTR_SCALE_EVENTS"

// smokeEvents is the largest store of the small version.
const smokeEvents = 12_000

// roleOpen opens a generated store in a fresh process and prints how
// long the open and the first query took.
const roleOpen = "scale-open"

type openArgs struct{ Dir string }

type openTimes struct {
	Open, FirstQuery time.Duration
}

var _ = proc.Role(roleOpen, func() int {
	var a openArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	t0 := time.Now()
	m, err := host.NewMonthlyRolloverWithConfig(a.Dir, scaleConfig(endOfData()))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	t1 := time.Now()
	list, err := m.ListPastSessions(context.Background(), 50)
	if err != nil || len(list) == 0 {
		proc.Fail("list sessions: %d, %v", len(list), err)
	}
	t2 := time.Now()
	if err := m.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	b, _ := json.Marshal(openTimes{Open: t1.Sub(t0), FirstQuery: t2.Sub(t1)})
	fmt.Println(string(b))
	return 0
})

// result is what the run measures on one store.
type result struct {
	events      int
	generated   time.Duration // 0: taken from the cache
	monthSizes  []int64       // bytes of each month's files
	total       int64
	open, first time.Duration // medians of cold-process runs
	session     [2]time.Duration
	straddle    [2]time.Duration
	list        [2]time.Duration
	retention   time.Duration
	dropMonth   time.Duration
	dropped     int64
	// retentionErr is the retention run's failure, if it failed.
	retentionErr string
}

// p50p99 returns the median and 99th percentile of d.
func p50p99(d []time.Duration) [2]time.Duration {
	slices.Sort(d)
	return [2]time.Duration{d[len(d)/2], d[len(d)*99/100]}
}

// TestScale generates stores of a tenth, three tenths and all of the
// events across twelve monthly files and measures each (see measure);
// it prints a table with the growth from the smallest to the largest.
func TestScale(t *testing.T) {
	proc.Skip(t)
	n := smokeEvents
	cached := false
	if v := os.Getenv(envEvents); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 12_000 {
			t.Fatalf("%s=%q: want a number of events, at least 12000", envEvents, v)
		}
		cached = true
	} else {
		t.Logf("small version, %d events at most (set %s for the full run)", n, envEvents)
	}
	ctx := context.Background()
	sizes := []int{n / 10, n * 3 / 10, n}
	if !cached && testing.Short() {
		sizes = sizes[:2]
		t.Logf("-short: the two smaller stores only (%v events)", sizes)
	}
	var results []result
	for _, size := range sizes {
		var dir string
		r := result{events: size}
		if cached {
			var err error
			if dir, err = cachedStore(ctx, size, t.Logf); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "complete"))
			if err != nil {
				t.Fatal(err)
			}
			if r.generated, err = time.ParseDuration(strings.TrimSpace(string(b))); err != nil {
				t.Fatalf("%s/complete: %v", dir, err)
			}

		} else {
			dir = filepath.Join(t.TempDir(), "store")
			start := time.Now()
			if err := generate(ctx, dir, size, nil); err != nil {
				t.Fatal(err)
			}
			r.generated = time.Since(start)
		}
		measure(t, dir, &r)
		results = append(results, r)
		t.Logf("%d events: measured", size)
	}
	t.Logf("scale results (load: %s):\n%s", loadAvg(), table(results))
}

// measure fills r from the store in dir: its files' sizes; the open and
// first-query time of a fresh process (median of 3; 1 below 100k events); EventsSince of one
// ordinary session (about 100 events), and of a page of 100 events of a
// hot session straddling a month boundary; ListPastSessions(50); and, on
// a scratch copy, ApplyRetention on the current month and
// DropMonthsBefore of the first month. Every read is checked.
func measure(t *testing.T, dir string, r *result) {
	t.Helper()
	ctx := context.Background()
	for mo := range months {
		var size int64
		for _, suf := range []string{"", "-wal", ".dek"} {
			if fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf("sessions-%s.db", monthStart(mo).Format("200601"))+suf)); err == nil {
				size += fi.Size()
			}
		}
		if size == 0 {
			t.Fatalf("%s: month %d has no file", dir, mo+1)
		}
		r.monthSizes = append(r.monthSizes, size)
		r.total += size
	}

	var opens, firsts []time.Duration
	runs := 3
	if r.events < 100_000 {
		runs = 1
	}
	for range runs {
		out, err := proc.Run(t, proc.Spec{Role: roleOpen, Args: openArgs{Dir: dir}})
		if err != nil {
			t.Fatal(err)
		}
		var ot openTimes
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ot); err != nil {
			t.Fatalf("open child printed %q: %v", out, err)
		}
		opens, firsts = append(opens, ot.Open), append(firsts, ot.FirstQuery)
	}
	r.open, r.first = p50p99(opens)[0], p50p99(firsts)[0]

	m, err := host.NewMonthlyRolloverWithConfig(dir, scaleConfig(endOfData()))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	iters := 200
	if r.events < 100_000 {
		iters = 10
	}
	rng := rand.New(rand.NewPCG(3, 4))
	sessions := ordinarySessions(r.events)
	var durs []time.Duration
	for range iters {
		sess := ordinarySession(rng.IntN(sessions))
		t0 := time.Now()
		evs, err := m.EventsSince(ctx, sess, 0, 0)
		durs = append(durs, time.Since(t0))
		if err != nil || len(evs) == 0 || len(evs) > perSession {
			t.Fatalf("EventsSince(%s): %d events, %v", sess, len(evs), err)
		}
	}
	r.session = p50p99(durs)

	// Pages of a hot session that start 50 events before a month
	// boundary.
	all, err := m.EventsSince(ctx, hotSession(1), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var starts []uint64
	for i := 1; i < len(all); i++ {
		if all[i].TS.Month() != all[i-1].TS.Month() {
			var since uint64 // the session's start, in a small store
			if i >= 51 {
				since = all[i-51].ID
			}
			starts = append(starts, since)
		}
	}
	if len(starts) != months-1 {
		t.Fatalf("hot session: %d month boundaries, want %d", len(starts), months-1)
	}
	durs = durs[:0]
	for i := range iters {
		since := starts[i%len(starts)]
		t0 := time.Now()
		evs, err := m.EventsSince(ctx, hotSession(1), since, 100)
		durs = append(durs, time.Since(t0))
		if err != nil || len(evs) != min(100, countAfter(all, since)) || evs[0].TS.Month() == evs[len(evs)-1].TS.Month() {
			t.Fatalf("page after %d: %d events, %v", since, len(evs), err)
		}
	}
	r.straddle = p50p99(durs)

	durs = durs[:0]
	for range iters {
		t0 := time.Now()
		list, err := m.ListPastSessions(ctx, 50)
		durs = append(durs, time.Since(t0))
		if err != nil || len(list) != 50 {
			t.Fatalf("ListPastSessions: %d, %v", len(list), err)
		}
	}
	r.list = p50p99(durs)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	retention(t, dir, r)
}

func countAfter(evs []abi.EventEnvelope, since uint64) int {
	n := 0
	for _, e := range evs {
		if e.ID > since {
			n++
		}
	}
	return n
}

// retention times ApplyRetention (half of the last month's payloads,
// then the rewrite) and DropMonthsBefore (the first month, with the
// pinned hot session's part copied forward) on a scratch copy of dir:
// the sealed months' databases are hard links (only read, the first one
// deleted), the rest copied. It checks that the linked files did not
// change.
func retention(t *testing.T, dir string, r *result) {
	t.Helper()
	scratch := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".scratch")
	if err := os.RemoveAll(scratch); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(scratch)
	last := fmt.Sprintf("sessions-%s.db", monthStart(months-1).Format("200601"))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]os.FileInfo{}
	for _, e := range entries {
		name := e.Name()
		src, dst := filepath.Join(dir, name), filepath.Join(scratch, name)
		if strings.HasPrefix(name, "sessions-") && strings.HasSuffix(name, ".db") && name != last {
			fi, err := os.Stat(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Link(src, dst); err == nil {
				linked[name] = fi
				continue
			}
		}
		if err := copyFile(src, dst); err != nil {
			t.Fatal(err)
		}
	}

	// In a child process: a failure (even a panic) is reported, and the
	// rest of the table still printed.
	out, err := proc.Run(t, proc.Spec{Role: roleRetention, Args: openArgs{Dir: scratch}})
	if err != nil {
		r.retentionErr = firstLine(err.Error(), "panic: ", "FAIL: ")
		r.retention, r.dropMonth = -1, -1
		t.Errorf("%d events: retention: %v", r.events, err)
	} else {
		var rt retentionTimes
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rt); err != nil {
			t.Fatalf("retention child printed %q: %v", out, err)
		}
		r.retention, r.dropMonth, r.dropped = rt.Retention, rt.Drop, rt.Dropped
	}
	for name, fi := range linked {
		now, err := os.Stat(filepath.Join(dir, name))
		if err != nil || now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
			os.Remove(filepath.Join(dir, "complete")) // rebuild it next time
			t.Fatalf("%s of the cached store changed under the retention run (%v): it will be rebuilt", name, err)
		}
	}
}

// firstLine returns the first line of s that starts with one of the
// prefixes, or s's first line.
func firstLine(s string, prefixes ...string) string {
	lines := strings.Split(s, "\n")
	for _, l := range lines {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				return l
			}
		}
	}
	return lines[0]
}

// roleRetention runs ApplyRetention on the current month and
// DropMonthsBefore of the first month of the store in Dir, and prints
// their times.
const roleRetention = "scale-retention"

type retentionTimes struct {
	Retention, Drop time.Duration
	Dropped         int64
}

var _ = proc.Role(roleRetention, func() int {
	var a openArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	ctx := context.Background()
	m, err := host.NewMonthlyRolloverWithConfig(a.Dir, scaleConfig(endOfData()))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	defer m.Close()
	cur, err := m.Current()
	if err != nil {
		proc.Fail("current: %v", err)
	}
	var rt retentionTimes
	t0 := time.Now()
	n, err := cur.ApplyRetention(ctx, 15*24*time.Hour)
	rt.Retention = time.Since(t0)
	if err != nil || n == 0 {
		proc.Fail("ApplyRetention: %d payloads, %v", n, err)
	}
	rt.Dropped = n
	t0 = time.Now()
	gone, err := m.DropMonthsBefore(ctx, monthStart(1))
	rt.Drop = time.Since(t0)
	if err != nil || len(gone) != 1 {
		proc.Fail("DropMonthsBefore: %v, %v", gone, err)
	}
	if err := m.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	b, _ := json.Marshal(rt)
	fmt.Println(string(b))
	return 0
})

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// loadAvg returns /proc/loadavg's first three fields, or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// table returns the Markdown tables of the results: one row per measure,
// one column per store size, and the growth from the first to the last;
// then the size of each month of the largest store.
func table(rs []result) string {
	var b strings.Builder
	label := func(n int) string {
		switch {
		case n%1_000_000 == 0:
			return fmt.Sprintf("%dM", n/1_000_000)
		case n%1_000 == 0:
			return fmt.Sprintf("%dk", n/1_000)
		}
		return strconv.Itoa(n)
	}
	b.WriteString("| measure |")
	for _, r := range rs {
		fmt.Fprintf(&b, " %s events |", label(r.events))
	}
	fmt.Fprintf(&b, " growth %s→%s |\n|---|", label(rs[0].events), label(rs[len(rs)-1].events))
	for range rs {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	row := func(name string, f func(r result) float64, format string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, r := range rs {
			if v := f(r); v < 0 {
				b.WriteString(" failed |")
			} else {
				fmt.Fprintf(&b, " "+format+" |", v)
			}
		}
		first, last := f(rs[0]), f(rs[len(rs)-1])
		if first > 0 && last >= 0 {
			fmt.Fprintf(&b, " %.2f× |\n", last/first)
		} else {
			b.WriteString(" - |\n")
		}
	}
	row("total file size (MiB)", func(r result) float64 { return float64(r.total) / (1 << 20) }, "%.1f")
	row("bytes per event", func(r result) float64 { return float64(r.total) / float64(r.events) }, "%.0f")
	row("largest month file (MiB)", func(r result) float64 { return float64(slices.Max(r.monthSizes)) / (1 << 20) }, "%.1f")
	row("open, fresh process (ms)", func(r result) float64 { return ms(r.open) }, "%.1f")
	row("first query, all 12 months (ms)", func(r result) float64 { return ms(r.first) }, "%.1f")
	row("EventsSince one session p50 (ms)", func(r result) float64 { return ms(r.session[0]) }, "%.2f")
	row("EventsSince one session p99 (ms)", func(r result) float64 { return ms(r.session[1]) }, "%.2f")
	row("EventsSince page across months p50 (ms)", func(r result) float64 { return ms(r.straddle[0]) }, "%.2f")
	row("EventsSince page across months p99 (ms)", func(r result) float64 { return ms(r.straddle[1]) }, "%.2f")
	row("ListPastSessions(50) p50 (ms)", func(r result) float64 { return ms(r.list[0]) }, "%.2f")
	row("ListPastSessions(50) p99 (ms)", func(r result) float64 { return ms(r.list[1]) }, "%.2f")
	row("ApplyRetention, last month (s)", func(r result) float64 { return r.retention.Seconds() }, "%.2f")
	row("DropMonthsBefore, first month (s)", func(r result) float64 { return r.dropMonth.Seconds() }, "%.2f")

	row("generation (s)", func(r result) float64 { return r.generated.Seconds() }, "%.0f")
	last := rs[len(rs)-1]
	fmt.Fprintf(&b, "\nmonth files of the %s-event store (MiB):", label(last.events))
	for mo, s := range last.monthSizes {
		fmt.Fprintf(&b, " %s %.1f", monthStart(mo).Format("2006-01"), float64(s)/(1<<20))
	}
	for _, r := range rs {
		if r.retentionErr != "" {
			fmt.Fprintf(&b, "\nretention of the %s-event store failed: %s", label(r.events), r.retentionErr)
		}
	}
	fmt.Fprintf(&b, "\n%d payloads dropped by ApplyRetention in the %s-event store\n", last.dropped, label(last.events))
	return b.String()
}
