package soak_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing/anthropic"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// envDuration sets the soak's length (a Go duration, such as 5m); make
// soak sets it. Without it the test runs a short soak.
const envDuration = "GOFASTR_SOAK_DURATION"

// Tolerances of the resource checks, and why. Each process samples
// itself every second while it works (after a GC: the Go heap is the live
// heap); the samples after the warm-up (the first quarter of the run) are
// judged by their trend, a least-squares line, whose rise over the judged
// span is the growth:
//   - Go heap: at most heapGrowth. The heap of a process holds its open
//     months' Go state (one to three months open, as months start and
//     are dropped), which moves it by a few hundred KiB; SQLite's page
//     caches live in the WebAssembly memory, outside the Go heap. A leak
//     of L bytes per operation grows it by L × the operations of the
//     span: the run prints, per process, the smallest L that fails
//     (heapGrowth over the operations of its judged span).
//   - RSS: at most rssGrowth: SQLite's page cache of each open month fills
//     up to its limit as the month grows (a few MiB per connection).
//   - open files: the last sample at most fdSlack above the first judged
//     one; a process may have one more month open at the moment of the
//     sample (the new month just created while the oldest is not yet
//     dropped): its database, WAL, WAL index, DEK header and lock files.
//   - goroutines: at most goroutineSlack more (the runtime's and
//     net/http's idle workers come and go).
//   - directory size (database, WAL and header files; the parent samples
//     it every 100 ms): the largest size of the last quarter of the run is
//     at most sizeFactor × the largest of the second quarter plus
//     sizeSlack. With retention the size is flat once the first months
//     are dropped (a sawtooth, a month's worth high); without it, it grows
//     with the writes, and the last quarter's maximum is about twice the
//     second quarter's (TestSoakChecksFail runs without retention to show
//     that the check fails then).
const (
	heapGrowth     = 4 << 20
	rssGrowth      = 24 << 20
	fdSlack        = 8
	goroutineSlack = 4
	sizeFactor     = 1.5
	sizeSlack      = 1 << 20
	sampleEvery    = time.Second
)

// plan is one soak run's parameters.
type plan struct {
	duration, warmUp time.Duration
	speed            float64 // simulated seconds per real second
	pace             time.Duration
	ttl, age, hor    time.Duration
	appenders        int  // of each kind
	leak             int  // test-only: bytes retained per operation (args.Leak)
	noRetention      bool // test-only: retention drops nothing
}

const day = 24 * time.Hour

func soakPlan(t *testing.T) plan {
	p := plan{
		duration:  12 * time.Second,
		speed:     float64(16 * day / time.Second), // 16 simulated days a second: 6 months in 12 s
		pace:      5 * time.Millisecond,
		ttl:       3 * day,
		age:       10 * day,
		hor:       20 * day,
		appenders: 1,
	}
	if testing.Short() {
		p.duration = 8 * time.Second
		p.speed = float64(24 * day / time.Second)
	}
	if v := os.Getenv(envDuration); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Second {
			t.Fatalf("%s=%q: want a duration of 5s or more", envDuration, v)
		}
		p.duration = d
		p.speed = float64(3 * day / time.Second) // 3 simulated days a second
	}
	p.warmUp = p.duration / 4
	return p
}

// fakeBilling serves Anthropic's cost report for whichever day is asked:
// a fixed amount per day.
func fakeBilling(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		fmt.Fprintf(w, `{"data": [{"starting_at": %q, "ending_at": %q, "results": [{"amount": "1234.5", "currency": "USD"}]}], "has_more": false, "next_page": null}`,
			q.Get("starting_at"), q.Get("ending_at"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// child is a started child and what it printed.
type child struct {
	name  string
	p     *proc.Proc
	lines []string
	done  chan struct{}
}

// dirSize returns the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestSoak runs the soak: three appenders (events, tool calls, attempts),
// a retention process that also syncs the cost ledger, a reconciler and a
// tailing reader, as separate processes on one rollover directory with an
// accelerated clock, and checks resources, sizes and every acknowledged
// write at the end.
func TestSoak(t *testing.T) {
	proc.Skip(t)
	p := soakPlan(t)
	for _, problem := range runSoak(t, p, true) {
		t.Error(problem)
	}
}

// TestSoakChecksFail runs a short soak with a leak of leakPerOp bytes of
// Go heap per operation injected in every process and without retention,
// and checks that the resource checks catch both: the heap of each
// appender, and the directory's size.
func TestSoakChecksFail(t *testing.T) {
	proc.Skip(t)
	if os.Getenv(envDuration) != "" {
		t.Skipf("skipping: %s is set (make soak runs TestSoak alone)", envDuration)
	}
	const leakPerOp = 8 << 10
	p := soakPlan(t)
	p.leak, p.noRetention = leakPerOp, true
	problems := runSoak(t, p, false)
	for _, want := range []string{"events/0: Go heap", "tools/0: Go heap", "attempts/0: Go heap", "directory grew"} {
		found := false
		for _, pr := range problems {
			found = found || strings.HasPrefix(pr, want)
		}
		if !found {
			t.Errorf("with %d bytes leaked per operation and no retention, no %q problem reported; got %q", leakPerOp, want, problems)
		}
	}
	t.Logf("reported, as they should be: %q", problems)
}

// runSoak runs the soak of plan p and returns the problems its checks
// found; with checkAll it also checks every acknowledged write, the
// ledger and the files (any failure there fails t).
func runSoak(t *testing.T, p plan, checkAll bool) (problems []string) {
	t.Helper()
	problemf := func(format string, v ...any) { problems = append(problems, fmt.Sprintf(format, v...)) }
	root := t.TempDir()
	dir := filepath.Join(root, "sessions")
	ledgerDir := filepath.Join(root, "ledger")
	if err := os.MkdirAll(ledgerDir, 0o700); err != nil {
		t.Fatal(err)
	}
	marker := storefiles.NewMarker()
	srv := fakeBilling(t)
	simStart := time.Date(2025, 1, 20, 0, 0, 0, 0, time.UTC)
	realStart := time.Now().Add(time.Second) // the children start meanwhile
	base := args{
		Dir: dir, Ledger: filepath.Join(ledgerDir, "costs.db"), URL: srv.URL, Marker: string(marker),
		RealStart: realStart.UnixNano(), SimStart: simStart, Speed: p.speed,
		Duration: p.duration + time.Second, WarmUp: p.warmUp + time.Second, Every: sampleEvery,
		TTL: p.ttl, Age: p.age, Horizon: p.hor, Pace: p.pace,
		Leak: p.leak, NoRetention: p.noRetention,
	}
	t.Logf("soak: %v, %.1f simulated days a second, from %s; retention: payloads %v, rows %v, months %v (simulated)",
		p.duration, p.speed/float64(day/time.Second), simStart.Format(time.DateOnly), p.ttl, p.age, p.hor)
	if p.leak > 0 || p.noRetention {
		t.Logf("injected: %d bytes of Go heap retained per operation; retention off: %v", p.leak, p.noRetention)
	}
	// The directory exists before the children race to create months.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}

	var children []*child
	start := func(role string, index int) {
		a := base
		a.Index = index
		c := &child{name: fmt.Sprintf("%s/%d", strings.TrimPrefix(role, "soak-"), index), done: make(chan struct{})}
		c.p = proc.Start(t, proc.Spec{Role: role, Args: a})
		go func() {
			defer close(c.done)
			c.p.Lines(func(l string) { c.lines = append(c.lines, l) })
		}()
		children = append(children, c)
	}
	for i := range p.appenders {
		start(roleEvents, i)
		start(roleTools, i)
		start(roleAttempts, i)
	}
	start(roleRetention, 0)
	start(roleReconcile, 0)
	start(roleReader, 0)

	// The directory's size over time, until every child has ended.
	type point struct {
		at   time.Duration
		size int64
	}
	var sizes []point
	var sizeMu sync.Mutex
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				s := dirSize(dir)
				sizeMu.Lock()
				sizes = append(sizes, point{time.Since(realStart), s})
				sizeMu.Unlock()
			}
		}
	}()
	failed := false
	for _, c := range children {
		<-c.done
		if err := c.p.Wait(); err != nil {
			t.Errorf("%s: %v", c.name, err)
			failed = true
		}
	}
	close(stop)
	<-sampled
	if failed {
		t.FailNow()
	}
	endSim := base.clock()()

	// Resources: the table, then the checks.
	mib := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(n)/(1<<20))
	}
	num := func(n int) string {
		if n < 0 {
			return "-"
		}
		return strconv.Itoa(n)
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "| process | samples | operations | RSS MiB first → last (trend) | Go heap MiB first → last (trend) | leak that fails, bytes/op | open files first → last | goroutines first → last |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	noProc := false
	for _, c := range children {
		var judged []sample
		for _, l := range c.lines {
			if rest, ok := strings.CutPrefix(l, "sample "); ok {
				var s sample
				if err := json.Unmarshal([]byte(rest), &s); err != nil {
					t.Fatalf("%s: %q: %v", c.name, l, err)
				}
				if s.At >= base.WarmUp {
					judged = append(judged, s)
				}
			}
		}
		if len(judged) < 3 {
			problemf("%s: %d samples after the warm-up, want 3 or more", c.name, len(judged))
			continue
		}
		s0, s1 := judged[0], judged[len(judged)-1]
		rise := func(v func(sample) int64) int64 { return trendRise(judged, v) }
		heapRise := rise(func(s sample) int64 { return s.Heap })
		rssRise := rise(func(s sample) int64 { return s.RSS })
		opsSpan := s1.Ops - s0.Ops
		threshold := "-"
		if opsSpan > 0 {
			threshold = strconv.FormatInt(heapGrowth/opsSpan, 10)
		}
		fmt.Fprintf(&tab, "| %s | %d | %d | %s → %s (%+.1f) | %s → %s (%+.1f) | %s | %s → %s | %d → %d |\n", c.name, len(judged), opsSpan,
			mib(s0.RSS), mib(s1.RSS), float64(rssRise)/(1<<20), mib(s0.Heap), mib(s1.Heap), float64(heapRise)/(1<<20), threshold,
			num(s0.FDs), num(s1.FDs), s0.Goroutines, s1.Goroutines)
		if s0.RSS < 0 || s0.FDs < 0 {
			noProc = true
		} else {
			if rssRise > rssGrowth {
				problemf("%s: RSS grew by %s MiB over the judged span (trend; limit %s), from %s to %s", c.name, mib(rssRise), mib(rssGrowth), mib(s0.RSS), mib(s1.RSS))
			}
			if s1.FDs > s0.FDs+fdSlack {
				problemf("%s: open files grew from %d to %d", c.name, s0.FDs, s1.FDs)
			}
		}
		if heapRise > heapGrowth {
			problemf("%s: Go heap grew by %s MiB over the judged span (trend; limit %s), from %s to %s, over %d operations", c.name, mib(heapRise), mib(heapGrowth), mib(s0.Heap), mib(s1.Heap), opsSpan)
		}
		if s1.Goroutines > s0.Goroutines+goroutineSlack {
			problemf("%s: goroutines grew from %d to %d", c.name, s0.Goroutines, s1.Goroutines)
		}
	}
	if noProc {
		t.Logf("RSS and open files not sampled: no /proc/self on %s", runtime.GOOS)
	}

	// The directory's size: bounded by retention.
	quarter := base.Duration / 4
	var maxQ2, maxQ4, last int64
	for _, pt := range sizes {
		switch {
		case pt.at >= quarter && pt.at < 2*quarter:
			maxQ2 = max(maxQ2, pt.size)
		case pt.at >= 3*quarter:
			maxQ4 = max(maxQ4, pt.size)
		}
		last = pt.size
	}
	fmt.Fprintf(&tab, "\ndirectory size: max %s MiB in the second quarter, %s MiB in the last, %s MiB at the end (%d samples); ledger %s MiB\n",
		mib(maxQ2), mib(maxQ4), mib(last), len(sizes), mib(dirSize(ledgerDir)))
	if lim := int64(float64(maxQ2)*sizeFactor) + sizeSlack; maxQ4 > lim {
		problemf("directory grew: max %s MiB in the last quarter, %s in the second (limit %s)", mib(maxQ4), mib(maxQ2), mib(lim))
	}

	if checkAll {
		// Every acknowledged write.
		counts := checkWrites(t, p, base, children, endSim, marker)
		fmt.Fprintf(&tab, "%s\n", counts)
	}
	t.Logf("soak results (load: %s):\n%s", loadAvg(), tab.String())
	return problems
}

// trendRise returns the rise of the least-squares line of v over the
// samples' times, from the first sample to the last.
func trendRise(ss []sample, v func(sample) int64) int64 {
	n := float64(len(ss))
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := s.At.Seconds(), float64(v(s))
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	slope := (n*sxy - sx*sy) / d
	return int64(slope * (ss[len(ss)-1].At - ss[0].At).Seconds())
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

// record is an acknowledged write of a child.
type record struct {
	kind, sess, key string // key: turn, call ID or attempt ID
	ts              time.Time
	cost            int64
}

func parseRecords(t *testing.T, children []*child) (recs []record, lastHorizon time.Time, rounds, dropped [3]int64, read int64) {
	t.Helper()
	atoi := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("bad number %q", s)
		}
		return n
	}
	for _, c := range children {
		for _, l := range c.lines {
			f := strings.Fields(l)
			switch f[0] {
			case "event":
				recs = append(recs, record{kind: "event", sess: f[1], key: f[2] + " " + f[3], ts: time.Unix(0, atoi(f[4])).UTC()})
			case "intent", "outcome":
				recs = append(recs, record{kind: f[0], sess: f[1], key: f[2], ts: time.Unix(0, atoi(f[3])).UTC()})
			case "attempt":
				recs = append(recs, record{kind: "attempt", key: f[1], ts: time.Unix(0, atoi(f[2])).UTC(), cost: atoi(f[3]), sess: f[4]})
			case "horizon":
				lastHorizon = time.Unix(0, atoi(f[1])).UTC()
			case "round":
				rounds[0]++
				for i := range 3 {
					dropped[i] += atoi(f[1+i])
				}
			case "read":
				read += atoi(f[1])
			}
		}
	}
	return recs, lastHorizon, rounds, dropped, read
}

// checkWrites reopens the directory and checks every acknowledged write:
// a record younger than the metadata age at the end is present; an event
// younger than the payload TTL has its payload; older ones are present
// or dropped. It checks the ledger's total against every acknowledged
// attempt, runs Verify on every month and the ledger, scans every file
// for the marker, and returns a summary line.
func checkWrites(t *testing.T, p plan, a args, children []*child, endSim time.Time, marker []byte) string {
	t.Helper()
	ctx := context.Background()
	recs, horizon, rounds, dropped, read := parseRecords(t, children)
	cfg := a.config()
	fixed := cfg.WithClock(func() time.Time { return endSim })
	m, err := host.NewMonthlyRolloverWithConfig(a.Dir, fixed)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rowCut, payloadCut := endSim.Add(-p.age), endSim.Add(-p.ttl)

	events := map[string]map[string]abi.EventEnvelope{} // session → "turn id" → event
	sessionEvents := func(sess string) map[string]abi.EventEnvelope {
		if e, ok := events[sess]; ok {
			return e
		}
		evs, err := m.EventsSince(ctx, abi.SessionID(sess), 0, 0)
		if err != nil {
			t.Fatalf("events of %s: %v", sess, err)
		}
		e := map[string]abi.EventEnvelope{}
		for _, ev := range evs {
			e[fmt.Sprintf("%d %d", ev.Turn, ev.ID)] = ev
		}
		events[sess] = e
		return e
	}
	intents := map[string]map[string]bool{}
	outcomes := map[string]map[string]bool{}
	toolCalls := func(sess string) (map[string]bool, map[string]bool) {
		if _, ok := intents[sess]; !ok {
			in, err := m.ToolIntents(ctx, abi.SessionID(sess))
			if err != nil {
				t.Fatalf("intents of %s: %v", sess, err)
			}
			outs, err := m.ToolOutcomes(ctx, abi.SessionID(sess))
			if err != nil {
				t.Fatalf("outcomes of %s: %v", sess, err)
			}
			intents[sess], outcomes[sess] = map[string]bool{}, map[string]bool{}
			for _, x := range in {
				intents[sess][x.CallID] = true
			}
			for _, x := range outs {
				outcomes[sess][x.CallID] = true
			}
		}
		return intents[sess], outcomes[sess]
	}
	atts, err := m.AttemptsSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	attIDs := map[string]bool{}
	for _, x := range atts {
		attIDs[strconv.FormatInt(x.ID, 10)] = true
	}

	var acked, kept, gone, stripped, lost int
	var costs int64
	for _, r := range recs {
		acked++
		var present bool
		switch r.kind {
		case "event":
			ev, ok := sessionEvents(r.sess)[r.key]
			present = ok
			if ok {
				turn, _ := strconv.Atoi(strings.Fields(r.key)[0])
				switch {
				case ev.Payload == nil:
					stripped++
					if !r.ts.Before(payloadCut) {
						t.Errorf("event %s %s (ts %v) lost its payload; the last TTL cutoff is at most %v", r.sess, r.key, r.ts, payloadCut)
					}
				case string(ev.Payload) != string(eventPayload(a.Marker, abi.SessionID(r.sess), turn)):
					t.Errorf("event %s %s: payload %.80s…, not the one written", r.sess, r.key, ev.Payload)
				}
			}
		case "intent":
			in, _ := toolCalls(r.sess)
			present = in[r.key]
		case "outcome":
			_, out := toolCalls(r.sess)
			present = out[r.key]
		case "attempt":
			present = attIDs[r.key]
			costs += r.cost
		}
		switch {
		case present:
			kept++
		case r.ts.Before(rowCut):
			gone++
		default:
			lost++
			if lost <= 10 {
				t.Errorf("%s %s %s (at %v) is missing; retention drops rows before %v at the latest", r.kind, r.sess, r.key, r.ts, rowCut)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
	if acked == 0 {
		t.Fatal("no write acknowledged")
	}
	// Months that ended at the last horizon are gone.
	paths, err := m.ListArchives()
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no month file left")
	}
	for _, path := range paths[:len(paths)-1] {
		base := filepath.Base(path)
		mo, err := time.Parse("200601", strings.TrimSuffix(strings.TrimPrefix(base, "sessions-"), ".db"))
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if end := mo.AddDate(0, 1, 0); !horizon.IsZero() && !end.After(horizon) {
			t.Errorf("%s ended at %v, before the last horizon %v, and is still there", base, end, horizon)
		}
	}

	// The ledger has every attempt, once: sync what the last round left.
	l, err := host.OpenCostLedgerWithConfig(a.Ledger, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.SyncAttempts(ctx, "soak", m); err != nil {
		t.Fatal(err)
	}
	total, err := l.CostInPeriod(ctx, anthropic.Name, a.SimStart.Add(-day), endSim.Add(day))
	if err != nil {
		t.Fatal(err)
	}
	if int64(total) != costs {
		t.Errorf("ledger total %d nano-USD, acknowledged attempts cost %d", total, costs)
		bySession, err := l.CostBySessionNanos(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{}
		for _, r := range recs {
			if r.kind == "attempt" {
				want[r.sess] += r.cost
			}
		}
		for sess, w := range want {
			if got := int64(bySession[sess]); got != w {
				t.Errorf("session %s: ledger %d nano-USD, acknowledged %d", sess, got, w)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Every month and the ledger verify; no file holds the marker.
	for _, path := range append(paths, a.Ledger) {
		rep, err := host.Verify(ctx, path, a.config(), nil)
		if err != nil {
			t.Fatalf("verify %s: %v", path, err)
		}
		if !rep.OK() {
			t.Errorf("verify %s: %+v", path, rep)
		}
	}
	hits, scanned := storefiles.Scan(t, marker, a.Dir, filepath.Dir(a.Ledger))
	if len(hits) > 0 {
		t.Errorf("marker found in the files: %v", hits)
	}
	slices.Sort(scanned)
	return fmt.Sprintf("writes acknowledged %d: present %d (%d of them events whose payload retention dropped), dropped by retention %d, lost %d; "+
		"%d retention rounds dropped %d payloads, %d event rows and %d months; %d months left, all verified; %d files scanned for the marker: %d hits; reader read %d events; ledger total %d nano-USD = the acknowledged attempts'",
		acked, kept, stripped, gone, lost, rounds[0], dropped[0], dropped[1], dropped[2], len(paths), len(scanned), len(hits), read, total)
}
