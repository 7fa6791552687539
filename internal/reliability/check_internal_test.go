package reliability

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// ranWorkload runs an encrypted workload without faults and returns it
// with its oracle.
func ranWorkload(t *testing.T) (Workload, *Oracle) {
	t.Helper()
	w := Workload{Dir: t.TempDir(), Encrypted: true, Marker: storefiles.NewMarker(), KEK: make([]byte, 32), NewKEK: make([]byte, 32), Events: 3, Appenders: 2, Start: DefaultStart}
	rand.Read(w.KEK)
	rand.Read(w.NewKEK)
	var o Oracle
	if err := w.Run(context.Background(), &o); err != nil {
		t.Fatal(err)
	}
	return w, &o
}

func check(t *testing.T, w Workload, o *Oracle) Result {
	t.Helper()
	res, err := Check(context.Background(), w, o)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	t.Logf("%s", res.String())
	return res
}

// TestCheckFindsLoss: an acknowledged event the store does not hold, a
// batch present in part, a planted marker and a damaged page each fail
// the check.
func TestCheckFindsLoss(t *testing.T) {
	t.Run("lost", func(t *testing.T) {
		w, o := ranWorkload(t)
		ev := abi.EventEnvelope{Session: "live-0", Turn: 99, Kind: abi.KindUserMessage, TS: w.Start, Payload: []byte(`{}`)}
		o.add(Op{Kind: KindAppend, Target: TargetStore, Event: &ev})
		if res := check(t, w, o); res.Lost != 1 || res.OK() {
			t.Fatalf("a missing acknowledged event: lost %d, want 1", res.Lost)
		}
	})
	t.Run("half", func(t *testing.T) {
		w, o := ranWorkload(t)
		b := *o.last(KindBatch, TargetStore).Batch
		b.Events = append(b.Events, abi.EventEnvelope{Session: b.Events[0].Session, Turn: 99, Kind: abi.KindUserMessage, TS: w.Start, Payload: []byte(`{}`)})
		o.add(Op{Kind: KindBatch, Target: TargetStore, Batch: &b, Err: os.ErrDeadlineExceeded})
		if res := check(t, w, o); res.HalfPresent != 1 || res.OK() {
			t.Fatalf("a failed batch present in part: half-present %d, want 1", res.HalfPresent)
		}
	})
	t.Run("phantom", func(t *testing.T) {
		w, o := ranWorkload(t)
		o.mu.Lock()
		for i := range o.ops {
			if o.ops[i].Kind == KindAppend && o.ops[i].Event.Session == "after-rotate" && o.ops[i].Event.Turn == 2 {
				o.ops = append(o.ops[:i], o.ops[i+1:]...)
				break
			}
		}
		o.mu.Unlock()
		if res := check(t, w, o); res.Wrong != 1 || res.OK() {
			t.Fatalf("an event no operation wrote: wrong %d, want 1", res.Wrong)
		}
	})
	t.Run("marker", func(t *testing.T) {
		w, o := ranWorkload(t)
		if err := os.WriteFile(filepath.Join(w.MonthsDir(), "leak"), append([]byte("x"), w.Marker...), 0o600); err != nil {
			t.Fatal(err)
		}
		if res := check(t, w, o); len(res.MarkerHits) != 1 || res.OK() {
			t.Fatalf("a planted marker: hits %q, want 1", res.MarkerHits)
		}
	})
	t.Run("damage", func(t *testing.T) {
		w, o := ranWorkload(t)
		f, err := os.OpenFile(w.LedgerPath(), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		if fi.Size() < 3*4096 {
			t.Fatalf("ledger of %d bytes: too small to damage a page beyond the schema", fi.Size())
		}
		if _, err := f.WriteAt([]byte{0xff, 0x00, 0xff}, fi.Size()-4096+100); err != nil {
			t.Fatal(err)
		}
		f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := Check(ctx, w, o)
		t.Logf("%v: %s", err, res.String())
		if err == nil && res.OK() {
			t.Fatal("a damaged ledger page went unnoticed")
		}
	})
}

// only fails t unless res found exactly n problems, each of them naming
// want, and counted them (counter) as Check must.
func only(t *testing.T, res Result, counter, n int, want string) {
	t.Helper()
	if len(res.Problems) != n || counter != n {
		t.Fatalf("want %d problems %q (counted %d), got %d: %s", n, want, counter, len(res.Problems), res.String())
	}
	for _, p := range res.Problems {
		if !strings.Contains(p, want) {
			t.Fatalf("want only %q, got %q", want, p)
		}
	}
}

// doctor applies f to the last op of kind k on target tg in o.
func doctor(t *testing.T, o *Oracle, k Kind, tg Target, f func(*Op)) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.ops) - 1; i >= 0; i-- {
		if o.ops[i].Kind == k && o.ops[i].Target == tg && o.ops[i].Acked {
			f(&o.ops[i])
			return
		}
	}
	t.Fatalf("no acknowledged %s op on %s", k, tg)
}

// execLedger runs a statement on the closed ledger of w, under its
// rotated KEK.
func execLedger(t *testing.T, w Workload, sql string, args ...any) {
	t.Helper()
	conn, done, err := openLedgerEngine(context.Background(), w.LedgerPath(), w.NewKEK, false, engine.Options{})
	defer done()
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := conn.Prepare(sql)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, a := range args {
		if err := st.BindText(i+1, a.(string)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Exec(); err != nil {
		t.Fatal(err)
	}
	if conn.Changes() != 1 {
		t.Fatalf("%s changed %d rows, want 1", sql, conn.Changes())
	}
}

// TestCheckFindsEach: each promise Check holds the store to, broken on
// its own after a clean run (in the files or in a doctored oracle),
// is reported, and nothing else is.
func TestCheckFindsEach(t *testing.T) {
	t.Run("rekey", func(t *testing.T) {
		w, o := ranWorkload(t)
		dek, _, err := keyring.LoadDEK(w.StorePath(), keyring.RawKEK(w.NewKEK))
		if err != nil {
			t.Fatal(err)
		}
		// The oracle says the rekey replaced the key the store holds now.
		doctor(t, o, KindRekey, TargetStore, func(op *Op) { op.DEK = sha256.Sum256(dek) })
		clear(dek)
		res := check(t, w, o)
		only(t, res, res.Lost, 1, "store: rekey acknowledged but the data key is unchanged")
	})
	t.Run("rotation", func(t *testing.T) {
		w, o := ranWorkload(t)
		// The "old" KEK is the new one: it still opens both headers.
		w.KEK = w.NewKEK
		res := check(t, w, o)
		only(t, res, res.Lost, 2, "rotation acknowledged but the old KEK still opens the header")
	})
	t.Run("ledger-cost", func(t *testing.T) {
		w, o := ranWorkload(t)
		doctor(t, o, KindLedger, TargetLedger, func(op *Op) { e := *op.Entry; e.Cost++; op.Entry = &e })
		res := check(t, w, o)
		only(t, res, res.Lost, 1, "acknowledged")
		if !strings.Contains(res.Problems[0], ", acknowledged ") {
			t.Fatalf("want the acknowledged cost lost, got %q", res.Problems[0])
		}
	})
	t.Run("ledger-entry-field", func(t *testing.T) {
		w, o := ranWorkload(t)
		doctor(t, o, KindLedger, TargetLedger, func(op *Op) { e := *op.Entry; e.OutputTokens++; op.Entry = &e })
		res := check(t, w, o)
		only(t, res, res.Lost, 1, "acknowledged entry differs")
	})
	t.Run("ledger-attempt-field", func(t *testing.T) {
		w, o := ranWorkload(t)
		req := o.last(KindLedgerAtt, TargetLedger).Attempt.RequestID
		execLedger(t, w, "UPDATE entries SET model = 'another' WHERE request_id = ?", req)
		res := check(t, w, o)
		only(t, res, res.Lost, 1, "acknowledged entry differs")
		if !strings.Contains(res.Problems[0], "another") {
			t.Fatalf("want the changed model named, got %q", res.Problems[0])
		}
	})
	t.Run("event-payload", func(t *testing.T) {
		w, o := ranWorkload(t)
		doctor(t, o, KindAppend, TargetStore, func(op *Op) {
			e := *op.Event
			e.Payload = []byte(`{"doctored":true}`)
			op.Event = &e
		})
		res := check(t, w, o)
		only(t, res, res.Lost, 1, "payload")
	})
	t.Run("intent-fields", func(t *testing.T) {
		w, o := ranWorkload(t)
		doctor(t, o, KindIntent, TargetStore, func(op *Op) { in := *op.Intent; in.Tool += "-doctored"; op.Intent = &in })
		res := check(t, w, o)
		only(t, res, res.Lost, 1, "fields")
	})
	t.Run("outcome-fields", func(t *testing.T) {
		w, o := ranWorkload(t)
		doctor(t, o, KindOutcome, TargetStore, func(op *Op) { out := *op.Outcome; out.Status += "-doctored"; op.Outcome = &out })
		res := check(t, w, o)
		only(t, res, res.Lost, 1, "fields")
	})
	t.Run("attempt-fields", func(t *testing.T) {
		w, o := ranWorkload(t)
		doctor(t, o, KindAttempt, TargetStore, func(op *Op) { a := *op.Attempt; a.Model += "-doctored"; op.Attempt = &a })
		res := check(t, w, o)
		// The store's attempt, and its ledger entry if a sync took it.
		if n := len(res.Problems); n < 1 || n > 2 {
			only(t, res, res.Lost, 1, "-doctored")
		}
		only(t, res, res.Lost, len(res.Problems), "-doctored")
		if !strings.HasPrefix(res.Problems[0], "store: attempt ") || !strings.Contains(res.Problems[0], "differs") {
			t.Fatalf("want the store's attempt reported first, got %q", res.Problems)
		}
	})
	t.Run("ledger-record-missing", func(t *testing.T) {
		w, o := ranWorkload(t)
		// An attempt the store may lack (its write failed) that the
		// ledger acknowledged recording: the ledger must hold it.
		a := *o.last(KindAttempt, TargetStore).Attempt
		a.Session, a.RequestID, a.ID = "ghost", "ghost-req", 0
		o.add(Op{Kind: KindAttempt, Target: TargetStore, Attempt: &a, Err: os.ErrDeadlineExceeded})
		la := a
		la.ID = 999
		o.add(Op{Kind: KindLedgerAtt, Target: TargetLedger, Attempt: &la, Source: "src"})
		res := check(t, w, o)
		only(t, res, res.Lost, 1, "ledger: attempt of ghost: acknowledged ledger record missing")
	})
	t.Run("retention-kept", func(t *testing.T) {
		w, o := ranWorkload(t)
		// The oracle says the retention reached the earliest event it
		// did not erase too (a pinned session's are kept anyway).
		var first time.Time
		for _, op := range o.Ops() {
			if op.Target == TargetStore && op.Kind == KindAppend && op.Acked && op.Event.Session != "old-pinned" &&
				!op.Event.TS.Before(w.Start.Add(-RetentionTTL)) && (first.IsZero() || op.Event.TS.Before(first)) {
				first = op.Event.TS
			}
		}
		if first.IsZero() {
			t.Fatal("no event of the workload after the retention's cutoff")
		}
		doctor(t, o, KindRetention, TargetStore, func(op *Op) { op.Cutoff = first.Add(time.Nanosecond) })
		res := check(t, w, o)
		if res.Lost < 1 || res.Lost != len(res.Problems) {
			t.Fatalf("want only content kept (of the events at %v), got: %s", first, res.String())
		}
		only(t, res, res.Lost, res.Lost, "content kept after an acknowledged retention")
	})
	t.Run("orphans", func(t *testing.T) {
		w, o := ranWorkload(t)
		c, s := openChecker(t, w, o)
		real, err := s.OrphanIntents(context.Background(), "")
		if err != nil || len(real) == 0 {
			t.Fatalf("the workload leaves orphan intents: %d, %v", len(real), err)
		}
		// A store that lists no orphans, then one that lists an extra one.
		if err := c.checkData(TargetStore, orphanReader{Store: s}, c.targetOps(TargetStore)); err != nil {
			t.Fatal(err)
		}
		only(t, *c.res, c.res.Wrong, len(real), "listed as an orphan false, its outcome present false")
		c.res = &Result{}
		extra := abi.ToolIntent{Session: "nobody", CallID: "call-x"}
		if err := c.checkData(TargetStore, orphanReader{Store: s, list: append(real, extra)}, c.targetOps(TargetStore)); err != nil {
			t.Fatal(err)
		}
		only(t, *c.res, c.res.Wrong, 1, "orphan intent nobody/call-x that no operation wrote")
	})
	t.Run("unusable", func(t *testing.T) {
		w, o := ranWorkload(t)
		c, s := openChecker(t, w, o)
		c.usable(TargetStore, s)
		if len(c.res.Unusable) != 0 {
			t.Fatalf("a usable store: %s", c.res.String())
		}
		c.usable(TargetStore, lostAppends{s})
		if len(c.res.Unusable) != 1 || c.res.OK() {
			t.Fatalf("appends that do not read back: %s", c.res.String())
		}
		only(t, *c.res, 1, 1, "store: unusable after reopening: the event appended")
	})
}

// openChecker opens the store of a clean run under its rotated KEK and
// returns a checker of it (closed at the end of the test).
func openChecker(t *testing.T, w Workload, o *Oracle) (*checker, *host.Store) {
	t.Helper()
	w, err := w.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s, err := host.OpenWithConfig(w.StorePath(), w.config(w.NewKEK, func() time.Time { return w.Start }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &checker{ctx: context.Background(), w: w, ops: o.Ops(), res: &Result{}, attempts: map[string]int64{}}, s
}

// orphanReader is a store whose OrphanIntents lists list.
type orphanReader struct {
	*host.Store
	list []abi.ToolIntent
}

func (r orphanReader) OrphanIntents(context.Context, abi.SessionID) ([]abi.ToolIntent, error) {
	return r.list, nil
}

// lostAppends is a store whose appends do not read back.
type lostAppends struct{ *host.Store }

func (lostAppends) EventsSince(context.Context, abi.SessionID, uint64, int) ([]abi.EventEnvelope, error) {
	return nil, nil
}
