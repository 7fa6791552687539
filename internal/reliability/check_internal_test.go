package reliability

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/testkit/storefiles"
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
