package reliability

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// DefaultStart is the default start of a Workload's clock: an hour before
// a change of month, so that the rollover crosses it.
var DefaultStart = time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)

// Errors of a Workload and of Check.
var (
	// ErrBadWorkload is returned by Run and Check for a Workload that is
	// missing a field (directory, marker, KEKs of an encrypted run).
	ErrBadWorkload = errors.New("reliability: bad workload")
	// ErrPanic is returned (wrapped) by Run when a call panicked.
	ErrPanic = errors.New("reliability: panic")
)

// Retention ages the workload applies: payloads older than RetentionTTL
// are dropped, rows older than MetadataAge deleted.
const (
	RetentionTTL = 30 * 24 * time.Hour
	MetadataAge  = 180 * 24 * time.Hour
)

// Workload says what Run does, on one directory. The zero values of the
// optional fields take the defaults noted.
type Workload struct {
	// Dir holds the store (sessions.db), its cost ledger (costs.db) and
	// the rollover's months (months/). Required.
	Dir string
	// Encrypted runs every database encrypted, under KEK until the
	// rotation installs NewKEK; both are 32 bytes and required then.
	// A plaintext run skips the rekey and the rotation.
	Encrypted   bool
	KEK, NewKEK []byte
	// Marker is planted in every payload, tool argument and result and
	// attempt; Check scans the files of an encrypted run for it. Required.
	Marker []byte
	// Start is the store's fixed clock and the rollover's first time
	// (default DefaultStart); the rollover's clock moves two hours on,
	// across a change of month when Start is less than two hours
	// before one.
	Start time.Time
	// Appenders is the number of goroutines appending at once (default
	// 3), each Events events (default 6); Events also sizes the tool
	// calls, attempts, batches and ledger entries.
	Appenders, Events int
	// BusyTimeout is the stores' busy timeout (default 5 s).
	BusyTimeout time.Duration
}

// StorePath, LedgerPath and MonthsDir are where the workload's databases live.
func (w Workload) StorePath() string  { return filepath.Join(w.Dir, "sessions.db") }
func (w Workload) LedgerPath() string { return filepath.Join(w.Dir, "costs.db") }
func (w Workload) MonthsDir() string  { return filepath.Join(w.Dir, "months") }

// EraseMarker is planted, instead of Marker, in the content retention
// drops: once a retention is acknowledged it must be in no file (a
// plaintext run checks it; an encrypted run has no plaintext at all).
func (w Workload) EraseMarker() []byte { return append([]byte(string(w.Marker)), "-erased"...) }

// withDefaults returns w with its defaults filled in, or an error naming
// what is missing.
func (w Workload) withDefaults() (Workload, error) {
	if w.Dir == "" {
		return w, fmt.Errorf("%w: no directory", ErrBadWorkload)
	}
	if len(w.Marker) == 0 {
		return w, fmt.Errorf("%w: no marker", ErrBadWorkload)
	}
	if w.Encrypted && (len(w.KEK) != 32 || len(w.NewKEK) != 32) {
		return w, fmt.Errorf("%w: an encrypted run needs KEK and NewKEK of 32 bytes", ErrBadWorkload)
	}
	if w.Start.IsZero() {
		w.Start = DefaultStart
	}
	if w.Appenders <= 0 {
		w.Appenders = 3
	}
	if w.Events <= 0 {
		w.Events = 6
	}
	if w.BusyTimeout <= 0 {
		w.BusyTimeout = 5 * time.Second
	}
	return w, nil
}

// MonthsEnd is the rollover clock's time after it moved on.
func (w Workload) monthsEnd() time.Time { return w.Start.Add(2 * time.Hour) }

// config returns the Config of a database under kek (nil: plaintext) with
// clock now.
func (w Workload) config(kek []byte, now func() time.Time) host.Config {
	cfg := host.NewConfig().WithClock(now).WithBusyTimeout(w.BusyTimeout)
	if kek != nil {
		cfg = cfg.WithKEKSource(keyring.RawKEK(kek))
	}
	return cfg
}

// run is one Run in progress.
type run struct {
	w   Workload
	o   *Oracle
	ctx context.Context
	// kek is the KEK the databases are opened with; rotated says the
	// rotation was acknowledged for every database.
	kek []byte
}

// Run runs the workload on w.Dir and records every operation in o. It
// returns the first error an operation returned (operations go on after
// one fails, as a harness's would, except where a database did not open)
// and never panics. It stops starting operations once ctx is done.
func (w Workload) Run(ctx context.Context, o *Oracle) (err error) {
	w, err = w.withDefaults()
	if err != nil {
		return err
	}
	r := &run{w: w, o: o, ctx: ctx}
	if w.Encrypted {
		r.kek = w.KEK
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, p, debug.Stack())
			o.add(Op{Kind: KindOpen, Target: TargetStore, Err: err})
		}
		if err == nil {
			if errs := o.Errors(); len(errs) > 0 {
				err = errs[0]
			}
		}
	}()
	r.storePhase()
	if w.Encrypted {
		r.rekeyPhase()
	}
	r.monthsPhase()
	if w.Encrypted {
		r.rotatePhase()
	}
	return ctx.Err()
}

// stopped reports whether the run must start no more operations.
func (r *run) stopped() bool { return r.ctx.Err() != nil }

// do runs f unless the run stopped and records op with its error.
func (r *run) do(op Op, f func() error) bool {
	if r.stopped() {
		return false
	}
	err := protect(f)
	op.Err = err
	if op.Kind == KindRetention || op.Kind == KindDrop {
		op.Committed = committed(err)
	}
	r.o.add(op)
	return err == nil
}

// protect runs f, turning a panic into an error.
func protect(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, p, debug.Stack())
		}
	}()
	return f()
}

// payload returns a JSON payload naming sess and n that holds marker,
// large enough to be compressed when big.
func payload(marker []byte, sess string, n int, big bool) json.RawMessage {
	text := fmt.Sprintf("turn %d of %s", n, sess)
	if big {
		text = strings.Repeat(fmt.Sprintf("the quick brown fox %d jumps over %s; ", n, sess), 24)
	}
	b, _ := json.Marshal(map[string]any{"marker": string(marker), "session": sess, "n": n, "text": text})
	return b
}

// event returns event turn of sess at ts.
func (r *run) event(sess string, turn int, ts time.Time, marker []byte) abi.EventEnvelope {
	kind := abi.KindUserMessage
	if turn%2 == 0 {
		kind = abi.KindAssistantMessage
	}
	return abi.EventEnvelope{
		Session: abi.SessionID(sess), Turn: turn, Kind: kind, TS: ts,
		Payload: payload(marker, sess, turn, turn%3 == 0),
	}
}

// intent and outcome return tool call n of sess at ts.
func (r *run) intent(sess string, n int, ts time.Time, marker []byte) abi.ToolIntent {
	args := payload(marker, sess, n, false)
	return abi.ToolIntent{
		Session: abi.SessionID(sess), Turn: n, CallID: fmt.Sprintf("call-%d", n), Tool: "bash",
		ArgsHash: host.HashArgs(args), Args: args, StartedAt: ts,
	}
}

func (r *run) outcome(sess string, n int, ts time.Time, marker []byte) abi.ToolOutcome {
	out := abi.ToolOutcome{
		Session: abi.SessionID(sess), CallID: fmt.Sprintf("call-%d", n), Status: abi.StatusOK,
		Result: payload(marker, sess+"/result", n, n%2 == 0), EndedAt: ts.Add(time.Second),
	}
	if n%4 == 1 {
		out.Status = abi.StatusError
		out.Result = nil
		out.Error = fmt.Sprintf("exit status 1 (%s)", marker)
	}
	return out
}

// attempt returns provider attempt n of sess at ts; its request ID is
// unique in the workload.
func (r *run) attempt(sess string, n int, ts time.Time) abi.ProviderAttempt {
	nanos := int64(1_000_000 * (n + 1))
	return abi.ProviderAttempt{
		Session: sess, Turn: n, Provider: "anthropic", Model: "claude-test",
		RequestID: fmt.Sprintf("req-%s-%s-%d", r.w.Marker, sess, n),
		StartedAt: ts, EndedAt: ts.Add(1500 * time.Millisecond), TerminatedReason: abi.AttemptComplete,
		InputTokens: 100 + n, OutputTokens: 20 + n, CacheReadTokens: n, CacheWriteTokens: 2 * n, CacheWrite1hTokens: n % 3,
		EstimatedUSD: float64(nanos) / 1e9,
	}
}

// batch returns batch n of sess: two events, a tool call and an attempt,
// and a pin of its session when n is even.
func (r *run) batch(sess string, n int, ts time.Time) abi.Batch {
	b := abi.Batch{
		Key:      fmt.Sprintf("batch-key-%s-%d", sess, n),
		Events:   []abi.EventEnvelope{r.event(sess, 1, ts, r.w.Marker), r.event(sess, 2, ts.Add(time.Second), r.w.Marker)},
		Intents:  []abi.ToolIntent{r.intent(sess, 1, ts, r.w.Marker)},
		Outcomes: []abi.ToolOutcome{r.outcome(sess, 1, ts, r.w.Marker)},
		Attempts: []abi.ProviderAttempt{r.attempt(sess, 1, ts)},
	}
	if n%2 == 0 {
		b.Pins = []abi.SessionID{abi.SessionID(sess)}
	}
	return b
}

// openStore opens the session store, recording the open.
func (r *run) openStore() *host.Store {
	var s *host.Store
	r.do(Op{Kind: KindOpen, Target: TargetStore}, func() (err error) {
		s, err = host.OpenWithConfig(r.w.StorePath(), r.w.config(r.kek, r.storeClock))
		return err
	})
	return s
}

func (r *run) storeClock() time.Time { return r.w.Start }

// closeDB records the close of a store, ledger or rollover.
func (r *run) closeDB(t Target, c interface{ Close() error }) {
	op := Op{Kind: KindClose, Target: t}
	op.Err = protect(c.Close)
	r.o.add(op)
}

// appendEvents appends events to s as one appender, recording each.
func (r *run) appendEvents(s *host.Store, sess string, from, to int, ts time.Time, marker []byte) {
	for i := from; i <= to; i++ {
		ev := r.event(sess, i, ts.Add(time.Duration(i)*time.Second), marker)
		op := Op{Kind: KindAppend, Target: TargetStore, Event: &ev}
		r.do(op, func() error {
			id, err := s.Append(r.ctx, ev)
			ev.ID = id
			return err
		})
	}
}

// storePhase: the session store and the cost ledger, written at once by
// several goroutines, then synced, retained, dropped and closed.
func (r *run) storePhase() {
	w := r.w
	s := r.openStore()
	if s == nil {
		return
	}
	defer r.closeDB(TargetStore, s)
	var l *host.CostLedger
	r.do(Op{Kind: KindOpen, Target: TargetLedger}, func() (err error) {
		l, err = host.OpenCostLedgerWithConfig(w.LedgerPath(), w.config(r.kek, r.storeClock))
		return err
	})
	if l != nil {
		defer r.closeDB(TargetLedger, l)
	}

	// Old history first: the content retention and the metadata drop
	// will remove, and a pinned old session they must keep.
	old := w.Start.Add(-40 * 24 * time.Hour)
	ancient := w.Start.Add(-400 * 24 * time.Hour)
	r.appendEvents(s, "old-0", 1, 3, old, w.EraseMarker())
	r.appendEvents(s, "old-pinned", 1, 3, old, w.Marker)
	r.appendEvents(s, "ancient-0", 1, 3, ancient, w.EraseMarker())
	for _, sess := range []string{"old-0", "ancient-0"} {
		ts := old
		if sess == "ancient-0" {
			ts = ancient
		}
		in := r.intent(sess, 1, ts, w.EraseMarker())
		r.do(Op{Kind: KindIntent, Target: TargetStore, Intent: &in}, func() error { return s.RecordToolIntent(r.ctx, in) })
		out := r.outcome(sess, 2, ts, w.EraseMarker())
		out.CallID = in.CallID
		r.do(Op{Kind: KindOutcome, Target: TargetStore, Outcome: &out}, func() error { return s.RecordToolOutcome(r.ctx, out) })
	}
	r.do(Op{Kind: KindPin, Target: TargetStore, Session: "old-pinned"}, func() error { return s.Pin(r.ctx, "old-pinned") })

	// Then everyone at once: appenders, a tool runner, attempts recorded
	// in the store then the ledger, batches, ledger entries.
	recent := w.Start.Add(-10 * time.Minute)
	var wg sync.WaitGroup
	var panics atomic.Value
	spawn := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := protect(func() error { f(); return nil }); err != nil {
				panics.Store(err)
			}
		}()
	}
	for g := range w.Appenders {
		spawn(func() { r.appendEvents(s, fmt.Sprintf("live-%d", g), 1, w.Events, recent, w.Marker) })
	}
	spawn(func() {
		for n := 1; n <= w.Events; n++ {
			ts := recent.Add(time.Duration(n) * time.Minute)
			in := r.intent("tools", n, ts, w.Marker)
			if !r.do(Op{Kind: KindIntent, Target: TargetStore, Intent: &in}, func() error { return s.RecordToolIntent(r.ctx, in) }) {
				continue
			}
			if n%3 == 0 {
				continue // orphaned: the tool "crashed"
			}
			out := r.outcome("tools", n, ts, w.Marker)
			r.do(Op{Kind: KindOutcome, Target: TargetStore, Outcome: &out}, func() error { return s.RecordToolOutcome(r.ctx, out) })
		}
	})
	src := s.ID()
	spawn(func() {
		for n := 1; n <= w.Events; n++ {
			a := r.attempt(fmt.Sprintf("att-%d", n), n, recent.Add(time.Duration(n)*time.Second))
			if !r.do(Op{Kind: KindAttempt, Target: TargetStore, Attempt: &a}, func() (err error) {
				a.ID, err = s.RecordAttempt(r.ctx, a)
				return err
			}) || l == nil {
				continue
			}
			la := a
			for try := range 2 { // retried once: the ledger records an attempt once
				if r.do(Op{Kind: KindLedgerAtt, Target: TargetLedger, Attempt: &la, Source: src, Retry: try > 0}, func() error {
					_, err := l.RecordAttempt(r.ctx, src, la)
					return err
				}) {
					break
				}
			}
		}
	})
	spawn(func() {
		for n := 1; n <= max(2, w.Events/2); n++ {
			b := r.batch(fmt.Sprintf("batch-%d", n), n, recent.Add(time.Duration(n)*time.Second))
			if r.do(Op{Kind: KindBatch, Target: TargetStore, Batch: &b}, func() error {
				written, err := s.WriteBatches(r.ctx, b)
				if err == nil && written != 1 {
					err = fmt.Errorf("reliability: WriteBatches wrote %d of 1 new batch", written)
				}
				return err
			}) {
				continue
			}
			// Retried under its key, as an importer does: written once
			// whether or not the failed call reached the disk.
			r.do(Op{Kind: KindBatch, Target: TargetStore, Batch: &b, Retry: true}, func() error {
				_, err := s.WriteBatches(r.ctx, b)
				return err
			})
		}
	})
	if l != nil {
		spawn(func() {
			for n := 1; n <= w.Events; n++ {
				e := ledgerEntry(w, n)
				r.do(Op{Kind: KindLedger, Target: TargetLedger, Entry: &e}, func() (err error) {
					e.ID, err = l.RecordEntry(r.ctx, e)
					return err
				})
			}
		})
	}
	wg.Wait()
	if p, ok := panics.Load().(error); ok {
		r.o.add(Op{Kind: KindOpen, Target: TargetStore, Err: p})
	}

	if l != nil {
		r.do(Op{Kind: KindSync, Target: TargetLedger, Source: src}, func() error {
			_, err := l.SyncAttempts(r.ctx, src, s)
			return err
		})
	}
	r.do(Op{Kind: KindRetention, Target: TargetStore, Cutoff: w.Start.Add(-RetentionTTL)}, func() error {
		_, err := s.ApplyRetention(r.ctx, RetentionTTL)
		return err
	})
	r.do(Op{Kind: KindDrop, Target: TargetStore, Cutoff: w.Start.Add(-MetadataAge)}, func() error {
		_, err := s.DropMetadata(r.ctx, MetadataAge, nil)
		return err
	})
	r.appendEvents(s, "after-retention", 1, 2, w.Start, w.Marker)
}

// ledgerEntry returns ledger entry n: its own session and provider, at a
// minute of the hour before Start, so that a period around it reads it
// from the entries and a total from the hourly totals.
func ledgerEntry(w Workload, n int) host.LedgerEntry {
	return host.LedgerEntry{
		Time:    w.Start.Add(-50*time.Minute + time.Duration(n)*time.Minute),
		Session: fmt.Sprintf("led-%d", n), Provider: fmt.Sprintf("prov-%d", n), Model: "m-" + string(w.Marker),
		RequestID: fmt.Sprintf("lreq-%d", n), InputTokens: n, OutputTokens: 2 * n,
		Cost: abi.NanoUSD(7_000_000 * n),
	}
}

// rekeyPhase replaces the data keys of the store and the ledger, then
// writes to the store under its new key.
func (r *run) rekeyPhase() {
	for _, t := range []struct {
		t    Target
		path string
	}{{TargetStore, r.w.StorePath()}, {TargetLedger, r.w.LedgerPath()}} {
		op := Op{Kind: KindRekey, Target: t.t}
		if dek, _, err := keyring.LoadDEK(t.path, keyring.RawKEK(r.kek)); err == nil {
			op.DEK = sha256.Sum256(dek)
			clear(dek)
		}
		r.do(op, func() error { return host.Rekey(t.path, keyring.RawKEK(r.kek)) })
	}
	s := r.openStore()
	if s == nil {
		return
	}
	r.appendEvents(s, "after-rekey", 1, 2, r.w.Start, r.w.Marker)
	r.closeDB(TargetStore, s)
}

// monthsPhase writes to a monthly rollover before and after its clock
// crosses into the next month.
func (r *run) monthsPhase() {
	w := r.w
	var now atomic.Int64
	now.Store(w.Start.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	var m *host.MonthlyRollover
	if !r.do(Op{Kind: KindOpen, Target: TargetMonths}, func() (err error) {
		m, err = host.NewMonthlyRolloverWithConfig(w.MonthsDir(), w.config(r.kek, clock))
		return err
	}) {
		return
	}
	defer r.closeDB(TargetMonths, m)
	write := func(half int) {
		at := clock()
		base := half * w.Events
		for i := 1; i <= w.Events; i++ {
			ev := r.event("month-0", base+i, at.Add(time.Duration(i)*time.Second), w.Marker)
			r.do(Op{Kind: KindAppend, Target: TargetMonths, Event: &ev}, func() error {
				id, err := m.Append(r.ctx, ev)
				ev.ID = id
				return err
			})
		}
		in := r.intent("month-tools", half+1, at, w.Marker)
		r.do(Op{Kind: KindIntent, Target: TargetMonths, Intent: &in}, func() error { return m.RecordToolIntent(r.ctx, in) })
		if half > 0 { // the outcome of the first month's call, in the second
			out := r.outcome("month-tools", half, at, w.Marker)
			r.do(Op{Kind: KindOutcome, Target: TargetMonths, Outcome: &out}, func() error { return m.RecordToolOutcome(r.ctx, out) })
		}
		a := r.attempt(fmt.Sprintf("month-att-%d", half), half, at)
		r.do(Op{Kind: KindAttempt, Target: TargetMonths, Attempt: &a}, func() (err error) {
			a.ID, err = m.RecordAttempt(r.ctx, a)
			return err
		})
		b := r.batch(fmt.Sprintf("month-batch-%d", half), half, at)
		r.do(Op{Kind: KindBatch, Target: TargetMonths, Batch: &b}, func() error {
			written, err := m.WriteBatches(r.ctx, b)
			if err == nil && written != 1 {
				err = fmt.Errorf("reliability: WriteBatches wrote %d of 1 new batch", written)
			}
			return err
		})
	}
	write(0)
	now.Store(w.monthsEnd().UnixNano())
	r.o.add(Op{Kind: KindMonthClock, Target: TargetMonths})
	write(1)
}

// rotatePhase rewraps every data key under NewKEK, then writes to the
// store under it.
func (r *run) rotatePhase() {
	w := r.w
	ok := true
	for _, t := range []struct {
		t    Target
		path string
	}{{TargetStore, w.StorePath()}, {TargetLedger, w.LedgerPath()}} {
		if !r.do(Op{Kind: KindRotate, Target: t.t}, func() error {
			return keyring.RotateKEKWith(t.path, keyring.RawKEK(w.KEK), keyring.RawKEK(w.NewKEK))
		}) {
			ok = false
		}
	}
	var m *host.MonthlyRollover
	if r.do(Op{Kind: KindOpen, Target: TargetMonths}, func() (err error) {
		m, err = host.NewMonthlyRolloverWithConfig(w.MonthsDir(), w.config(w.KEK, func() time.Time { return w.monthsEnd() }))
		return err
	}) {
		if !r.do(Op{Kind: KindRotate, Target: TargetMonths}, func() error { return m.RotateKEK(keyring.RawKEK(w.NewKEK)) }) {
			ok = false
		}
		r.closeDB(TargetMonths, m)
	} else {
		ok = false
	}
	if !ok {
		return // which KEK opens what is Check's to find out
	}
	r.kek = w.NewKEK
	s := r.openStore()
	if s == nil {
		return
	}
	r.appendEvents(s, "after-rotate", 1, 2, w.Start, w.Marker)
	r.closeDB(TargetStore, s)
}
