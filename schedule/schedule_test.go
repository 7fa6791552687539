package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/internal/filelock"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/schedule"
)

func init() { proc.Dispatch() }

// fakeClock's After advances its time by d and fires at once, so a Run
// on it goes through periods as fast as it can.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// run is one call of a job: when, and for which period.
type run struct {
	at time.Time
	p  schedule.Period
}

// recordRuns returns a job that records its runs on clock and cancels
// after n of them, and the list it records to.
func recordRuns(clock schedule.Clock, n int, cancel context.CancelFunc) (schedule.Job, *[]run) {
	var runs []run
	return func(ctx context.Context, p schedule.Period) error {
		runs = append(runs, run{clock.Now(), p})
		if len(runs) == n {
			cancel()
		}
		return nil
	}, &runs
}

func lockPath(t *testing.T) string { return filepath.Join(t.TempDir(), "job.lock") }

// T0 is mid-morning (UTC) of a day.
var t0 = time.Date(2026, 8, 1, 5, 0, 0, 0, time.UTC)

// TestDailyJitter: Daily runs once per UTC day, each run within Jitter
// of the day's start (the first, started mid-day, at once), days in
// order and none skipped; Rand's extremes hit both ends of the bound.
func TestDailyJitter(t *testing.T) {
	rng := proc.Rand(t, 0)
	const jitter = 2 * time.Hour
	for _, c := range []struct {
		name string
		rand func(n int64) int64
	}{
		{"random", rng.Int64N},
		{"zero", func(int64) int64 { return 0 }},
		{"largest", func(n int64) int64 { return n - 1 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			job, runs := recordRuns(clock, 30, cancel)
			err := schedule.Daily(ctx, job, schedule.Options{Jitter: jitter, LockPath: lockPath(t), Clock: clock, Rand: c.rand,
				OnError: func(err error) { t.Errorf("OnError(%v)", err) }})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Daily = %v, want context.Canceled", err)
			}
			day := t0.Truncate(schedule.Day)
			offsets := map[time.Duration]bool{}
			for i, r := range *runs {
				start := day.Add(time.Duration(i) * schedule.Day)
				if !r.p.Start.Equal(start) || !r.p.End.Equal(start.Add(schedule.Day)) {
					t.Fatalf("run %d for %v, want the day starting %v", i, r.p, start)
				}
				off := r.at.Sub(start)
				if i == 0 {
					if off != t0.Sub(day) {
						t.Errorf("first run %v into its day, want at once (%v)", off, t0.Sub(day))
					}
					continue
				}
				if off < 0 || off >= jitter {
					t.Errorf("run %d %v into its day, want [0, %v)", i, off, jitter)
				}
				switch c.name {
				case "zero":
					if off != 0 {
						t.Errorf("run %d %v into its day with no jitter drawn", i, off)
					}
				case "largest":
					if off != jitter-1 {
						t.Errorf("run %d %v into its day, want %v", i, off, jitter-1)
					}
				}
				offsets[off] = true
			}
			if c.name == "random" && len(offsets) < 10 {
				t.Errorf("%d distinct delays in 29 days: jitter not applied", len(offsets))
			}
		})
	}
}

// TestRunJobErrors: a failing job does not stop the schedule; each error
// reaches OnError as a JobError naming its period.
func TestRunJobErrors(t *testing.T) {
	clock := &fakeClock{now: t0}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errJob := errors.New("billing API down")
	var periods []schedule.Period
	job := func(ctx context.Context, p schedule.Period) error {
		periods = append(periods, p)
		if len(periods) == 6 {
			cancel()
		}
		if len(periods)%2 == 1 {
			return fmt.Errorf("attempt %d: %w", len(periods), errJob)
		}
		return nil
	}
	var reported []error
	err := schedule.Run(ctx, job, schedule.Options{Every: time.Hour, LockPath: lockPath(t), Clock: clock,
		OnError: func(err error) { reported = append(reported, err) }})
	if !errors.Is(err, context.Canceled) || len(periods) != 6 {
		t.Fatalf("Run = %v after %d runs, want context.Canceled after 6", err, len(periods))
	}
	if len(reported) != 3 {
		t.Fatalf("OnError got %v, want the 3 job errors", reported)
	}
	for i, e := range reported {
		var je *schedule.JobError
		if !errors.As(e, &je) || !errors.Is(e, errJob) || je.Period != periods[2*i] {
			t.Errorf("error %d = %v, want a JobError of period %v wrapping the job's", i, e, periods[2*i])
		}
	}
}

// TestRunStamp: a second Run on the same files does not rerun the period
// the first ran; a malformed stamp is reported and the period runs.
func TestRunStamp(t *testing.T) {
	path := lockPath(t)
	opts := schedule.Options{Every: time.Hour, LockPath: path, OnError: func(err error) { t.Errorf("OnError(%v)", err) }}
	firstPeriod := func() schedule.Period {
		clock := &fakeClock{now: t0}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		job, runs := recordRuns(clock, 1, cancel)
		o := opts
		o.Clock = clock
		if err := schedule.Run(ctx, job, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		return (*runs)[0].p
	}
	if p := firstPeriod(); !p.Start.Equal(t0) {
		t.Fatalf("first Run ran %v, want the period starting %v", p, t0)
	}
	if p := firstPeriod(); !p.Start.Equal(t0.Add(time.Hour)) {
		t.Fatalf("second Run ran %v, want the next period (%v): the stamp was not honoured", p, t0.Add(time.Hour))
	}
	if runtime.GOOS != "windows" {
		for _, f := range []string{path, path + schedule.StampSuffix} {
			if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, %v; want mode 0600", f, fi.Mode(), err)
			}
		}
	}
	if err := os.WriteFile(path+schedule.StampSuffix, []byte("17000"), 0o600); err != nil {
		t.Fatal(err)
	}
	var reported []error
	opts.OnError = func(err error) { reported = append(reported, err) }
	if p := firstPeriod(); !p.Start.Equal(t0) || len(reported) == 0 || !strings.Contains(reported[0].Error(), "malformed") {
		t.Fatalf("with a malformed stamp, Run ran %v and reported %v; want the period starting %v and the stamp reported", p, reported, t0)
	}
}

// TestRunStampAhead: a stamp from a clock that ran ahead neither stops
// the job nor is adopted: it is reported, the current period runs, and
// its stamp replaces the one ahead, so the next Run honours it.
func TestRunStampAhead(t *testing.T) {
	path := lockPath(t)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.WriteFile(path+schedule.StampSuffix, []byte(fmt.Sprintf("%d\n", future.UnixNano())), 0o600); err != nil {
		t.Fatal(err)
	}
	var reported []error
	runOnce := func() schedule.Period {
		clock := &fakeClock{now: t0}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		job, runs := recordRuns(clock, 1, cancel)
		o := schedule.Options{Every: time.Hour, LockPath: path, Clock: clock,
			OnError: func(err error) { reported = append(reported, err) }}
		if err := schedule.Run(ctx, job, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		return (*runs)[0].p
	}
	if p := runOnce(); !p.Start.Equal(t0) {
		t.Fatalf("with a stamp in 2099, Run ran %v; want the current period %v", p, t0)
	}
	if len(reported) != 1 || !errors.Is(reported[0], schedule.ErrStampAhead) {
		t.Fatalf("reported %v; want one ErrStampAhead", reported)
	}
	reported = nil
	if p := runOnce(); !p.Start.Equal(t0.Add(time.Hour)) || len(reported) != 0 {
		t.Fatalf("second Run ran %v and reported %v; want the next period and nothing: the stamp ahead was not replaced", p, reported)
	}
}

// TestRunRecheckUnderLock: a period that another Run finished after this
// one last read the stamp, but before it took the lock, does not run
// again. The other Run goes in this one's Rand, which is drawn between
// its look at the stamp and its try for the lock.
func TestRunRecheckUnderLock(t *testing.T) {
	path := lockPath(t)
	var ranBy []string
	record := func(who string, cancel context.CancelFunc) schedule.Job {
		return func(ctx context.Context, p schedule.Period) error {
			ranBy = append(ranBy, fmt.Sprint(who, " ", p.Start.Sub(t0)))
			cancel()
			return nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	other := false
	rand := func(n int64) int64 {
		if !other {
			other = true
			ctx2, cancel2 := context.WithCancel(context.Background())
			defer cancel2()
			schedule.Run(ctx2, record("other", cancel2), schedule.Options{Every: time.Hour, LockPath: path, Clock: &fakeClock{now: t0}})
		}
		return 0
	}
	err := schedule.Run(ctx, record("this", cancel), schedule.Options{Every: time.Hour, Jitter: 1, LockPath: path, Clock: &fakeClock{now: t0}, Rand: rand,
		OnError: func(err error) { t.Errorf("OnError(%v)", err) }})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if want := []string{"other 0s", "this 1h0m0s"}; !slices.Equal(ranBy, want) {
		t.Fatalf("runs %q, want %q", ranBy, want)
	}
}

// TestRunInvalidOptions: bad options fail at once with ErrInvalidOptions.
func TestRunInvalidOptions(t *testing.T) {
	job := func(context.Context, schedule.Period) error { t.Error("job ran"); return nil }
	path := lockPath(t)
	for _, c := range []struct {
		name string
		job  schedule.Job
		o    schedule.Options
	}{
		{"nil job", nil, schedule.Options{Every: time.Hour, LockPath: path}},
		{"zero period", job, schedule.Options{LockPath: path}},
		{"negative period", job, schedule.Options{Every: -time.Hour, LockPath: path}},
		{"negative jitter", job, schedule.Options{Every: time.Hour, Jitter: -1, LockPath: path}},
		{"jitter of a whole period", job, schedule.Options{Every: time.Hour, Jitter: time.Hour, LockPath: path}},
		{"no lock path", job, schedule.Options{Every: time.Hour}},
		{"negative retry", job, schedule.Options{Every: time.Hour, LockPath: path, Retry: -1}},
	} {
		if err := schedule.Run(context.Background(), c.job, c.o); !errors.Is(err, schedule.ErrInvalidOptions) {
			t.Errorf("%s: Run = %v, want ErrInvalidOptions", c.name, err)
		}
	}
	if err := schedule.Daily(context.Background(), job, schedule.Options{Jitter: schedule.Day, LockPath: path}); !errors.Is(err, schedule.ErrInvalidOptions) {
		t.Errorf("Daily with a day of jitter = %v, want ErrInvalidOptions", err)
	}
}

// waitGoroutines waits up to a second for the number of goroutines to
// fall to n, and fails t if it does not.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before Run:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunCancel: canceling the context ends Run promptly, while it waits
// and while the job runs, leaving no goroutine; a job canceled mid-run is
// not stamped, so the period runs again.
func TestRunCancel(t *testing.T) {
	path := lockPath(t)
	before := runtime.NumGoroutine()

	// While waiting for the next day.
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- schedule.Daily(ctx, func(context.Context, schedule.Period) error { ran <- struct{}{}; return nil },
			schedule.Options{LockPath: path, OnError: func(err error) { t.Errorf("OnError(%v)", err) }})
	}()
	<-ran // the current day, at once
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Daily = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Daily did not return after its context was canceled")
	}
	waitGoroutines(t, before)

	// While the job runs: not stamped.
	path2 := lockPath(t)
	ctx, cancel = context.WithCancel(context.Background())
	started := make(chan schedule.Period, 1)
	go func() {
		done <- schedule.Run(ctx, func(ctx context.Context, p schedule.Period) error {
			started <- p
			<-ctx.Done()
			return ctx.Err()
		}, schedule.Options{Every: time.Hour, LockPath: path2, OnError: func(err error) { t.Errorf("OnError(%v)", err) }})
	}()
	p := <-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	waitGoroutines(t, before)
	if _, err := os.Stat(path2 + schedule.StampSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a canceled job's period was stamped (%v)", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	err := schedule.Run(ctx, func(ctx context.Context, q schedule.Period) error {
		if q != p {
			t.Errorf("after a canceled run of %v, the next Run ran %v", p, q)
		}
		cancel()
		return nil
	}, schedule.Options{Every: time.Hour, LockPath: path2})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestRunLockBusy: while another holder has the lock file, the job does
// not run; once it lets go, it does.
func TestRunLockBusy(t *testing.T) {
	path := lockPath(t)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ok, err := filelock.TryLock(f, true); errors.Is(err, filelock.ErrUnsupported) {
		t.Skipf("skipping: %v", err)
	} else if !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan time.Time, 1)
	done := make(chan error, 1)
	go func() {
		done <- schedule.Run(ctx, func(ctx context.Context, p schedule.Period) error { ran <- time.Now(); cancel(); return nil },
			schedule.Options{Every: time.Hour, Retry: 5 * time.Millisecond, LockPath: path})
	}()
	select {
	case <-ran:
		t.Fatal("the job ran while the lock was held")
	case <-time.After(200 * time.Millisecond):
	}
	released := time.Now()
	f.Close()
	select {
	case at := <-ran:
		t.Logf("ran %v after the lock was released", at.Sub(released))
	case <-time.After(5 * time.Second):
		t.Fatal("the job did not run after the lock was released")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// checkOncePerPeriod fails t unless no period start repeats in starts
// and at least min periods ran.
func checkOncePerPeriod(t *testing.T, starts []int64, min int) {
	t.Helper()
	seen := map[int64]int{}
	for _, s := range starts {
		seen[s]++
	}
	for s, n := range seen {
		if n > 1 {
			t.Errorf("period starting %v ran %d times", time.Unix(0, s).UTC(), n)
		}
	}
	if len(seen) < min {
		t.Errorf("%d periods ran, want at least %d: the test proved little", len(seen), min)
	}
}

// TestRunTwoInOneProcess: two Runs in one process on one lock path run
// the job once per period between them.
func TestRunTwoInOneProcess(t *testing.T) {
	path := lockPath(t)
	const every = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 15*every)
	defer cancel()
	var mu sync.Mutex
	var starts []int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			err := schedule.Run(ctx, func(ctx context.Context, p schedule.Period) error {
				mu.Lock()
				starts = append(starts, p.Start.UnixNano())
				mu.Unlock()
				time.Sleep(every / 5) // hold the lock while the other looks
				return nil
			}, schedule.Options{Every: every, Jitter: every / 10, Retry: time.Millisecond, LockPath: path,
				OnError: func(err error) { t.Errorf("OnError(%v)", err) }})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Run = %v", err)
			}
		})
	}
	wg.Wait()
	checkOncePerPeriod(t, starts, 7)
}

// schedArgs are the arguments of the schedule child.
type schedArgs struct {
	Path     string
	Every    time.Duration
	Jitter   time.Duration
	Duration time.Duration
}

var _ = proc.Role("schedule-run", func() int {
	var a schedArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	proc.ExitWithParent(a.Duration + time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), a.Duration)
	defer cancel()
	err := schedule.Run(ctx, func(ctx context.Context, p schedule.Period) error {
		fmt.Printf("run %d\n", p.Start.UnixNano())
		time.Sleep(a.Every / 5) // hold the lock while the other looks
		return nil
	}, schedule.Options{Every: a.Every, Jitter: a.Jitter, Retry: time.Millisecond, LockPath: a.Path,
		OnError: func(err error) { proc.Fail("OnError(%v)", err) }})
	if !errors.Is(err, context.DeadlineExceeded) {
		proc.Fail("Run = %v", err)
	}
	return 0
})

// TestRunProcesses: two processes on one schedule run the job once per
// period between them, not once each.
func TestRunProcesses(t *testing.T) {
	proc.Skip(t)
	path := lockPath(t)
	const every = 150 * time.Millisecond
	periods := proc.Rounds(t, 40, 15)
	args := schedArgs{Path: path, Every: every, Jitter: every / 10, Duration: time.Duration(periods) * every}
	var mu sync.Mutex
	var starts []int64
	perChild := make([]int, 2)
	var wg sync.WaitGroup
	var procs []*proc.Proc
	for c := range 2 {
		p := proc.Start(t, proc.Spec{Role: "schedule-run", Args: args})
		procs = append(procs, p)
		wg.Go(func() {
			p.Lines(func(line string) {
				n, err := strconv.ParseInt(strings.TrimPrefix(line, "run "), 10, 64)
				if err != nil {
					t.Errorf("child %d: bad line %q", c, line)
					return
				}
				mu.Lock()
				starts = append(starts, n)
				perChild[c]++
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d runs over %d periods (per child %v)", len(starts), periods, perChild)
	// Children start up to a few hundred milliseconds apart; most
	// periods still see both.
	checkOncePerPeriod(t, starts, periods/2)
}

// crashArgs are the arguments of the schedule-crash child.
type crashArgs struct {
	Path  string
	Sleep time.Duration // the job's length
}

var _ = proc.Role("schedule-crash", func() int {
	var a crashArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	proc.ExitWithParent(time.Minute)
	err := schedule.Daily(context.Background(), func(ctx context.Context, p schedule.Period) error {
		fmt.Printf("start %d\n", p.Start.UnixNano())
		time.Sleep(a.Sleep)
		fmt.Printf("done %d\n", p.Start.UnixNano())
		return nil
	}, schedule.Options{LockPath: a.Path, OnError: func(err error) { proc.Fail("OnError(%v)", err) }})
	proc.Fail("Daily returned %v", err)
	return 1
})

// TestRunCrash kills a process with SIGKILL while it runs the day's job
// (or just after): its lock is not left behind, and the next Run runs the
// same day again unless the job had finished.
func TestRunCrash(t *testing.T) {
	proc.Skip(t)
	proc.Loop(t, 20, 5, func(rng *rand.Rand, i int) {
		path := filepath.Join(t.TempDir(), fmt.Sprint("crash", i, ".lock"))
		jobLen := time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
		p := proc.Start(t, proc.Spec{Role: "schedule-crash", Args: crashArgs{Path: path, Sleep: jobLen}})
		var started, done int64
		lines := make(chan string)
		go func() { p.Lines(func(l string) { lines <- l }); close(lines) }()
		l := <-lines
		if _, err := fmt.Sscanf(l, "start %d", &started); err != nil {
			t.Fatalf("child: %q, %v\n%s", l, err, p.Stderr())
		}
		p.KillAfter(time.Duration(rng.Int64N(int64(30 * time.Millisecond))))
		for l := range lines {
			fmt.Sscanf(l, "done %d", &done)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}

		// The next Run, on a clock that jumps ahead when it waits: it
		// runs the child's day again, or (the job done) the next one.
		clock := &fakeClock{now: time.Now()}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ran int64
		err := schedule.Daily(ctx, func(ctx context.Context, q schedule.Period) error {
			ran = q.Start.UnixNano()
			cancel()
			return nil
		}, schedule.Options{LockPath: path, Clock: clock, OnError: func(err error) { t.Errorf("OnError(%v)", err) }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Daily = %v", err)
		}
		next := started + int64(schedule.Day)
		switch {
		case ran == started:
		case ran == next && (done == started || clock.Now().UnixNano() >= next):
		default:
			t.Fatalf("child started the day %d (done: %v), killed; the next Run ran the day %d", started, done == started, ran)
		}
		t.Logf("round %d: job of %v, done %v, next Run reran it: %v", i, jobLen, done == started, ran == started)
	})
}
