package reliability

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// Kind names what an Op did.
type Kind string

// The kinds of operation a Workload runs.
const (
	KindOpen       Kind = "open"        // opening a store, ledger or rollover
	KindClose      Kind = "close"       // closing one
	KindAppend     Kind = "append"      // Store.Append / MonthlyRollover.Append
	KindIntent     Kind = "intent"      // RecordToolIntent
	KindOutcome    Kind = "outcome"     // RecordToolOutcome
	KindAttempt    Kind = "attempt"     // RecordAttempt
	KindBatch      Kind = "batch"       // WriteBatches of one batch
	KindPin        Kind = "pin"         // Pin
	KindLedger     Kind = "ledger"      // CostLedger.RecordEntry
	KindLedgerAtt  Kind = "ledger-att"  // CostLedger.RecordAttempt
	KindSync       Kind = "sync"        // CostLedger.SyncAttempts
	KindRetention  Kind = "retention"   // Store.ApplyRetention
	KindDrop       Kind = "drop"        // Store.DropMetadata
	KindRekey      Kind = "rekey"       // host.Rekey
	KindRotate     Kind = "rotate"      // keyring.RotateKEKWith / MonthlyRollover.RotateKEK
	KindMonthClock Kind = "month-clock" // the rollover's clock crossing into the next month
)

// Target names the database an Op wrote to.
type Target string

// The databases of a Workload's directory.
const (
	TargetStore  Target = "store"  // sessions.db
	TargetLedger Target = "ledger" // costs.db
	TargetMonths Target = "months" // the rollover's month files in months/
)

// Op is one operation a Workload attempted.
type Op struct {
	Seq    int    // order in which the Op finished
	Kind   Kind   // what it did
	Target Target // where
	// Acked reports whether the call returned nil: what it wrote must be
	// on stable storage. An Op that failed may still have been durable,
	// whole, never half.
	Acked bool
	Err   error // the call's error when not acked

	// What was written (one of them, by Kind). IDs the store assigned
	// are set on acknowledged writes.
	Event   *abi.EventEnvelope
	Intent  *abi.ToolIntent
	Outcome *abi.ToolOutcome
	Attempt *abi.ProviderAttempt
	Batch   *abi.Batch
	Entry   *host.LedgerEntry
	Session abi.SessionID // a pin's session
	Source  string        // a ledger attempt's or sync's source
	// Cutoff is the time before which a retention (payloads) or drop
	// (rows) applied.
	Cutoff time.Time
	// Committed is set for a retention or drop that returned nil or an
	// error matching host.ErrNotErased: its change committed.
	Committed bool
	// DEK is the SHA-256 of the data key before a rekey (never the key).
	DEK [32]byte
	// Retry marks a call repeated after the previous one, with the same
	// data, failed: a keyed batch, a ledger attempt (both idempotent).
	Retry bool
}

// Write reports whether the Op is a write of data whose acknowledgement
// the checker holds the store to.
func (op *Op) Write() bool {
	switch op.Kind {
	case KindAppend, KindIntent, KindOutcome, KindAttempt, KindBatch, KindPin,
		KindLedger, KindLedgerAtt, KindSync, KindRetention, KindDrop, KindRekey, KindRotate:
		return true
	}
	return false
}

// Oracle records every operation of a Workload and whether it was
// acknowledged. Its methods are safe for concurrent use.
type Oracle struct {
	mu  sync.Mutex
	ops []Op
}

// add records op and returns it with its sequence number.
func (o *Oracle) add(op Op) {
	o.mu.Lock()
	defer o.mu.Unlock()
	op.Seq = len(o.ops)
	if op.Err == nil {
		op.Acked = true
	}
	o.ops = append(o.ops, op)
}

// Ops returns a copy of the recorded operations in the order they finished.
func (o *Oracle) Ops() []Op {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ops)
}

// Counts returns the number of write operations attempted and of those
// acknowledged.
func (o *Oracle) Counts() (tried, acked int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.ops {
		if o.ops[i].Write() {
			tried++
			if o.ops[i].Acked {
				acked++
			}
		}
	}
	return tried, acked
}

// Errors returns the errors of the operations that failed, in order.
func (o *Oracle) Errors() []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, op := range o.ops {
		if op.Err != nil {
			errs = append(errs, op.Err)
		}
	}
	return errs
}

// last returns the last op of kind k on target t, or nil.
func (o *Oracle) last(k Kind, t Target) *Op {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.ops) - 1; i >= 0; i-- {
		if o.ops[i].Kind == k && o.ops[i].Target == t {
			op := o.ops[i]
			return &op
		}
	}
	return nil
}

// committed reports whether a retention or drop error still committed
// its change.
func committed(err error) bool { return err == nil || errors.Is(err, host.ErrNotErased) }
