package sandbox

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/tetratelabs/wazero/sys"

	"github.com/gofastr/store/abi"
)

// runState is the state of one run, reached by the host functions through
// the context of the guest instance: the run's configuration, its
// writers, clock, memory cap, pending result and replay.
type runState struct {
	cfg    *RunConfig
	out    *cappedWriter
	stderr stderrWriter
	log    io.Writer
	maxLog int64
	logged int64
	clock  virtualClock
	mem    *cappedMemory

	pending    []byte // the response take_result hands out
	hasPending bool
	buf        []byte // reusable response encoding buffer

	// stop is the run's context when the runtime's deadlines are
	// cooperative: host calls check it and stop the guest when it is
	// done. Nil otherwise (the compiled code checks).
	stop context.Context

	ev     eventCache
	replay *replayState

	emitted  int
	appended int
}

type runStateKey struct{}

// newRunState prepares the state of a run under cfg.
func newRunState(cfg *RunConfig) *runState {
	out := cfg.output
	if out == nil {
		out = io.Discard
	}
	maxOut := cfg.maxOutput
	if maxOut <= 0 {
		maxOut = DefaultMaxOutput
	}
	logw := cfg.log
	if logw == nil {
		logw = io.Discard
	}
	maxLog := cfg.maxLog
	if maxLog <= 0 {
		maxLog = DefaultMaxLog
	}
	clock := cfg.clock
	if clock.IsZero() {
		clock = defaultClock
	}
	st := &runState{
		cfg:    cfg,
		out:    &cappedWriter{w: out, max: maxOut},
		log:    logw,
		maxLog: maxLog,
		clock:  virtualClock{wall: clock},
	}
	st.stderr = stderrWriter{st}
	return st
}

// withRunState returns ctx carrying st for the host functions.
func withRunState(ctx context.Context, st *runState) context.Context {
	return context.WithValue(ctx, runStateKey{}, st)
}

// runStateFrom returns the run state ctx carries, or nil.
func runStateFrom(ctx context.Context) *runState {
	st, _ := ctx.Value(runStateKey{}).(*runState)
	return st
}

// writeLog writes p to the log if it fits under the cap, whole or not at
// all.
func (st *runState) writeLog(p []byte) (abi.Errno, string) {
	if int64(len(p)) > st.maxLog-st.logged {
		return abi.ErrnoTooBig, "log over the run's cap"
	}
	n, err := st.log.Write(p)
	st.logged += int64(n)
	if err != nil {
		return abi.ErrnoUnavailable, "log writer failed"
	}
	return abi.ErrnoOK, ""
}

// stderrWriter sends the guest's standard error to the run's log, under
// the same cap.
type stderrWriter struct{ st *runState }

func (w stderrWriter) Write(p []byte) (int, error) {
	if errno, _ := w.st.writeLog(p); errno != abi.ErrnoOK {
		return 0, errno
	}
	return len(p), nil
}

// virtualClock is the deterministic time of a run. The wall clock stays
// at wall plus the time slept; the monotonic clock advances by a
// microsecond per reading and by the time slept. Sleeping takes no real
// time.
type virtualClock struct {
	wall  time.Time
	mono  int64
	slept int64
}

// checkStop stops the guest, the way WASI proc_exit does, when the run's
// context is done and the runtime's deadlines are cooperative. wazero
// turns the panic into the guest's exit with the given code; it never
// reaches the caller of Run as a panic.
func (st *runState) checkStop() {
	if st.stop == nil {
		return
	}
	if err := st.stop.Err(); err != nil {
		code := uint32(sys.ExitCodeContextCanceled)
		if errors.Is(err, context.DeadlineExceeded) {
			code = sys.ExitCodeDeadlineExceeded
		}
		panic(sys.NewExitError(code))
	}
}

func (st *runState) walltime() (int64, int32) {
	st.checkStop()
	return st.clock.walltime()
}

func (st *runState) nanotime() int64 {
	st.checkStop()
	return st.clock.nanotime()
}

func (st *runState) nanosleep(ns int64) {
	st.checkStop()
	st.clock.nanosleep(ns)
}

func (c *virtualClock) walltime() (sec int64, nsec int32) {
	t := c.wall.Add(time.Duration(c.slept))
	return t.Unix(), int32(t.Nanosecond())
}

func (c *virtualClock) nanotime() int64 {
	c.mono += int64(time.Microsecond)
	return c.mono
}

func (c *virtualClock) nanosleep(ns int64) {
	if ns > 0 {
		c.mono += ns
		c.slept += ns
	}
}
