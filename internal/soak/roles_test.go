package soak_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/anthropic"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

func init() { proc.Dispatch() }

// The roles of the soak's child processes.
const (
	roleEvents    = "soak-events"    // appends events
	roleTools     = "soak-tools"     // records tool intents and outcomes
	roleAttempts  = "soak-attempts"  // records provider attempts
	roleRetention = "soak-retention" // retention, month drops, ledger syncs
	roleReconcile = "soak-reconcile" // reconciles against the fake billing API
	roleReader    = "soak-reader"    // tails sessions with EventsSince
)

var (
	_ = proc.Role(roleEvents, func() int { return runChild(eventsBody) })
	_ = proc.Role(roleTools, func() int { return runChild(toolsBody) })
	_ = proc.Role(roleAttempts, func() int { return runChild(attemptsBody) })
	_ = proc.Role(roleRetention, func() int { return runChild(retentionBody) })
	_ = proc.Role(roleReconcile, func() int { return runChild(reconcileBody) })
	_ = proc.Role(roleReader, func() int { return runChild(readerBody) })
)

// soakKEK is the KEK of the soak's month files and ledger.
var soakKEK = []byte("soak-run-kek-is-32-bytes-long!!!")

// args are every child's parameters.
type args struct {
	Dir    string // the rollover directory
	Ledger string // the cost ledger's path
	URL    string // the fake billing API
	Marker string // planted in every payload, argument and result

	RealStart int64         // Unix nanoseconds: when simulated time starts
	SimStart  time.Time     // the simulated time at RealStart
	Speed     float64       // simulated seconds per real second
	Duration  time.Duration // real duration of the run
	WarmUp    time.Duration // real time after which the samples are judged
	Every     time.Duration // real time between two samples

	TTL, Age, Horizon time.Duration // retention, in simulated time
	Index             int           // the appender's number
	Pace              time.Duration // real pause between appends

	// Test-only faults, to prove the checks can fail: Leak bytes retained
	// per operation (every role counts its operations), and retention
	// that drops nothing.
	Leak        int
	NoRetention bool
}

// ops counts the operations of this process: appends, tool calls,
// attempts, retention rounds, reconciliations, reads.
var ops atomic.Int64

// leaked holds what args.Leak retains.
var (
	leakMu sync.Mutex
	leaked [][]byte
)

// op counts one operation and, with args.Leak set, retains that many
// bytes of Go heap for good.
func (a args) op() {
	ops.Add(1)
	if a.Leak > 0 {
		b := make([]byte, a.Leak)
		for i := range b {
			b[i] = byte(i)
		}
		leakMu.Lock()
		leaked = append(leaked, b)
		leakMu.Unlock()
	}
}

// clock returns the simulated clock every process shares: the wall
// clock's time since RealStart, sped up Speed times, from SimStart.
func (a args) clock() func() time.Time {
	start := time.Unix(0, a.RealStart)
	return func() time.Time {
		return a.SimStart.Add(time.Duration(float64(time.Since(start)) * a.Speed)).Truncate(time.Microsecond)
	}
}

func (a args) config() host.Config {
	return host.NewConfig().WithKEKSource(keyring.RawKEK(soakKEK)).WithClock(a.clock())
}

// out is a child's stdout, one line per record, safe for concurrent use.
type out struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *out) printf(format string, v ...any) {
	o.mu.Lock()
	fmt.Fprintf(o.w, format+"\n", v...)
	o.mu.Unlock()
}

func (o *out) flush() {
	o.mu.Lock()
	o.w.Flush()
	o.mu.Unlock()
}

// sample is a process's resource use at one moment. A field is -1 where
// the platform does not report it (no /proc).
type sample struct {
	At         time.Duration `json:"at"`         // real time since RealStart
	Ops        int64         `json:"ops"`        // operations done so far
	RSS        int64         `json:"rss"`        // resident set, bytes (/proc/self/status VmRSS)
	FDs        int           `json:"fds"`        // open file descriptors (/proc/self/fd)
	Goroutines int           `json:"goroutines"` // runtime.NumGoroutine
	Heap       int64         `json:"heap"`       // Go heap in use after a GC, bytes
}

func takeSample() sample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := sample{RSS: -1, FDs: -1, Goroutines: runtime.NumGoroutine(), Heap: int64(ms.HeapAlloc)}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					s.RSS = kb << 10
				}
			}
		}
	}
	if es, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.FDs = len(es) - 1 // minus the descriptor ReadDir itself held
	}
	return s
}

// body is a role's work: it runs until ctx ends and returns the first
// error. It writes its records to o.
type body func(ctx context.Context, a args, m *host.MonthlyRollover, o *out) error

// runChild opens the rollover and runs b until the run's end (or until
// the parent closes stdin), sampling the process every a.Every while b
// runs, every sample under the same conditions (the work going on, after
// a GC); it prints a "sample <json>" line for each.
func runChild(b body) int {
	var a args
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	start := time.Unix(0, a.RealStart)
	// Simulated time starts at RealStart: nothing happens before it (the
	// clock would read earlier than SimStart).
	time.Sleep(time.Until(start))
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(a.Duration))
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	// A child that runs far past its end is stuck: fail it.
	time.AfterFunc(time.Until(start.Add(a.Duration))+2*time.Minute, func() { proc.Fail("still running 2 minutes after the end") })
	o := &out{w: bufio.NewWriterSize(os.Stdout, 1<<16)}
	m, err := host.NewMonthlyRolloverWithConfig(a.Dir, a.config())
	if err != nil {
		proc.Fail("open: %v", err)
	}
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(a.Every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s := takeSample()
				s.At, s.Ops = time.Since(start), ops.Load()
				j, _ := json.Marshal(s)
				o.printf("sample %s", j)
			}
		}
	}()
	err = b(ctx, a, m, o)
	cancel()
	<-sampled
	if err != nil {
		o.flush()
		proc.Fail("%v", err)
	}
	if err := m.Close(); err != nil {
		o.flush()
		proc.Fail("close: %v", err)
	}
	o.flush()
	return 0
}

// pause sleeps for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Sessions of the appenders: 40 records each, then the next one.
const sessionLen = 40

var words = strings.Fields(`the a parser test file function error return value build run go module
	package import fix update change add remove check handle case trailing comma regression pass fail`)

// text returns deterministic words for (sess, turn): 30 to 150 of them,
// with the marker, so that the parent can rebuild what was written.
func text(marker string, sess abi.SessionID, turn int) string {
	h := uint64(14695981039346656037)
	for _, c := range []byte(sess) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	h = (h ^ uint64(turn)) * 1099511628211
	n := 30 + int(h%121)
	var b strings.Builder
	b.WriteString(marker)
	for range n {
		h = h*6364136223846793005 + 1442695040888963407
		b.WriteByte(' ')
		b.WriteString(words[int(h>>33)%len(words)])
	}
	return b.String()
}

func eventPayload(marker string, sess abi.SessionID, turn int) json.RawMessage {
	p, _ := json.Marshal(map[string]string{"text": text(marker, sess, turn)})
	return p
}

// eventsBody appends events, one session after another, and prints
// "event <session> <turn> <id> <ts>" for each acknowledged one.
func eventsBody(ctx context.Context, a args, m *host.MonthlyRollover, o *out) error {
	now := a.clock()
	for i := 0; ctx.Err() == nil; i++ {
		sess := abi.SessionID(fmt.Sprintf("ev%d-%06d", a.Index, i/sessionLen))
		turn := i % sessionLen
		kind := abi.KindAssistantMessage
		if turn == 0 {
			kind = abi.KindUserMessage
		}
		ts := now()
		// The write runs to its end even at the run's end: its result
		// says whether it was committed.
		id, err := m.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: turn, Kind: kind, TS: ts, Payload: eventPayload(a.Marker, sess, turn)})
		if err != nil {
			return fmt.Errorf("append %s/%d: %w", sess, turn, err)
		}
		o.printf("event %s %d %d %d", sess, turn, id, ts.UnixNano())
		a.op()
		pause(ctx, a.Pace)
	}
	return nil
}

// toolsBody records a tool intent and its outcome per call and prints
// "intent <session> <call> <started>" and "outcome <session> <call>
// <ended>" for each acknowledged one.
func toolsBody(ctx context.Context, a args, m *host.MonthlyRollover, o *out) error {
	now := a.clock()
	for i := 0; ctx.Err() == nil; i++ {
		sess := abi.SessionID(fmt.Sprintf("tl%d-%06d", a.Index, i/sessionLen))
		call := fmt.Sprintf("call-%d", i)
		argsJSON, _ := json.Marshal(map[string]string{"cmd": text(a.Marker, sess, i)})
		started := now()
		in := abi.ToolIntent{Session: sess, Turn: i % sessionLen, CallID: call, Tool: "bash", ArgsHash: host.HashArgs(argsJSON), Args: argsJSON, StartedAt: started}
		if err := m.RecordToolIntent(context.Background(), in); err != nil {
			return fmt.Errorf("intent %s/%s: %w", sess, call, err)
		}
		o.printf("intent %s %s %d", sess, call, started.UnixNano())
		result, _ := json.Marshal(map[string]string{"stdout": text(a.Marker, sess, -i)})
		ended := now()
		if err := m.RecordToolOutcome(context.Background(), abi.ToolOutcome{Session: sess, CallID: call, Status: abi.StatusOK, Result: result, EndedAt: ended}); err != nil {
			return fmt.Errorf("outcome %s/%s: %w", sess, call, err)
		}
		o.printf("outcome %s %s %d", sess, call, ended.UnixNano())
		a.op()
		pause(ctx, a.Pace)
	}
	return nil
}

// attemptCost is the cost of attempt i in nano-dollars.
func attemptCost(i int) int64 { return 1_000_000 + int64(i%997)*1_234 }

// attemptsBody records provider attempts of the fake provider and prints
// "attempt <id> <started> <nanos> <session>" for each acknowledged one.
func attemptsBody(ctx context.Context, a args, m *host.MonthlyRollover, o *out) error {
	now := a.clock()
	for i := 0; ctx.Err() == nil; i++ {
		started := now()
		cost := attemptCost(i)
		at := abi.ProviderAttempt{
			Session: fmt.Sprintf("at%d-%06d", a.Index, i/sessionLen), Turn: i % sessionLen,
			Provider: anthropic.Name, Model: "claude-soak", RequestID: a.Marker + "-" + strconv.Itoa(i),
			StartedAt: started, EndedAt: started.Add(time.Second), TerminatedReason: abi.AttemptComplete,
			InputTokens: 1000 + i%500, OutputTokens: 200, EstimatedUSD: float64(cost) / 1e9,
		}
		id, err := m.RecordAttempt(context.Background(), at)
		if err != nil {
			return fmt.Errorf("attempt %d: %w", i, err)
		}
		o.printf("attempt %d %d %d %s", id, started.UnixNano(), cost, at.Session)
		a.op()
		pause(ctx, a.Pace)
	}
	return nil
}

// retentionBody runs, every round: ApplyRetention and DropMetadata on the
// current month and DropMonthsBefore at the horizon, each deletion of
// rows after a ledger sync of the rollover's attempts. It prints
// "horizon <unix nanos>" after each drop and "dropped <n>" per round.
func retentionBody(ctx context.Context, a args, m *host.MonthlyRollover, o *out) error {
	now := a.clock()
	l, err := host.OpenCostLedgerWithConfig(a.Ledger, a.config())
	if err != nil {
		return err
	}
	defer l.Close()
	// Attempts reach the ledger before anything can delete them: a sync
	// right before each deletion (an attempt recorded after a sync is
	// younger than the metadata age by far).
	sync := func() error {
		if _, err := l.SyncAttempts(context.Background(), "soak", m); err != nil {
			return fmt.Errorf("sync attempts: %w", err)
		}
		return nil
	}
	for ctx.Err() == nil {
		if a.NoRetention {
			if err := sync(); err != nil {
				return err
			}
			a.op()
			pause(ctx, 300*time.Millisecond)
			continue
		}
		cur, err := m.Current()
		if err != nil {
			return err
		}
		n, err := cur.ApplyRetention(context.Background(), a.TTL)
		if err != nil && !errors.Is(err, host.ErrMonthSealed) {
			return fmt.Errorf("apply retention: %w", err)
		}
		if err := sync(); err != nil {
			return err
		}
		d, err := cur.DropMetadata(context.Background(), a.Age, nil)
		if err != nil && !errors.Is(err, host.ErrMonthSealed) {
			return fmt.Errorf("drop metadata: %w", err)
		}
		horizon := now().Add(-a.Horizon)
		if err := sync(); err != nil {
			return err
		}
		gone, err := m.DropMonthsBefore(context.Background(), horizon)
		if err != nil {
			return fmt.Errorf("drop months before %v: %w", horizon, err)
		}
		o.printf("horizon %d", horizon.UnixNano())
		o.printf("round %d %d %d", n, d, len(gone))
		a.op()
		pause(ctx, 300*time.Millisecond)
	}
	return nil
}

// reconcileBody reconciles the fake provider's last simulated day
// against the fake billing API, every round, and saves the result.
func reconcileBody(ctx context.Context, a args, m *host.MonthlyRollover, o *out) error {
	f, err := anthropic.New("sk-ant-admin01-soak", billing.WithBaseURL(a.URL))
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		r, err := m.ReconcileNow(context.Background(), f, 24*time.Hour)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		o.printf("reconciled %d %d %d", r.PeriodStart.UnixNano(), r.UpstreamNanos, r.LocalNanos)
		a.op()
		pause(ctx, 400*time.Millisecond)
	}
	return nil
}

// readerBody tails the 20 most recent sessions with EventsSince, checking
// that each read returns events above the last ID read, in ID order, with
// the marker in every payload still present. It prints "read <n>" at the
// end.
func readerBody(ctx context.Context, a args, m *host.MonthlyRollover, o *out) error {
	since := map[abi.SessionID]uint64{}
	total := 0
	for ctx.Err() == nil {
		list, err := m.ListPastSessions(context.Background(), 20)
		if err != nil {
			return fmt.Errorf("list sessions: %w", err)
		}
		keep := make(map[abi.SessionID]uint64, len(list))
		for _, ps := range list {
			last := since[ps.ID]
			evs, err := m.EventsSince(context.Background(), ps.ID, last, 200)
			if err != nil {
				return fmt.Errorf("events of %s since %d: %w", ps.ID, last, err)
			}
			for _, e := range evs {
				if e.ID <= last {
					return fmt.Errorf("session %s: event %d after %d", ps.ID, e.ID, last)
				}
				if e.Payload != nil && !strings.Contains(string(e.Payload), a.Marker) {
					return fmt.Errorf("session %s: event %d: payload without the marker", ps.ID, e.ID)
				}
				last = e.ID
			}
			total += len(evs)
			keep[ps.ID] = last
		}
		since = keep // only the sessions still listed: bounded
		a.op()
		pause(ctx, 100*time.Millisecond)
	}
	o.printf("read %d", total)
	return nil
}
