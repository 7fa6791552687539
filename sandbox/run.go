package sandbox

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/gofastr/store/abi"
)

// Run defaults.
const (
	// DefaultDeadline is how long a run may take when its configuration
	// sets no deadline.
	DefaultDeadline = time.Minute
	// DefaultMaxOutput is the default cap on a run's standard output.
	DefaultMaxOutput = 1 << 20
	// DefaultMaxLog is the default cap on a run's log (the log host
	// function and standard error together).
	DefaultMaxLog = 1 << 20
)

// defaultClock is the wall-clock time a guest sees when its run sets no
// clock.
var defaultClock = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Source is what a guest reads: satisfied by *host.Store and
// *host.MonthlyRollover.
type Source interface {
	EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error)
	ListPastSessions(ctx context.Context, limit int) ([]abi.PastSession, error)
	OrphanIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error)
	AttemptsForTurn(ctx context.Context, sess string, turn int) ([]abi.ProviderAttempt, error)
}

// Sink is where a guest's appends go: satisfied by *host.Store and
// *host.MonthlyRollover.
type Sink interface {
	Append(ctx context.Context, env abi.EventEnvelope) (uint64, error)
}

// RunConfig is the configuration of one run: the capabilities granted to
// the guest and where its output goes. Its methods return modified
// copies. The zero value grants nothing: no source, no session, no
// writes; output and log are discarded; the defaults apply to memory,
// deadline, caps, clock and seed.
type RunConfig struct {
	source    Source
	sessions  map[abi.SessionID]bool
	all       bool
	sink      Sink
	memLimit  uint64
	deadline  time.Duration
	maxOutput int64
	maxLog    int64
	output    io.Writer
	log       io.Writer
	input     []byte
	clock     time.Time
	seed      uint64
	replay    abi.SessionID
}

// NewRunConfig returns a configuration that grants nothing.
func NewRunConfig() RunConfig { return RunConfig{} }

// WithSource sets the store the guest reads from (and replays from).
func (c RunConfig) WithSource(s Source) RunConfig {
	c.source = s
	return c
}

// WithSessions grants the guest these sessions, in addition to those
// already granted: it may read them, see them listed, replay them and,
// with WithWrite, append to them.
func (c RunConfig) WithSessions(ids ...abi.SessionID) RunConfig {
	m := make(map[abi.SessionID]bool, len(c.sessions)+len(ids))
	for id := range c.sessions {
		m[id] = true
	}
	for _, id := range ids {
		m[id] = true
	}
	c.sessions = m
	return c
}

// WithAllSessions grants the guest every session of the source.
func (c RunConfig) WithAllSessions() RunConfig {
	c.all = true
	return c
}

// WithWrite lets the guest append events to granted sessions, into s:
// the source itself or a scratch store. Without it, appends fail with
// abi.ErrnoDenied.
func (c RunConfig) WithWrite(s Sink) RunConfig {
	c.sink = s
	return c
}

// WithMemoryLimit caps the guest's memory, in bytes, rounded down to
// whole 64 KiB pages (default DefaultMemoryLimit). The runtime's ceiling
// (RuntimeConfig.WithMaxMemory) lowers it. A guest that needs more fails
// the run with ErrMemoryLimit; a module whose initial memory is above the
// limit is not started.
func (c RunConfig) WithMemoryLimit(bytes uint64) RunConfig {
	c.memLimit = bytes
	return c
}

// WithDeadline sets how long the run may take (default DefaultDeadline).
// A guest still running then is stopped and the run fails with
// ErrDeadline. Canceling the context passed to Run stops it too.
func (c RunConfig) WithDeadline(d time.Duration) RunConfig {
	c.deadline = d
	return c
}

// WithMaxOutput caps the guest's standard output, in bytes (default
// DefaultMaxOutput). Writes past the cap fail, and the run reports
// ErrOutputLimit.
func (c RunConfig) WithMaxOutput(bytes int64) RunConfig {
	c.maxOutput = bytes
	return c
}

// WithMaxLog caps the guest's log (the log host function and standard
// error), in bytes (default DefaultMaxLog). Messages past the cap are
// refused with abi.ErrnoTooBig.
func (c RunConfig) WithMaxLog(bytes int64) RunConfig {
	c.maxLog = bytes
	return c
}

// WithOutput sets where the guest's standard output goes (default:
// discarded, still counted against the cap).
func (c RunConfig) WithOutput(w io.Writer) RunConfig {
	c.output = w
	return c
}

// WithLog sets where the guest's log messages and standard error go
// (default: discarded).
func (c RunConfig) WithLog(w io.Writer) RunConfig {
	c.log = w
	return c
}

// WithInput sets the bytes the guest reads with the input host function.
func (c RunConfig) WithInput(b []byte) RunConfig {
	c.input = b
	return c
}

// WithClock sets the wall-clock time the guest sees (default
// 2026-01-01T00:00:00Z). The guest's wall clock stays at t except for the time
// the guest sleeps; its monotonic clock advances by one microsecond per
// reading and by the time it sleeps. Sleeping takes no real time.
func (c RunConfig) WithClock(t time.Time) RunConfig {
	c.clock = t
	return c
}

// WithSeed seeds the guest's random source (WASI random_get, behind
// crypto/rand and the runtime's hash seeds; default 0). Equal seeds give
// equal random bytes.
func (c RunConfig) WithSeed(seed uint64) RunConfig {
	c.seed = seed
	return c
}

// WithReplay serves the recorded session id as the guest's environment
// (the replay host functions) and compares the events the guest emits
// with it. The session must be granted and a source set.
func (c RunConfig) WithReplay(id abi.SessionID) RunConfig {
	c.replay = id
	return c
}

// granted reports whether the run grants session id.
func (c *RunConfig) granted(id abi.SessionID) bool {
	return id != "" && (c.all || c.sessions[id])
}

// Result is what a run produced besides its output.
type Result struct {
	// ExitCode is the guest's exit status: 0 when main returned, the
	// argument of os.Exit, 2 after a Go panic.
	ExitCode uint32
	// Divergence is the first difference between the replayed recording
	// and the events the guest emitted, or nil.
	Divergence *Divergence
	// Emitted is the number of events the guest emitted that matched the
	// recording.
	Emitted int
	// Appended is the number of events the guest appended.
	Appended int
	// OutputBytes and LogBytes are the bytes written to the output and
	// the log (at most their caps).
	OutputBytes int64
	LogBytes    int64
	// MemoryBytes is the size of the guest's memory when it ended.
	MemoryBytes uint64
}

// Run instantiates the guest afresh and runs its main function under cfg,
// then closes the instance. The guest sees a fixed clock and a seeded
// random source, no arguments but its name ("guest"), no environment and
// no files; its standard output goes to cfg's output and its standard
// error to cfg's log.
//
// Run returns an error wrapping ErrDeadline, ErrMemoryLimit,
// ErrOutputLimit or ErrGuestFailed when the guest did not finish cleanly
// (the Result says as much as is known), a *Divergence (wrapping
// ErrDiverged) when a replayed guest diverged from the recording, and
// ErrNotGranted or ErrSource when the replay could not start. A failed
// run leaves nothing behind: the next run starts from a fresh instance.
//
// Run returns an error wrapping ErrClosed when the guest or its runtime
// was closed before the run started, and also whenever Guest.Close or
// Runtime.Close was called while the run was in flight, from any
// goroutine, including from the run's own output or log writer or from
// a method of its Source: such a run is stopped, its Result holds what
// the guest did until then, and it never reports success, even when the
// guest reached its end before it noticed the stop. Only a run that
// returned before Close was called can have returned nil.
func (g *Guest) Run(ctx context.Context, cfg RunConfig) (Result, error) {
	deadline := cfg.deadline
	if deadline <= 0 {
		deadline = DefaultDeadline
	}
	runCtx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	f := &flight{cancel: cancel}
	if !g.start(f) {
		return Result{}, errorf(ErrClosed, "sandbox: run: guest or runtime closed")
	}
	res, err := g.run(runCtx, &cfg, deadline)
	g.end(f)
	if by := f.stoppedBy(); by != "" {
		if err == nil {
			return res, errorf(ErrClosed, "sandbox: run: %s closed during the run", by)
		}
		return res, errorf(ErrClosed, "sandbox: run: %s closed during the run: %v", by, err)
	}
	return res, err
}

// flight is a run in progress, registered with its guest and runtime so
// that their Close can stop it without waiting for it.
type flight struct {
	cancel  context.CancelFunc // cancels the run's context
	stopped atomic.Pointer[string]
}

// stop records that the closing of by (the guest or the runtime) stopped
// the run, and cancels the run's context; the first closer is kept.
func (f *flight) stop(by string) {
	f.stopped.CompareAndSwap(nil, &by)
	f.cancel()
}

// stoppedBy returns what was closed during the run, or "".
func (f *flight) stoppedBy() string {
	if p := f.stopped.Load(); p != nil {
		return *p
	}
	return ""
}

// flights is the set of runs in flight of a guest or a runtime, and
// whether it was closed.
type flights struct {
	mu     sync.Mutex
	closed bool
	runs   map[*flight]struct{}
}

// add registers f; it reports false, registering nothing, once closed.
func (fs *flights) add(f *flight) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return false
	}
	if fs.runs == nil {
		fs.runs = map[*flight]struct{}{}
	}
	fs.runs[f] = struct{}{}
	return true
}

// remove unregisters f and reports whether it was the last run after
// close: the caller then releases what the runs used.
func (fs *flights) remove(f *flight) (release bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(fs.runs, f)
	return fs.closed && len(fs.runs) == 0
}

// close marks the set closed and stops every run in flight, recording by
// (what was closed) as the reason. It reports whether the caller releases
// what the runs used now (this is the first close and no run is in
// flight); otherwise the last run does, when remove says so.
func (fs *flights) close(by string) (release bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return false
	}
	fs.closed = true
	for f := range fs.runs {
		f.stop(by)
	}
	return len(fs.runs) == 0
}

// isClosed reports whether close was called.
func (fs *flights) isClosed() bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.closed
}

// start registers the run f with g and its runtime; it reports false when
// either is closed.
func (g *Guest) start(f *flight) bool {
	if !g.runs.add(f) {
		return false
	}
	if !g.rt.runs.add(f) {
		g.release(f)
		return false
	}
	return true
}

// end unregisters the run f, whose instance is closed, and releases the
// compiled module when f was the last run of a closed guest, and the
// runtime when f was the last run of a closed runtime.
func (g *Guest) end(f *flight) {
	g.release(f)
	if g.rt.runs.remove(f) {
		g.rt.rt.CloseWithExitCode(context.Background(), exitCodeClosed)
	}
}

// release unregisters the run f from g and closes the compiled module
// when f was the last run of a closed guest.
func (g *Guest) release(f *flight) {
	if g.runs.remove(f) {
		g.cm.Close(context.Background())
	}
}

// run runs the guest under cfg in runCtx, whose deadline is deadline
// away.
func (g *Guest) run(runCtx context.Context, cfg *RunConfig, deadline time.Duration) (Result, error) {
	st := newRunState(cfg)
	limit := cfg.memLimit
	if limit == 0 {
		limit = DefaultMemoryLimit
	}
	limitPages := min(limit/pageSize, uint64(g.rt.maxPages))
	if uint64(g.minPages) > limitPages {
		return Result{}, errorf(ErrMemoryLimit, "sandbox: run: the guest starts with %d KiB of memory, above the run's limit of %d KiB",
			uint64(g.minPages)*pageSize>>10, limitPages*pageSize>>10)
	}
	st.mem = &cappedMemory{limit: limitPages * pageSize}

	if cfg.replay != "" {
		// Reading the recording counts against the deadline.
		if err := st.loadReplay(runCtx); err != nil {
			return Result{}, err
		}
	}
	if g.rt.cooperative {
		st.stop = runCtx
	}
	runCtx = withRunState(runCtx, st)
	runCtx = experimental.WithMemoryAllocator(runCtx, st.mem)

	mc := wazero.NewModuleConfig().
		WithName("").
		WithArgs("guest").
		WithStdin(emptyReader{}).
		WithStdout(st.out).
		WithStderr(st.stderr).
		WithWalltime(st.walltime, 1).
		WithNanotime(st.nanotime, 1).
		WithNanosleep(st.nanosleep).
		WithOsyield(func() {}).
		WithRandSource(seededRand(cfg.seed)).
		WithStartFunctions("_start")

	mod, err := g.rt.rt.InstantiateModule(runCtx, g.cm, mc)
	res := Result{}
	if mod != nil {
		// Compile made sure the guest exports its memory; a module without
		// memory would return a nil *MemoryInstance from Memory, not nil.
		if m := mod.ExportedMemory(guestMemory); m != nil {
			res.MemoryBytes = uint64(m.Size())
		}
		mod.Close(context.Background())
	}
	st.mem.release()
	res.Emitted = st.emitted
	res.Appended = st.appended
	res.OutputBytes = st.out.n
	res.LogBytes = st.logged
	if err != nil {
		var exit *sys.ExitError
		switch {
		case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
			return res, errorf(ErrDeadline, "sandbox: run: guest stopped after %v: %v", deadline, context.DeadlineExceeded)
		case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled:
			return res, &sandboxError{msg: "sandbox: run: guest stopped: " + context.Canceled.Error(), err: context.Canceled}
		case st.mem.refused:
			return res, errorf(ErrMemoryLimit, "sandbox: run: the guest needed more than its %d KiB of memory: %v", st.mem.limit>>10, err)
		case errors.As(err, &exit):
			res.ExitCode = exit.ExitCode()
			if res.ExitCode != 0 {
				return res, errorf(ErrGuestFailed, "sandbox: run: guest exited with status %d", res.ExitCode)
			}
		default:
			return res, errorf(ErrGuestFailed, "sandbox: run: %v", err)
		}
	}
	if st.out.exceeded {
		return res, errorf(ErrOutputLimit, "sandbox: run: guest output over %d bytes", st.out.max)
	}
	if st.replay != nil {
		if d := st.replay.finish(); d != nil {
			res.Divergence = d
			return res, d
		}
	}
	return res, nil
}

// seededRand returns the deterministic random source of a run.
func seededRand(seed uint64) io.Reader {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(key)
}

// emptyReader is a standard input at its end.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }
