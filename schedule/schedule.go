// Package schedule runs a periodic job, such as a daily cost
// reconciliation, in every process of a harness that wants it, with one
// run per period among all of them.
//
// [Run] divides time into periods of [Options.Every], aligned to the Unix
// epoch (for [Daily]: UTC days, midnight to midnight). In each period it
// waits a random delay of up to [Options.Jitter] after the period starts,
// so that many installations do not all call a provider at the same
// moment, and then runs the job unless some process already ran it for
// that period. A process that starts in the middle of a period whose job
// has not run runs it as soon as its delay has passed. Periods that passed
// while no process ran are not caught up: only the current one runs, and
// the job is given its bounds ([Period]) to cover more if it wants to.
//
// Processes coordinate through two files: the lock file
// [Options.LockPath], held with an exclusive OS file lock (flock on Unix,
// LockFileEx on Windows) while a process checks and runs the job, and the
// stamp file LockPath+".last", which records the start of the last period
// whose job ran. A process that finds the lock taken waits
// [Options.Retry] and looks again; one that gets it reads the stamp and
// runs the job only if the stamp is older than the current period. The OS
// drops a lock when its process dies, so a crash leaves no stale lock;
// the job of a process killed while it ran has no stamp and runs again in
// the next process that looks. The stamp is replaced atomically (written
// to LockPath+".last.tmp", synced, renamed over it), so a crash leaves the
// old stamp or the new one. The files are created with mode 0600 in an
// existing directory and never deleted. Several Runs in one process on
// one LockPath exclude each other the same way. The files coordinate the
// processes of one machine (file locks on network file systems are not to
// be trusted), and periods come from each process's clock; a stamp ahead of a process's
// clock (left by a clock that ran ahead) is reported as ErrStampAhead and
// replaced, never left to stop the job.
//
// A job's error does not stop the schedule: it goes to [Options.OnError]
// as a [*JobError], and the period counts as run (the job retries inside
// itself if it wants to). Run returns only when its context ends (with the
// context's error) or its options are invalid ([ErrInvalidOptions]); it
// starts no goroutine, and the job runs on the caller's.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofastr/store/internal/filelock"
)

// Day is the period of [Daily].
const Day = 24 * time.Hour

// StampSuffix is appended to [Options.LockPath] to name the stamp file.
const StampSuffix = ".last"

// ErrInvalidOptions is returned (wrapped, saying which) by [Run] and
// [Daily] for a nil job or invalid [Options].
var ErrInvalidOptions = errors.New("schedule: invalid options")

// ErrStampAhead is reported to Options.OnError when the stamp file names a
// period that starts after the current one: a process whose clock ran
// ahead stamped it. Such a stamp is not trusted (it would otherwise stop
// the job until that date): the current period runs as if the stamp were
// missing, and its stamp replaces the one ahead.
var ErrStampAhead = errors.New("schedule: stamp file names a period after the current one (a clock ran ahead)")

// Period is the period a job runs for: [Start, End).
type Period struct {
	Start, End time.Time
}

// Job is the work run once per period. ctx is Run's context.
type Job func(ctx context.Context, p Period) error

// JobError is what [Options.OnError] receives when the job fails.
type JobError struct {
	Period Period
	Err    error
}

func (e *JobError) Error() string {
	return fmt.Sprintf("schedule: job of the period starting %s: %v", e.Period.Start.Format(time.RFC3339), e.Err)
}

func (e *JobError) Unwrap() error { return e.Err }

// Clock is the time source of [Run]: the current time and a channel that
// receives once a duration has passed. Tests substitute a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// realClock is the system clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configure [Run].
type Options struct {
	// Every is the length of a period; it must be positive. [Daily] sets
	// it to [Day].
	Every time.Duration

	// Jitter bounds the random delay after the start of a period before
	// a process tries to run the job: the delay is drawn uniformly from
	// [0, Jitter), once per period and process. It must be at least 0
	// and less than Every.
	Jitter time.Duration

	// LockPath names the lock file; the stamp file is LockPath +
	// [StampSuffix]. It must not be empty; every process that shares the
	// schedule gives the same path, in a directory that exists.
	LockPath string

	// Retry is how long a process waits before it looks again after
	// finding the lock taken or failing to use the files. Zero means
	// Every/4, at most one minute.
	Retry time.Duration

	// OnError receives the job's errors (as [*JobError]) and errors using
	// the lock and stamp files; none stops the schedule. It runs on
	// Run's goroutine. Nil logs them with the standard log package.
	OnError func(error)

	// Clock is the time source; nil is the system clock.
	Clock Clock

	// Rand returns a random integer in [0, n) for n > 0, to draw the
	// jitter; nil is math/rand/v2's Int64N.
	Rand func(n int64) int64
}

// Daily is [Run] with Every set to [Day]: periods are UTC days.
func Daily(ctx context.Context, job Job, opts Options) error {
	opts.Every = Day
	return Run(ctx, job, opts)
}

// Run runs job once per period of opts.Every, among every process and Run
// that share opts.LockPath (see the package documentation), until ctx
// ends; it then returns ctx's error. A job running then sees ctx end too;
// if it returns an error at that point, the period is not stamped, and
// runs again in the next process that looks. Invalid options return an
// error wrapping [ErrInvalidOptions] at once.
func Run(ctx context.Context, job Job, opts Options) error {
	r, err := newRunner(job, opts)
	if err != nil {
		return err
	}
	return r.loop(ctx)
}

// runner is one Run's state.
type runner struct {
	job   Job
	opts  Options
	stamp string // the stamp file's path

	// done is the start of the last period this Run saw run (by itself
	// or, through the stamp, by anyone): even if the stamp cannot be
	// written, this Run never runs a period twice.
	done time.Time
	// jitterFor and jitter are the period the jitter was drawn for, and
	// the jitter.
	jitterFor time.Time
	jitter    time.Duration
}

func newRunner(job Job, o Options) (*runner, error) {
	switch {
	case job == nil:
		return nil, fmt.Errorf("%w: nil job", ErrInvalidOptions)
	case o.Every <= 0:
		return nil, fmt.Errorf("%w: period %v is not positive", ErrInvalidOptions, o.Every)
	case o.Jitter < 0 || o.Jitter >= o.Every:
		return nil, fmt.Errorf("%w: jitter %v is not from 0 to less than the period %v", ErrInvalidOptions, o.Jitter, o.Every)
	case o.LockPath == "":
		return nil, fmt.Errorf("%w: empty lock path", ErrInvalidOptions)
	case o.Retry < 0:
		return nil, fmt.Errorf("%w: negative retry interval %v", ErrInvalidOptions, o.Retry)
	}
	if o.Retry == 0 {
		o.Retry = max(min(o.Every/4, time.Minute), time.Millisecond)
	}
	if o.OnError == nil {
		o.OnError = func(err error) { log.Print(err) }
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Int64N
	}
	return &runner{job: job, opts: o, stamp: o.LockPath + StampSuffix}, nil
}

// periodStart returns the start of the period t is in.
func (r *runner) periodStart(t time.Time) time.Time {
	n, every := t.UnixNano(), int64(r.opts.Every)
	q := n / every
	if n%every < 0 {
		q-- // floor, for times before 1970
	}
	return time.Unix(0, q*every).UTC()
}

// delay returns the jitter of the period starting at p, drawn once.
func (r *runner) delay(p time.Time) time.Duration {
	if !p.Equal(r.jitterFor) {
		r.jitterFor, r.jitter = p, 0
		if r.opts.Jitter > 0 {
			r.jitter = time.Duration(r.opts.Rand(int64(r.opts.Jitter)))
		}
	}
	return r.jitter
}

// loop is Run after validation.
func (r *runner) loop(ctx context.Context) error {
	clock := r.opts.Clock
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := clock.Now()
		cur := r.periodStart(now)
		// Unlocked, the stamp only decides how long to wait; whether to
		// run is decided again under the lock.
		if last, err := readStamp(r.stamp); err == nil && last.After(r.done) && !last.After(cur) {
			r.done = last
		}
		next := cur
		if !r.done.Before(cur) {
			next = cur.Add(r.opts.Every)
		}
		if d := next.Add(r.delay(next)).Sub(now); d > 0 {
			if err := r.sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		ran, err := r.try(ctx, cur)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			r.opts.OnError(err)
		}
		if !ran {
			if err := r.sleep(ctx, r.opts.Retry); err != nil {
				return err
			}
		}
	}
}

// sleep waits d, or until ctx ends (returning its error).
func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.opts.Clock.After(d):
		return nil
	}
}

// try takes the lock without waiting and, if the period starting at p
// has not run, runs the job for it and stamps it. It reports whether the
// period is now settled (run by this call or found run); false means the
// lock was taken or the files failed, and the caller retries.
func (r *runner) try(ctx context.Context, p time.Time) (settled bool, err error) {
	f, err := os.OpenFile(r.opts.LockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("schedule: open lock file: %w", err)
	}
	defer f.Close() // drops the lock
	ok, err := filelock.TryLock(f, true)
	if err != nil {
		return false, fmt.Errorf("schedule: lock %s: %w", r.opts.LockPath, err)
	}
	if !ok {
		return false, nil
	}
	last, err := readStamp(r.stamp)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// Unreadable or torn (a crash while it was written): the
		// period may not have run, so it runs; this Run still runs it
		// only once (r.done).
		r.opts.OnError(err)
	}
	if last.After(p) {
		// Stamped by a clock ahead of this one: reported, and the
		// period runs (see ErrStampAhead).
		r.opts.OnError(fmt.Errorf("%w: stamp %s, current period %s", ErrStampAhead,
			last.Format(time.RFC3339), p.Format(time.RFC3339)))
	} else if last.After(r.done) {
		r.done = last
	}
	if !r.done.Before(p) {
		return true, nil
	}
	period := Period{Start: p, End: p.Add(r.opts.Every)}
	jobErr := r.job(ctx, period)
	if jobErr != nil && ctx.Err() != nil {
		return false, nil // canceled: not stamped, the caller returns
	}
	r.done = p
	if err := writeStamp(r.stamp, p); err != nil {
		r.opts.OnError(err)
	}
	if jobErr != nil {
		return true, &JobError{Period: period, Err: jobErr}
	}
	return true, nil
}

// readStamp returns the period start recorded in the stamp file: Unix
// nanoseconds in decimal, then a newline. A missing file is the zero time
// with an error matching os.ErrNotExist; a malformed one (torn by a
// crash, or written by something else) is the zero time and an error.
func readStamp(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule: read stamp: %w", err)
	}
	s, ok := strings.CutSuffix(string(b), "\n")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil {
		return time.Time{}, fmt.Errorf("schedule: stamp file %s is malformed (%d bytes)", path, len(b))
	}
	return time.Unix(0, n).UTC(), nil
}

// writeStamp records p in the stamp file: it writes and syncs a
// temporary file beside it (path+".tmp") and renames it over the stamp,
// so that a crash at any point leaves the old stamp or the new one, never
// a torn or empty file. Callers hold the lock, so no other process writes
// either file meanwhile.
func writeStamp(path string, p time.Time) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("schedule: write stamp: %w", err)
	}
	_, err = f.Write([]byte(strconv.FormatInt(p.UnixNano(), 10) + "\n"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("schedule: write stamp: %w", err)
	}
	return nil
}

// syncDir makes a rename in dir durable where the OS allows it (not on
// Windows, where directories cannot be opened for sync; the rename is
// durable by the file system's journal there).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
