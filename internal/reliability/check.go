package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
	"github.com/ncruces/go-sqlite3"
)

// ErrUnopenable is returned (wrapped) by Check when a database of the
// workload does not open without faults under any KEK the oracle allows.
var ErrUnopenable = errors.New("reliability: database does not reopen")

// Result is what Check found.
type Result struct {
	// Tried counts the write operations attempted, Acked those
	// acknowledged, all of which were checked.
	Tried, Acked int
	// Lost counts acknowledged writes missing or changed (a record, an
	// erasure, a rekey, a rotation); it must be 0.
	Lost int
	// HalfPresent counts operations of several records (a batch, a
	// ledger entry and its totals, a retention, a drop) found partly
	// applied; it must be 0.
	HalfPresent int
	// Wrong counts records present that no operation wrote, or present
	// twice, or different from what was written; it must be 0.
	Wrong int
	// Verified counts the database files host.Verify checked; Verify
	// lists those it found damaged or could not check.
	Verified int
	Verify   []string
	// MarkerHits lists the files that hold the plaintext marker (for an
	// encrypted run) or, once a retention was acknowledged, the marker
	// of the erased content.
	MarkerHits []string
	// Unusable lists the databases that, reopened, refused a write or
	// did not read it back.
	Unusable []string
	// Problems describes every finding above, one line each.
	Problems []string
}

// OK reports whether Check found nothing wrong.
func (r *Result) OK() bool {
	return r.Lost == 0 && r.HalfPresent == 0 && r.Wrong == 0 && len(r.Verify) == 0 && len(r.MarkerHits) == 0 && len(r.Unusable) == 0
}

// String summarizes r on one line, then its problems.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tried %d, acked %d, lost %d, half-present %d, wrong %d, verified %d files (%d failed), marker hits %d, unusable %d",
		r.Tried, r.Acked, r.Lost, r.HalfPresent, r.Wrong, r.Verified, len(r.Verify), len(r.MarkerHits), len(r.Unusable))
	for _, p := range r.Problems {
		b.WriteString("\n  " + p)
	}
	for _, p := range r.MarkerHits {
		b.WriteString("\n  marker: " + p)
	}
	return b.String()
}

func (r *Result) problem(counter *int, format string, args ...any) {
	if counter != nil {
		*counter++
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// checker is one Check in progress.
type checker struct {
	ctx context.Context
	w   Workload
	ops []Op
	res *Result
	// attempts maps the request IDs of the store's attempts present to
	// the IDs the store holds them under, for the ledger's check.
	attempts map[string]int64
}

// Check reopens the workload's databases without faults, under whichever
// KEK the oracle allows, and checks them against o (see the package
// documentation). It returns an error, with what it found so far, when a
// database does not reopen or a read fails: that is a failure too.
func Check(ctx context.Context, w Workload, o *Oracle) (Result, error) {
	var res Result
	w, err := w.withDefaults()
	if err != nil {
		return res, err
	}
	c := &checker{ctx: ctx, w: w, ops: o.Ops(), res: &res, attempts: make(map[string]int64)}
	res.Tried, res.Acked = o.Counts()
	keks := make(map[Target][]byte)
	for _, t := range []Target{TargetStore, TargetLedger, TargetMonths} {
		kek, err := c.checkTarget(t)
		if err != nil {
			return res, err
		}
		keks[t] = kek
	}
	c.verify(keks)
	c.scan()
	return res, nil
}

// ops of target t, in order.
func (c *checker) targetOps(t Target) []Op {
	var ops []Op
	for _, op := range c.ops {
		if op.Target == t {
			ops = append(ops, op)
		}
	}
	return ops
}

// lastOp returns the last op of kind k in ops, or nil.
func lastOp(ops []Op, k Kind) *Op {
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].Kind == k {
			return &ops[i]
		}
	}
	return nil
}

// keks returns the KEKs to try on target t, the one that must work first,
// and whether only the first may work (an acknowledged rotation).
func (c *checker) keks(ops []Op) (try [][]byte, strict bool) {
	if !c.w.Encrypted {
		return [][]byte{nil}, true
	}
	rot := lastOp(ops, KindRotate)
	switch {
	case rot == nil:
		return [][]byte{c.w.KEK}, true
	case rot.Acked:
		return [][]byte{c.w.NewKEK}, true
	default:
		return [][]byte{c.w.NewKEK, c.w.KEK}, false
	}
}

// exists reports whether any op was attempted on t or its files exist.
func (c *checker) exists(t Target) bool {
	var path string
	switch t {
	case TargetStore:
		path = c.w.StorePath()
	case TargetLedger:
		path = c.w.LedgerPath()
	default:
		path = c.w.MonthsDir()
	}
	_, err := os.Stat(path)
	return err == nil
}

// checkTarget opens target t and checks it; it returns the KEK it opened with.
func (c *checker) checkTarget(t Target) ([]byte, error) {
	ops := c.targetOps(t)
	if len(ops) == 0 && !c.exists(t) {
		return nil, nil // the run stopped before it
	}
	// Any database the run tried to open must open now, even one whose
	// creation failed: a harness opens it again.
	try, strict := c.keks(ops)
	var errs []error
	for _, kek := range try {
		var err error
		switch t {
		case TargetStore:
			err = c.checkStore(ops, kek)
		case TargetLedger:
			err = c.checkLedger(ops, kek)
		default:
			err = c.checkMonths(ops, kek)
		}
		if err == nil {
			c.checkKeys(t, ops, kek)
			return kek, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, keyring.ErrWrongKEK) {
			break
		}
	}
	if t == TargetMonths && c.w.Encrypted && !strict {
		// A rollover's rotation that failed part way leaves months under
		// either KEK: the documented recovery is to call it again.
		if err := c.recoverMonths(); err == nil {
			if err := c.checkMonths(ops, c.w.NewKEK); err == nil {
				return c.w.NewKEK, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s: %w", ErrUnopenable, t, errors.Join(errs...))
}

// recoverMonths rotates the rollover's months again, from the old KEK to the new.
func (c *checker) recoverMonths() error {
	m, err := host.NewMonthlyRolloverWithConfig(c.w.MonthsDir(), c.w.config(c.w.KEK, c.w.monthsEnd))
	if err != nil {
		return err
	}
	err = m.RotateKEK(keyring.RawKEK(c.w.NewKEK))
	return errors.Join(err, m.Close())
}

// checkKeys checks what an acknowledged rekey and rotation promised.
func (c *checker) checkKeys(t Target, ops []Op, kek []byte) {
	if !c.w.Encrypted || t == TargetMonths {
		return
	}
	path := c.w.StorePath()
	if t == TargetLedger {
		path = c.w.LedgerPath()
	}
	if rk := lastOp(ops, KindRekey); rk != nil && rk.Acked && rk.DEK != ([32]byte{}) {
		dek, _, err := keyring.LoadDEK(path, keyring.RawKEK(kek))
		if err != nil {
			c.res.problem(&c.res.Lost, "%s: load the DEK after an acknowledged rekey: %v", t, err)
		} else {
			if sha256.Sum256(dek) == rk.DEK {
				c.res.problem(&c.res.Lost, "%s: rekey acknowledged but the data key is unchanged", t)
			}
			clear(dek)
		}
	}
	if rot := lastOp(ops, KindRotate); rot != nil && rot.Acked {
		dek, _, err := keyring.LoadDEK(path, keyring.RawKEK(c.w.KEK))
		clear(dek)
		if !errors.Is(err, keyring.ErrWrongKEK) {
			c.res.problem(&c.res.Lost, "%s: rotation acknowledged but the old KEK still opens the header (%v)", t, err)
		}
	}
}

// reader is what the data checks read: a Store or a MonthlyRollover.
type reader interface {
	EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error)
	ToolIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error)
	ToolOutcomes(ctx context.Context, sess abi.SessionID) ([]abi.ToolOutcome, error)
	AttemptsSince(ctx context.Context, afterID int64, limit int) ([]abi.ProviderAttempt, error)
	Pinned(ctx context.Context) ([]abi.SessionID, error)
	OrphanIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error)
}

func (c *checker) checkStore(ops []Op, kek []byte) error {
	s, err := host.OpenWithConfig(c.w.StorePath(), c.w.config(kek, func() time.Time { return c.w.Start }))
	if err != nil {
		return err
	}
	err = c.checkData(TargetStore, s, ops)
	if err == nil {
		c.usable(TargetStore, s)
	}
	return errors.Join(err, s.Close())
}

// usableSession is the session of the event Check writes to show a
// database still takes writes; the checks ignore it.
const usableSession = "check-usable"

// usable appends an event to a reopened store or rollover and reads it back.
func (c *checker) usable(t Target, a interface {
	Append(ctx context.Context, env abi.EventEnvelope) (uint64, error)
	EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error)
}) {
	ev := abi.EventEnvelope{Session: usableSession, Kind: abi.KindUserMessage, TS: c.w.Start, Payload: []byte(`{"check":"usable"}`)}
	id, err := a.Append(c.ctx, ev)
	if err == nil {
		var evs []abi.EventEnvelope
		evs, err = a.EventsSince(c.ctx, usableSession, id-1, 1)
		if err == nil && (len(evs) != 1 || evs[0].ID != id) {
			err = fmt.Errorf("the event appended (ID %d) does not read back", id)
		}
	}
	if err != nil {
		c.res.Unusable = append(c.res.Unusable, fmt.Sprintf("%s: %v", t, err))
		c.res.problem(nil, "%s: unusable after reopening: %v", t, err)
	}
}

func (c *checker) checkMonths(ops []Op, kek []byte) error {
	m, err := host.NewMonthlyRolloverWithConfig(c.w.MonthsDir(), c.w.config(kek, c.w.monthsEnd))
	if err != nil {
		return err
	}
	err = c.checkData(TargetMonths, m, ops)
	if err == nil {
		c.usable(TargetMonths, m)
	}
	return errors.Join(err, m.Close())
}

// record is one record an op wrote: what the store must (acked) or may hold.
type record struct {
	op    *Op
	kind  string // "event", "intent", "outcome", "attempt", "pin"
	sess  abi.SessionID
	key   string // turn, call ID or request ID
	at    time.Time
	ev    *abi.EventEnvelope
	in    *abi.ToolIntent
	out   *abi.ToolOutcome
	att   *abi.ProviderAttempt
	found bool // present in the store
}

// records lists what ops wrote, in order.
func records(ops []Op) []*record {
	var recs []*record
	addEv := func(op *Op, ev *abi.EventEnvelope) {
		recs = append(recs, &record{op: op, kind: "event", sess: ev.Session, key: fmt.Sprint(ev.Turn), at: ev.TS, ev: ev})
	}
	addIn := func(op *Op, in *abi.ToolIntent) {
		recs = append(recs, &record{op: op, kind: "intent", sess: in.Session, key: in.CallID, at: in.StartedAt, in: in})
	}
	addOut := func(op *Op, out *abi.ToolOutcome) {
		recs = append(recs, &record{op: op, kind: "outcome", sess: out.Session, key: out.CallID, at: out.EndedAt, out: out})
	}
	addAtt := func(op *Op, a *abi.ProviderAttempt) {
		recs = append(recs, &record{op: op, kind: "attempt", sess: abi.SessionID(a.Session), key: a.RequestID, at: a.StartedAt, att: a})
	}
	for i := range ops {
		op := &ops[i]
		switch op.Kind {
		case KindAppend:
			addEv(op, op.Event)
		case KindIntent:
			addIn(op, op.Intent)
		case KindOutcome:
			addOut(op, op.Outcome)
		case KindAttempt:
			addAtt(op, op.Attempt)
		case KindPin:
			recs = append(recs, &record{op: op, kind: "pin", sess: op.Session, key: string(op.Session)})
		case KindBatch:
			b := op.Batch
			for j := range b.Events {
				addEv(op, &b.Events[j])
			}
			for j := range b.Intents {
				addIn(op, &b.Intents[j])
			}
			for j := range b.Outcomes {
				addOut(op, &b.Outcomes[j])
			}
			for j := range b.Attempts {
				addAtt(op, &b.Attempts[j])
			}
			for _, p := range b.Pins {
				recs = append(recs, &record{op: op, kind: "pin", sess: p, key: string(p)})
			}
		}
	}
	return recs
}

// erasure is what a retention or drop op means for a record.
type erasure int

const (
	untouched erasure = iota // the op does not apply to it
	applied                  // the op committed and applies: erased
	unknown                  // the op failed and applies: either, with every other record it applies to
)

func eraseState(op *Op, at time.Time, pinned bool) erasure {
	if op == nil || pinned || !at.Before(op.Cutoff) {
		return untouched
	}
	if op.Committed {
		return applied
	}
	return unknown
}

// checkData checks the records ops wrote to target against rd.
func (c *checker) checkData(t Target, rd reader, ops []Op) error {
	ctx, res := c.ctx, c.res
	recs := records(ops)
	retention, drop := lastOp(ops, KindRetention), lastOp(ops, KindDrop)

	pinnedList, err := rd.Pinned(ctx)
	if err != nil {
		return err
	}
	pinned := make(map[abi.SessionID]bool)
	for _, p := range pinnedList {
		pinned[p] = true
	}
	atts, err := rd.AttemptsSince(ctx, 0, 0)
	if err != nil {
		return err
	}
	byReq := make(map[string][]abi.ProviderAttempt)
	for _, a := range atts {
		byReq[a.RequestID] = append(byReq[a.RequestID], a)
	}
	type sessData struct {
		events   map[string][]abi.EventEnvelope
		intents  map[string][]abi.ToolIntent
		outcomes map[string][]abi.ToolOutcome
	}
	sessions := make(map[abi.SessionID]*sessData)
	for _, r := range recs {
		if sessions[r.sess] != nil || r.kind == "attempt" || r.kind == "pin" {
			continue
		}
		d := &sessData{events: map[string][]abi.EventEnvelope{}, intents: map[string][]abi.ToolIntent{}, outcomes: map[string][]abi.ToolOutcome{}}
		evs, err := rd.EventsSince(ctx, r.sess, 0, 0)
		if err != nil {
			return err
		}
		for _, e := range evs {
			d.events[fmt.Sprint(e.Turn)] = append(d.events[fmt.Sprint(e.Turn)], e)
		}
		ins, err := rd.ToolIntents(ctx, r.sess)
		if err != nil {
			return err
		}
		for _, in := range ins {
			d.intents[in.CallID] = append(d.intents[in.CallID], in)
		}
		outs, err := rd.ToolOutcomes(ctx, r.sess)
		if err != nil {
			return err
		}
		for _, out := range outs {
			d.outcomes[out.CallID] = append(d.outcomes[out.CallID], out)
		}
		sessions[r.sess] = d
	}

	lost := make(map[*Op]bool)
	type group struct{ erased, kept int }
	retGroup, dropGroup := &group{}, &group{}
	seen := make(map[string]bool) // kind/session/key of every expected record
	for _, r := range recs {
		id := r.kind + "/" + string(r.sess) + "/" + r.key
		seen[id] = true
		what := fmt.Sprintf("%s: %s %s of %s (op %d %s, acked %v)", t, r.kind, r.key, r.sess, r.op.Seq, r.op.Kind, r.op.Acked)
		isPinned := pinned[r.sess]
		var ret, drp erasure
		if r.kind != "pin" && r.kind != "attempt" {
			ret, drp = eraseState(retention, r.at, isPinned), eraseState(drop, r.at, isPinned)
		}
		var n int
		var diff string
		var erased bool // the record's content reads back erased
		switch r.kind {
		case "pin":
			if pinned[r.sess] {
				n = 1
			}
		case "attempt":
			got := byReq[r.key]
			n = len(got)
			if n > 0 {
				diff = attemptDiff(r.att, &got[0], r.op.Acked && r.op.Kind != KindBatch)
				c.attempts[r.key] = got[0].ID
			}
		case "event":
			got := sessions[r.sess].events[r.key]
			n = len(got)
			if n > 0 {
				erased = got[0].Payload == nil
				diff = eventDiff(r.ev, &got[0], r.op.Acked && r.op.Kind != KindBatch)
			}
		case "intent":
			got := sessions[r.sess].intents[r.key]
			n = len(got)
			if n > 0 {
				erased = got[0].Args == nil
				diff = intentDiff(r.in, &got[0])
			}
		case "outcome":
			got := sessions[r.sess].outcomes[r.key]
			n = len(got)
			if n > 0 {
				erased = got[0].Result == nil && got[0].Error == ""
				diff = outcomeDiff(r.out, &got[0])
			}
		}
		r.found = n > 0
		if n > 1 {
			res.problem(&res.Wrong, "%s: present %d times", what, n)
		}
		switch {
		case drp == applied && r.found:
			res.problem(&res.Lost, "%s: present after an acknowledged metadata drop", what)
		case drp == unknown:
			if r.found {
				dropGroup.kept++
			} else if r.op.Acked {
				// A write that failed may be missing on its own account.
				dropGroup.erased++
			}
		case drp == applied:
		case !r.found && r.op.Acked:
			lost[r.op] = true
			res.problem(nil, "%s: missing", what)
		}
		if !r.found {
			continue
		}
		if diff != "" {
			if r.op.Acked {
				lost[r.op] = true
			} else {
				res.Wrong++
			}
			res.problem(nil, "%s: differs: %s", what, diff)
		}
		if r.kind == "event" || r.kind == "intent" || r.kind == "outcome" {
			switch {
			case erased && ret == untouched:
				if r.op.Acked {
					lost[r.op] = true
				} else {
					res.Wrong++
				}
				res.problem(nil, "%s: content erased, no retention applies", what)
			case !erased && ret == applied:
				res.problem(&res.Lost, "%s: content kept after an acknowledged retention", what)
			case ret == unknown && erased:
				retGroup.erased++
			case ret == unknown:
				retGroup.kept++
			}
		}
	}
	res.Lost += len(lost)

	// Partly applied multi-record operations.
	byOp := make(map[*Op][2]int)
	for _, r := range recs {
		if r.op.Kind != KindBatch {
			continue
		}
		v := byOp[r.op]
		if r.found {
			v[0]++
		} else {
			v[1]++
		}
		byOp[r.op] = v
	}
	for op, v := range byOp {
		if v[0] > 0 && v[1] > 0 {
			res.problem(&res.HalfPresent, "%s: batch %q (op %d, acked %v) half present: %d records present, %d missing", t, op.Batch.Key, op.Seq, op.Acked, v[0], v[1])
		}
	}
	if retGroup.erased > 0 && retGroup.kept > 0 {
		res.problem(&res.HalfPresent, "%s: failed retention half applied: %d records erased, %d kept", t, retGroup.erased, retGroup.kept)
	}
	if dropGroup.erased > 0 && dropGroup.kept > 0 {
		res.problem(&res.HalfPresent, "%s: failed metadata drop half applied: %d records deleted, %d kept", t, dropGroup.erased, dropGroup.kept)
	}

	// Orphans: exactly the intents present without an outcome present.
	orphans, err := rd.OrphanIntents(ctx, "")
	if err != nil {
		return err
	}
	isOrphan := make(map[string]bool)
	for _, in := range orphans {
		isOrphan[string(in.Session)+"/"+in.CallID] = true
	}
	for sess, d := range sessions {
		for call := range d.intents {
			want := len(d.outcomes[call]) == 0
			if got := isOrphan[string(sess)+"/"+call]; got != want {
				res.problem(&res.Wrong, "%s: intent %s of %s: listed as an orphan %v, its outcome present %v", t, call, sess, got, !want)
			}
			delete(isOrphan, string(sess)+"/"+call)
		}
	}
	for k := range isOrphan {
		res.problem(&res.Wrong, "%s: orphan intent %s that no operation wrote", t, k)
	}

	// Records nobody wrote.
	for sess, d := range sessions {
		for turn := range d.events {
			if !seen["event/"+string(sess)+"/"+turn] {
				res.problem(&res.Wrong, "%s: event turn %s of %s that no operation wrote", t, turn, sess)
			}
		}
		for call := range d.intents {
			if !seen["intent/"+string(sess)+"/"+call] {
				res.problem(&res.Wrong, "%s: intent %s of %s that no operation wrote", t, call, sess)
			}
		}
		for call := range d.outcomes {
			if !seen["outcome/"+string(sess)+"/"+call] {
				res.problem(&res.Wrong, "%s: outcome %s of %s that no operation wrote", t, call, sess)
			}
		}
	}
	for _, a := range atts {
		if !seen["attempt/"+a.Session+"/"+a.RequestID] {
			res.problem(&res.Wrong, "%s: attempt %d (%s) that no operation wrote", t, a.ID, a.Session)
		}
	}
	for p := range pinned {
		if !seen["pin/"+string(p)+"/"+string(p)] {
			res.problem(&res.Wrong, "%s: pin of %s that no operation wrote", t, p)
		}
	}
	return nil
}

// jsonEqual reports whether a and b are the same JSON text, whitespace aside.
func jsonEqual(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func eventDiff(want, got *abi.EventEnvelope, acked bool) string {
	var d []string
	if acked && got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID %d, acknowledged %d", got.ID, want.ID))
	}
	if got.Kind != want.Kind || !got.TS.Equal(want.TS) {
		d = append(d, fmt.Sprintf("kind/ts %s %v, wrote %s %v", got.Kind, got.TS, want.Kind, want.TS))
	}
	if got.Payload != nil && !jsonEqual(got.Payload, want.Payload) {
		d = append(d, "payload")
	}
	return strings.Join(d, "; ")
}

func intentDiff(want, got *abi.ToolIntent) string {
	var d []string
	if got.Turn != want.Turn || got.Tool != want.Tool || got.ArgsHash != want.ArgsHash || !got.StartedAt.Equal(want.StartedAt) {
		d = append(d, "fields")
	}
	if got.Args != nil && !jsonEqual(got.Args, want.Args) {
		d = append(d, "args")
	}
	return strings.Join(d, "; ")
}

func outcomeDiff(want, got *abi.ToolOutcome) string {
	var d []string
	if got.Status != want.Status || !got.EndedAt.Equal(want.EndedAt) {
		d = append(d, "fields")
	}
	erased := got.Result == nil && got.Error == ""
	if !erased && (got.Error != want.Error || (got.Result == nil) != (want.Result == nil) || (got.Result != nil && !jsonEqual(got.Result, want.Result))) {
		d = append(d, "result")
	}
	return strings.Join(d, "; ")
}

func attemptDiff(want, got *abi.ProviderAttempt, acked bool) string {
	w, g := *want, *got
	if !acked {
		w.ID = g.ID
	}
	w.Price, g.Price = nil, nil
	if !w.StartedAt.Equal(g.StartedAt) || !w.EndedAt.Equal(g.EndedAt) {
		return fmt.Sprintf("times %v–%v, wrote %v–%v", g.StartedAt, g.EndedAt, w.StartedAt, w.EndedAt)
	}
	w.StartedAt, w.EndedAt = g.StartedAt, g.EndedAt
	if w != g {
		return fmt.Sprintf("%+v, wrote %+v", g, w)
	}
	return ""
}

// checkLedger checks the cost ledger: entries against their totals, and
// the store's attempts, each counted once or not at all.
func (c *checker) checkLedger(ops []Op, kek []byte) error {
	ctx, res := c.ctx, c.res
	l, err := host.OpenCostLedgerWithConfig(c.w.LedgerPath(), c.w.config(kek, func() time.Time { return c.w.Start }))
	if err != nil {
		return err
	}
	defer l.Close()
	byProv, err := l.CostByProviderNanos(ctx, time.Time{})
	if err != nil {
		return err
	}
	bySess, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		return err
	}
	known := make(map[string]bool)
	flagged := make(map[string]bool) // sessions with a finding already
	for i := range ops {
		op := &ops[i]
		if op.Kind != KindLedger {
			continue
		}
		e := op.Entry
		known[e.Session] = true
		what := fmt.Sprintf("ledger: entry %s (op %d, acked %v)", e.Session, op.Seq, op.Acked)
		got := byProv[e.Provider]
		inPeriod, err := l.CostInPeriod(ctx, e.Provider, e.Time.Add(-5*time.Minute), e.Time.Add(5*time.Minute))
		if err != nil {
			return err
		}
		flagged[e.Session] = true
		switch {
		case inPeriod != got || bySess[e.Session] != got:
			res.problem(&res.HalfPresent, "%s: entries say %d, hourly totals %d by provider and %d by session", what, inPeriod, got, bySess[e.Session])
		case op.Acked && got != e.Cost:
			res.problem(&res.Lost, "%s: cost %d, acknowledged %d", what, got, e.Cost)
		case got != 0 && got != e.Cost:
			res.problem(&res.Wrong, "%s: cost %d, wrote %d", what, got, e.Cost)
		default:
			flagged[e.Session] = false
		}
	}
	// The store's attempts: each in the ledger once or not at all; once
	// if its own record was acknowledged, or if a sync was and the
	// attempt is in the store.
	// A sync covers the attempts acknowledged before it: an attempt
	// whose write failed may still be durable (its commit's sync failed
	// after the WAL held it whole), invisible to the running sync but
	// present after a reopen, and may be in the ledger or not.
	var syncSeq int
	if op := lastOp(ops, KindSync); op != nil && op.Acked {
		syncSeq = op.Seq
	}
	ledgerAcked := make(map[string]bool)
	for _, op := range ops {
		if op.Kind == KindLedgerAtt && op.Acked {
			ledgerAcked[op.Attempt.RequestID] = true
		}
	}
	for _, r := range records(c.targetOps(TargetStore)) {
		if r.kind != "attempt" {
			continue
		}
		known[string(r.sess)] = true
		cost := abi.NanoUSD(r.att.EstimatedUSD*1e9 + 0.5)
		got := bySess[string(r.sess)]
		what := fmt.Sprintf("ledger: attempt of %s", r.sess)
		switch {
		case got != 0 && got != cost:
			res.problem(&res.Wrong, "%s: cost %d, the attempt's %d", what, got, cost)
		case got != 0 && c.attempts[r.key] == 0:
			res.problem(&res.Wrong, "%s: in the ledger, not in the store", what)
		case got == 0 && ledgerAcked[r.key]:
			res.problem(&res.Lost, "%s: acknowledged ledger record missing", what)
		case got == 0 && syncSeq > 0 && r.op.Acked && r.op.Seq < syncSeq && c.attempts[r.key] != 0:
			res.problem(&res.Lost, "%s: missing after an acknowledged sync", what)
		default:
			continue
		}
		flagged[string(r.sess)] = true
	}
	for sess := range bySess {
		if !known[sess] {
			res.problem(&res.Wrong, "ledger: session %s that no operation wrote", sess)
		}
	}
	if err := l.Close(); err != nil {
		return err
	}
	return c.checkLedgerRows(ops, kek, syncSeq > 0, ledgerAcked, flagged)
}

// checkLedgerRows compares every field of the ledger's entries with what
// the operations wrote: a ledger entry's own fields, and an attempt's
// entry against the attempt the store holds. Sessions already flagged by
// the totals' check are not reported twice.
func (c *checker) checkLedgerRows(ops []Op, kek []byte, synced bool, ledgerAcked, flagged map[string]bool) error {
	res := c.res
	rows, err := ledgerRows(c.ctx, c.w.LedgerPath(), kek)
	if err != nil {
		return err
	}
	bySess := make(map[string][]ledgerRow)
	for _, r := range rows {
		bySess[r.Session] = append(bySess[r.Session], r)
	}
	for i := range ops {
		op := &ops[i]
		if op.Kind != KindLedger {
			continue
		}
		e := op.Entry
		got := bySess[e.Session]
		what := fmt.Sprintf("ledger: entry %s (op %d, acked %v)", e.Session, op.Seq, op.Acked)
		switch {
		case len(got) > 1:
			res.problem(&res.Wrong, "%s: present %d times", what, len(got))
		case len(got) == 0 || flagged[e.Session]:
		case got[0].Source != "":
			res.problem(&res.Wrong, "%s: recorded as an attempt of %q", what, got[0].Source)
		default:
			if d := ledgerDiff(*e, got[0].LedgerEntry, op.Acked); d != "" {
				if op.Acked {
					res.problem(&res.Lost, "%s: acknowledged entry differs: %s", what, d)
				} else {
					res.problem(&res.Wrong, "%s: differs: %s", what, d)
				}
			}
		}
	}
	source := ""
	for _, op := range ops {
		if op.Source != "" {
			source = op.Source
			break
		}
	}
	for _, r := range records(c.targetOps(TargetStore)) {
		if r.kind != "attempt" || flagged[string(r.sess)] {
			continue
		}
		var got []ledgerRow
		for _, row := range bySess[string(r.sess)] {
			if row.RequestID == r.key {
				got = append(got, row)
			}
		}
		what := fmt.Sprintf("ledger: attempt %s of %s", r.key, r.sess)
		if len(got) > 1 {
			res.problem(&res.Wrong, "%s: present %d times", what, len(got))
			continue
		}
		if len(got) == 0 {
			continue // the totals' check reports a missing one
		}
		a := r.att
		want := host.LedgerEntry{
			ID: got[0].ID, Time: a.StartedAt, Session: a.Session, Provider: a.Provider, Model: a.Model,
			RequestID: a.RequestID, AttemptID: c.attempts[r.key],
			InputTokens: a.InputTokens, OutputTokens: a.OutputTokens, CacheReadTokens: a.CacheReadTokens,
			CacheWriteTokens: a.CacheWriteTokens, CacheWrite1hTokens: a.CacheWrite1hTokens,
			Cost: abi.NanoUSD(a.EstimatedUSD*1e9 + 0.5),
		}
		d := ledgerDiff(want, got[0].LedgerEntry, true)
		if source != "" && got[0].Source != source {
			d = strings.TrimPrefix(d+fmt.Sprintf("; source %q, want %q", got[0].Source, source), "; ")
		}
		if d == "" {
			continue
		}
		if ledgerAcked[r.key] || (synced && c.attempts[r.key] != 0) {
			res.problem(&res.Lost, "%s: acknowledged entry differs: %s", what, d)
		} else {
			res.problem(&res.Wrong, "%s: differs: %s", what, d)
		}
	}
	return nil
}

// verify runs host.Verify on every database of the workload.
func (c *checker) verify(keks map[Target][]byte) {
	type db struct {
		path string
		kek  []byte
	}
	var dbs []db
	for _, t := range []Target{TargetStore, TargetLedger} {
		path := c.w.StorePath()
		if t == TargetLedger {
			path = c.w.LedgerPath()
		}
		if _, err := os.Stat(path); err == nil {
			dbs = append(dbs, db{path, keks[t]})
		}
	}
	months, _ := filepath.Glob(filepath.Join(c.w.MonthsDir(), "sessions-*.db"))
	sort.Strings(months)
	for _, m := range months {
		dbs = append(dbs, db{m, keks[TargetMonths]})
	}
	for _, d := range dbs {
		cfg := host.NewConfig()
		if c.w.Encrypted {
			cfg = cfg.WithKEKSource(keyring.RawKEK(d.kek))
		}
		c.res.Verified++
		rel, _ := filepath.Rel(c.w.Dir, d.path)
		if d.path == c.w.LedgerPath() {
			// host.Verify checks session stores; a ledger gets the same
			// two checks here.
			if err := verifyLedger(c.ctx, d.path, d.kek); err != nil {
				c.res.Verify = append(c.res.Verify, fmt.Sprintf("%s: %v", rel, err))
			}
			continue
		}
		rep, err := host.Verify(c.ctx, d.path, cfg, nil)
		switch {
		case err != nil:
			c.res.Verify = append(c.res.Verify, fmt.Sprintf("%s: %v", rel, err))
		case !rep.OK():
			c.res.Verify = append(c.res.Verify, fmt.Sprintf("%s: damaged %v, integrity %q", rel, rep.Damaged, rep.Integrity))
		}
	}
	for _, v := range c.res.Verify {
		c.res.problem(nil, "verify: %s", v)
	}
}

// scan looks for the marker in every file of the directory (encrypted
// runs), and for the erased content's marker once a retention was
// acknowledged.
func (c *checker) scan() {
	forms := map[string][]byte{}
	if c.w.Encrypted {
		for k, v := range storefiles.Forms(c.w.Marker) {
			forms[k] = v
		}
	} else if ret := lastOp(c.targetOps(TargetStore), KindRetention); ret != nil && ret.Acked {
		for k, v := range storefiles.Forms(c.w.EraseMarker()) {
			forms["erased "+k] = v
		}
	}
	if len(forms) == 0 {
		return
	}
	err := filepath.WalkDir(c.w.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.w.Dir, path)
		var hits []string
		for form, m := range forms {
			if n := bytes.Count(b, m); n > 0 {
				hits = append(hits, fmt.Sprintf("%s: %d× %s", rel, n, form))
			}
		}
		slices.Sort(hits)
		c.res.MarkerHits = append(c.res.MarkerHits, hits...)
		return nil
	})
	if err != nil {
		c.res.MarkerHits = append(c.res.MarkerHits, "scan: "+err.Error())
	}
}

// openLedgerSQL opens a closed cost ledger read-only with the engine:
// under its data key when kek is set (after checking that every page and
// WAL frame authenticates, when authenticate is set), in plaintext
// otherwise. done closes what it opened.
func openLedgerSQL(ctx context.Context, path string, kek []byte, authenticate bool) (conn *sqlite3.Conn, done func(), err error) {
	return openLedgerEngine(ctx, path, kek, authenticate, engine.Options{ReadOnly: true})
}

// openLedgerEngine is openLedgerSQL with the engine options o.
func openLedgerEngine(ctx context.Context, path string, kek []byte, authenticate bool, o engine.Options) (conn *sqlite3.Conn, done func(), err error) {
	var closers []func()
	done = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if kek != nil {
		dek, _, err := keyring.LoadDEK(path, keyring.RawKEK(kek))
		if err != nil {
			return nil, done, err
		}
		defer clear(dek)
		if authenticate {
			cr, err := sqlitevfs.CheckFiles(ctx, path, dek)
			if err != nil {
				return nil, done, err
			}
			if len(cr.Damaged) > 0 {
				return nil, done, fmt.Errorf("damaged: %v", cr.Damaged)
			}
		}
		k, err := engine.RegisterKey(dek)
		if err != nil {
			return nil, done, err
		}
		closers = append(closers, func() { k.Close() })
		o.VFS, o.Encrypted = k.Name, true
	}
	conn, err = engine.Open(path, o)
	if err != nil {
		return nil, done, err
	}
	closers = append(closers, func() { conn.Close() })
	return conn, done, nil
}

// verifyLedger checks a closed cost ledger as host.Verify checks a store:
// every page and WAL frame authenticates under its data key (kek nil: a
// plaintext ledger, not authenticated), then integrity_check finds it ok.
func verifyLedger(ctx context.Context, path string, kek []byte) error {
	conn, done, err := openLedgerSQL(ctx, path, kek, true)
	defer done()
	if err != nil {
		return err
	}
	st, _, err := conn.Prepare("PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer st.Close()
	var lines []string
	for st.Step() {
		if line := st.ColumnText(0); line != "ok" {
			lines = append(lines, line)
		}
	}
	if err := st.Err(); err != nil {
		return err
	}
	if len(lines) > 0 {
		return fmt.Errorf("integrity_check: %q", lines)
	}
	return nil
}

// ledgerRow is an entry of the cost ledger as stored, with the source of
// an attempt's entry ("" for other entries).
type ledgerRow struct {
	host.LedgerEntry
	Source string
}

// ledgerRows reads every entry of a closed cost ledger, every column the
// ledger keeps.
func ledgerRows(ctx context.Context, path string, kek []byte) ([]ledgerRow, error) {
	conn, done, err := openLedgerSQL(ctx, path, kek, false)
	defer done()
	if err != nil {
		return nil, err
	}
	st, _, err := conn.Prepare(`SELECT ts, id, session, provider, model, request_id, attempt_id,
		input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, nusd, ifnull(source, '')
		FROM entries ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var rows []ledgerRow
	for st.Step() {
		var r ledgerRow
		r.Time = time.Unix(0, st.ColumnInt64(0)).UTC()
		r.ID = st.ColumnInt64(1)
		r.Session, r.Provider, r.Model, r.RequestID = st.ColumnText(2), st.ColumnText(3), st.ColumnText(4), st.ColumnText(5)
		r.AttemptID = st.ColumnInt64(6)
		r.InputTokens, r.OutputTokens, r.CacheReadTokens = st.ColumnInt(7), st.ColumnInt(8), st.ColumnInt(9)
		r.CacheWriteTokens, r.CacheWrite1hTokens = st.ColumnInt(10), st.ColumnInt(11)
		r.Cost = abi.NanoUSD(st.ColumnInt64(12))
		r.Source = st.ColumnText(13)
		rows = append(rows, r)
	}
	return rows, st.Err()
}

// ledgerDiff compares an entry read back with the one written; the ID
// only when the write was acknowledged (it returned the ID).
func ledgerDiff(want, got host.LedgerEntry, acked bool) string {
	if !acked {
		want.ID = got.ID
	}
	if !want.Time.Equal(got.Time) {
		return fmt.Sprintf("time %v, wrote %v", got.Time, want.Time)
	}
	want.Time = got.Time
	if want != got {
		return fmt.Sprintf("%+v, wrote %+v", got, want)
	}
	return ""
}
