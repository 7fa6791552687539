package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// rolloverArgs are the arguments of the rollover-append child.
type rolloverArgs struct {
	Dir    string
	N      int // the child's own session is own-N
	Switch int // appends before its clock crosses into December
	Total  int // appends in all; 0: until killed
	// Reconcile makes the child save reconciliations of provider p-N
	// instead of appending events, printing "ack ID p-N UPSTREAM" with
	// the upstream amount in nano-dollars.
	Reconcile bool
}

var _ = proc.Role("rollover-append", rolloverAppendChild)

// rolloverAppendChild appends through a MonthlyRollover whose clock reads
// 30 November 23:59 UTC for its first Switch appends and 1 December 00:00
// UTC after, alternately to the shared session and to own-N, printing
// "ack ID SESSION PAYLOAD" for each acknowledged append.
func rolloverAppendChild() int {
	var a rolloverArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	var i atomic.Int64
	clock := func() time.Time {
		if int(i.Load()) < a.Switch {
			return utc(2026, 11, 30, 23, 59)
		}
		return utc(2026, 12, 1, 0, 0)
	}
	m, err := host.NewMonthlyRolloverWithConfig(a.Dir, host.NewConfig().WithKEKSource(keyring.RawKEK(rolloverKEK)).WithClock(clock))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	for ; a.Total == 0 || int(i.Load()) < a.Total; i.Add(1) {
		n := int(i.Load())
		if a.Reconcile {
			provider, up := fmt.Sprint("p-", a.N), abi.NanoUSD(n+1)
			id, err := m.SaveReconciliation(context.Background(), host.Reconciliation{
				Provider: provider, PeriodStart: utc(2026, 11, 1, 0, 0), PeriodEnd: utc(2026, 12, 1, 0, 0),
				UpstreamNanos: up, LocalNanos: 1,
			})
			if err != nil {
				proc.Fail("save reconciliation %d: %v", n, err)
			}
			os.Stdout.WriteString(fmt.Sprintf("ack %d %s %d\n", id, provider, up))
			continue
		}
		sess := abi.SessionID("shared")
		if n%2 == 1 {
			sess = abi.SessionID(fmt.Sprint("own-", a.N))
		}
		payload := fmt.Sprintf(`{"pid":%d,"i":%d}`, os.Getpid(), n)
		id, err := m.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: n, Kind: abi.KindAssistantMessage, Payload: json.RawMessage(payload)})
		if err != nil {
			proc.Fail("append %d: %v", n, err)
		}
		os.Stdout.WriteString(fmt.Sprintf("ack %d %s %s\n", id, sess, payload))
	}
	if err := m.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
}

// startRolloverChildren starts one child per args entry and collects
// their acknowledged appends until they exit (or are killed).
func startRolloverChildren(t *testing.T, args []rolloverArgs) (procs []*proc.Proc, wait func() []crashAck) {
	t.Helper()
	cacheDir := childCacheDir(t)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var acks []crashAck
	for _, a := range args {
		p := proc.Start(t, proc.Spec{Role: "rollover-append", Args: a, Env: childEnv(cacheDir)})
		procs = append(procs, p)
		wg.Go(func() {
			readAcks(p.Stdout(), func(ack crashAck, line string, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("child %d: bad output %q", a.N, line)
					return
				}
				acks = append(acks, ack)
			})
		})
	}
	return procs, func() []crashAck {
		wg.Wait()
		return acks
	}
}

// checkMonths opens every month file of dir on its own and checks that
// each acknowledged event is in exactly one month with its payload, that
// every ID of a month is above every ID of the months before it, and that
// every month but the newest is sealed. It returns how many acknowledged
// events each month holds.
func checkMonths(t *testing.T, dir string, acks []crashAck) []int {
	t.Helper()
	ctx := context.Background()
	m := newRollover(t, dir, host.NewConfig().WithKEKSource(keyring.RawKEK(rolloverKEK)).WithClock(func() time.Time { return utc(2026, 11, 1, 0, 0) }))
	paths := mustList(t, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	sessions := map[abi.SessionID]bool{"shared": true}
	for _, a := range acks {
		sessions[a.sess] = true
	}
	where := map[uint64][]int{}
	payload := map[uint64]string{}
	perMonth := make([]int, len(paths))
	var prevMax uint64
	for i, p := range paths {
		s, err := host.OpenWithKEK(p, rolloverKEK)
		if err != nil {
			t.Fatal(err)
		}
		var lo, hi uint64
		for sess := range sessions {
			evs, err := s.EventsSince(ctx, sess, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				where[e.ID] = append(where[e.ID], i)
				payload[e.ID] = string(e.Payload)
				if lo == 0 || e.ID < lo {
					lo = e.ID
				}
				hi = max(hi, e.ID)
			}
		}
		if lo != 0 && lo <= prevMax {
			t.Errorf("month %s starts at ID %d, not above the previous months' %d", p, lo, prevMax)
		}
		prevMax = max(prevMax, hi)
		if i < len(paths)-1 {
			if _, err := s.Append(ctx, storeEvent("late", 0, abi.KindAssistantMessage, `{}`)); !errors.Is(err, host.ErrMonthSealed) {
				t.Errorf("month %s is not sealed: %v", p, err)
			}
		}
		s.Close()
	}
	checkDistinctAcks(t, acks)
	for _, a := range acks {
		w := where[a.id]
		if len(w) != 1 {
			t.Errorf("acknowledged event %d (%s) is in %d months", a.id, a.sess, len(w))
			continue
		}
		if payload[a.id] != a.payload {
			t.Errorf("event %d reads %s, acknowledged %s", a.id, payload[a.id], a.payload)
		}
		perMonth[w[0]]++
	}
	return perMonth
}

// TestRolloverProcesses runs two processes appending across the change of
// month, their clocks crossing it at different moments, while this
// process tails the shared session through its own MonthlyRollover: every
// acknowledged event lands in exactly one month, IDs keep increasing
// across the months, and the tailer sees each event once, in ID order.
func TestRolloverProcesses(t *testing.T) {
	proc.Skip(t)
	dir := t.TempDir()
	total := proc.Rounds(t, 400, 160)
	tailerRO := newRollover(t, dir, host.NewConfig().WithKEKSource(keyring.RawKEK(rolloverKEK)).WithClock(func() time.Time { return utc(2026, 11, 30, 12, 0) }))
	// Both children start in November; one crosses after a quarter of
	// its appends, the other after three quarters.
	procs, wait := startRolloverChildren(t, []rolloverArgs{
		{Dir: dir, N: 1, Switch: total / 4, Total: total},
		{Dir: dir, N: 2, Switch: 3 * total / 4, Total: total},
	})
	var seen []abi.EventEnvelope
	var since uint64
	poll := func() {
		evs, err := tailerRO.EventsSince(context.Background(), "shared", since, 0)
		if err != nil {
			t.Fatalf("tailer: %v", err)
		}
		for _, e := range evs {
			if e.ID <= since {
				t.Fatalf("tailer: ID %d after %d", e.ID, since)
			}
			since = e.ID
		}
		seen = append(seen, evs...)
	}
	done := make(chan struct{})
	var acks []crashAck
	go func() { acks = wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(2 * time.Millisecond):
		}
		poll()
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	poll()
	if len(acks) != 2*total {
		t.Fatalf("%d acknowledged appends, want %d", len(acks), 2*total)
	}
	perMonth := checkMonths(t, dir, acks)
	t.Logf("%d appends from 2 processes, per month %v; the tailer read %d", len(acks), perMonth, len(seen))
	if len(perMonth) != 2 || perMonth[0] == 0 || perMonth[1] == 0 {
		t.Fatalf("events per month %v: want both months written", perMonth)
	}
	// The tailer read each shared event exactly once.
	got := map[uint64]string{}
	for _, e := range seen {
		if _, dup := got[e.ID]; dup {
			t.Fatalf("tailer read event %d twice", e.ID)
		}
		got[e.ID] = string(e.Payload)
	}
	for _, a := range acks {
		if a.sess != "shared" {
			continue
		}
		if got[a.id] != a.payload {
			t.Errorf("tailer: event %d read as %q, acknowledged %q", a.id, got[a.id], a.payload)
		}
		delete(got, a.id)
	}
	if len(got) != 0 {
		t.Errorf("tailer read %d events nobody acknowledged", len(got))
	}
}

// TestRolloverCrash kills two appending processes with SIGKILL at random
// moments around the change of month, round after round on one
// directory: every acknowledged event is in exactly one month, IDs
// increase across months, every month but the newest is sealed, and a
// new rollover appends above every ID.
func TestRolloverCrash(t *testing.T) {
	proc.Skip(t)
	crossed := 0
	rounds := proc.Loop(t, 12, 4, func(rng *mrand.Rand, round int) {
		dir := t.TempDir()
		procs, wait := startRolloverChildren(t, []rolloverArgs{
			{Dir: dir, N: 1, Switch: rng.IntN(40)},
			{Dir: dir, N: 2, Switch: rng.IntN(40)},
		})
		// Long enough for the children to open and append a few
		// dozen events, killed at a random moment.
		time.Sleep(time.Duration(150+rng.IntN(500)) * time.Millisecond)
		for _, p := range procs {
			p.Kill()
		}
		acks := wait()
		for _, p := range procs {
			p.Wait() // killed: its error is expected
		}
		if len(mustDir(t, dir)) == 0 {
			return // killed before creating anything
		}
		perMonth := checkMonths(t, dir, acks)
		// A new rollover in December appends above every ID.
		clock := newTestClock(utc(2026, 12, 1, 0, 5))
		m := newRollover(t, dir, kekConfig(clock))
		id := rollAppend(t, m, "after", 0, `{}`)
		for _, a := range acks {
			if a.id >= id {
				t.Fatalf("new event %d not above acknowledged %d", id, a.id)
			}
		}
		m.Close()
		if len(perMonth) == 2 && perMonth[0] > 0 && perMonth[1] > 0 {
			crossed++
		}
		if round == 0 || t.Failed() {
			t.Logf("round %d: %d acknowledged, per month %v", round, len(acks), perMonth)
		}
	})
	t.Logf("%d of %d rounds killed the children after both months were written", crossed, rounds)
}

func mustDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return slices.DeleteFunc(out, func(n string) bool { return n == "sessions-rollover.lock" })
}

var _ = proc.Role("rollover-drop", rolloverDropChild)

// rolloverDropChild drops the months of dir that ended before December
// 2026, with the clock on 5 December, and prints "dropped" when done.
func rolloverDropChild() int {
	var dir string
	if err := proc.Args(&dir); err != nil {
		proc.Fail("%v", err)
	}
	m, err := host.NewMonthlyRolloverWithConfig(dir, host.NewConfig().WithKEKSource(keyring.RawKEK(rolloverKEK)).
		WithClock(func() time.Time { return utc(2026, 12, 5, 0, 0) }))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	os.Stdout.WriteString("start\n")
	if _, err := m.DropMonthsBefore(context.Background(), utc(2026, 12, 1, 0, 0)); err != nil {
		proc.Fail("drop: %v", err)
	}
	os.Stdout.WriteString("dropped\n")
	return 0
}

// TestRolloverDropCrash kills a process dropping October and November at
// random moments (while it copies the pinned session forward, while it
// deletes files), then drops again: the pinned session keeps every event
// exactly once with its IDs, its attempts and its summary, every
// reconciliation is kept once with its ID and amounts, and no file of the
// dropped months is left.
func TestRolloverDropCrash(t *testing.T) {
	proc.Skip(t)
	ctx := context.Background()
	cacheDir := childCacheDir(t)
	killedMidway := 0
	rounds := proc.Loop(t, 10, 4, func(rng *mrand.Rand, round int) {
		dir := t.TempDir()
		clock := newTestClock(utc(2026, 10, 5, 0, 0))
		m, err := host.NewMonthlyRolloverWithConfig(dir, kekConfig(clock))
		if err != nil {
			t.Fatal(err)
		}
		pIDs, pAttempts := fillMonths(t, m, clock)
		before, err := m.ListPastSessions(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		recs := allReconciliations(t, m)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		p := proc.Start(t, proc.Spec{Role: "rollover-drop", Args: dir, Env: childEnv(cacheDir)})
		var out []string
		var wg sync.WaitGroup
		started := make(chan struct{})
		wg.Go(func() {
			p.Lines(func(l string) {
				if l == "start" {
					close(started)
				}
				out = append(out, l)
			})
		})
		// Killed once the drop has started: at once, or up to
		// 150 ms into it (the whole drop takes about that).
		select {
		case <-started:
		case <-time.After(30 * time.Second):
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		p.Kill()
		wg.Wait()
		p.Wait()
		if slices.Contains(out, "start") && !slices.Contains(out, "dropped") {
			killedMidway++
		}
		// A reader of whatever the kill left reads cleanly and
		// never creates a month file again.
		dbs, _ := filepath.Glob(filepath.Join(dir, "sessions-*.db"))
		r := newRollover(t, dir, kekConfig(newTestClock(utc(2026, 12, 5, 0, 0))))
		if _, err := r.AttemptsSince(ctx, 0, 0); err != nil {
			t.Fatalf("round %d: read after the kill: %v", round, err)
		}
		if _, err := r.ListPastSessions(ctx, 0); err != nil {
			t.Fatalf("round %d: read after the kill: %v", round, err)
		}
		r.Close()
		if again, _ := filepath.Glob(filepath.Join(dir, "sessions-*.db")); !slices.Equal(again, dbs) {
			t.Fatalf("round %d: month databases %v after a read, %v before", round, again, dbs)
		}
		m = newRollover(t, dir, kekConfig(newTestClock(utc(2026, 12, 5, 0, 0))))
		if _, err := m.DropMonthsBefore(ctx, utc(2026, 12, 1, 0, 0)); err != nil {
			t.Fatalf("round %d: drop after the kill: %v", round, err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "sessions-20261[01]*")); len(left) != 0 {
			t.Fatalf("round %d: files of dropped months left: %v", round, left)
		}
		evs, err := m.EventsSince(ctx, "p", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]uint64, len(evs))
		for i, e := range evs {
			got[i] = e.ID
		}
		if !slices.Equal(got, pIDs) {
			t.Fatalf("round %d: pinned session reads %v, want %v", round, got, pIDs)
		}
		var attempts []int64
		for _, a := range mustAttempts(t, m, "p", 7) {
			attempts = append(attempts, a.ID)
		}
		if !slices.Equal(attempts, pAttempts) {
			t.Fatalf("round %d: attempts %v, want %v", round, attempts, pAttempts)
		}
		after, err := m.ListPastSessions(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if bp, ap := findPast(before, "p"), findPast(after, "p"); ap.Events != bp.Events || ap.ToolCalls != bp.ToolCalls || !ap.FirstSeen.Equal(bp.FirstSeen) {
			t.Fatalf("round %d: pinned summary %+v, was %+v", round, ap, bp)
		}
		if got := allReconciliations(t, m); !slices.EqualFunc(got, recs, sameReconciliation) {
			t.Fatalf("round %d: reconciliations %+v, were %+v", round, got, recs)
		}
		m.Close()
	})
	t.Logf("%d of %d rounds killed the drop after it started and before it finished", killedMidway, rounds)
}
