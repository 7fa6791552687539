package host

import (
	"context"
	"fmt"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// batchKeysSchema is the schema version that added the batch_keys table.
const batchKeysSchema = 6

// BatchError is the error [Store.WriteBatches] returns for a batch it
// refuses before writing anything: a key longer than [abi.MaxBatchKey] or
// a record the single-record method would refuse. It names the batch (its
// index in the call) and the record (its kind and index in the batch), and
// matches both [ErrInvalidArgument] and the record's own error (for
// instance [ErrEmptySession] or [ErrPayloadTooLarge]) with errors.Is.
type BatchError struct {
	Batch  int    // index of the batch in the call
	Record string // "key", "event", "intent", "outcome", "attempt" or "pin"
	Index  int    // index of the record in its slice of the batch; 0 for the key
	Err    error  // what is wrong with the record
}

func (e *BatchError) Error() string {
	if e.Record == "key" {
		return fmt.Sprintf("batch %d: key: %v", e.Batch, e.Err)
	}
	return fmt.Sprintf("batch %d: %s %d: %v", e.Batch, e.Record, e.Index, e.Err)
}

// BatchIndex returns the index of the batch in the call, for callers that
// map batches back to their input (an importer naming the line).
func (e *BatchError) BatchIndex() int { return e.Batch }

// Unwrap returns ErrInvalidArgument and the record's error.
func (e *BatchError) Unwrap() []error { return []error{ErrInvalidArgument, e.Err} }

// preparedBatch is a batch checked, redacted, compressed and priced: what
// the write transaction stores of it.
type preparedBatch struct {
	key      []byte // nil: no key
	events   []eventRow
	intents  []intentRow
	outcomes []outcomeRow
	attempts []attemptRow
	pins     []abi.SessionID
}

// WriteBatches writes batches in one write transaction: all of them or,
// on an error, none. It returns how many it wrote; the others, len(batches)
// minus that, were skipped because the store had already written a batch
// with their key (an earlier call, another Store on the file in this or
// another process, or an earlier batch of the same call). A batch with an
// empty key is always written. A batch without records counts as written
// (and records its key).
//
// Each record is checked, redacted, compressed and priced as by its
// single-record method ([Store.Append], [Store.RecordToolIntent],
// [Store.RecordToolOutcome], [Store.RecordAttempt], [Store.Pin]), all of
// them before the transaction starts. Within a batch, events are written
// first, in slice order, taking increasing event IDs across the batches of
// the call, then intents, outcomes, attempts and pins. IDs given with
// events and attempts are ignored, as the single-record methods ignore
// them.
//
// A key longer than [abi.MaxBatchKey] or a record the single-record method
// would refuse returns a [*BatchError] (matching [ErrInvalidArgument]) and
// writes nothing. A sealed month ([MonthlyRollover]) returns an error
// matching [ErrMonthSealed]. A context canceled before the transaction
// starts, or while it writes the batches, writes nothing; as for every
// write, the result says whether the call's batches were committed. When
// it returns nil, what it wrote is on stable storage.
//
// The whole call is one transaction, which holds SQLite's write lock while
// it runs and is held in memory until it commits: split a large import
// into calls of bounded size (a thousand records or a few MiB each) so that
// other writers are not held up and a crash loses little work; keys make
// such an import resumable.
//
// Keys are stored in the store (encrypted when it is) and kept until the
// store is deleted: retention does not remove them.
func (s *Store) WriteBatches(ctx context.Context, batches ...abi.Batch) (written int, err error) {
	if len(batches) == 0 {
		return 0, nil
	}
	// Counted from here, so that a group commit waits for this caller's
	// preparation (see sqldb.DB.Enter).
	defer s.db.Enter()()
	prep, err := s.prepareBatches(batches)
	if err != nil {
		return 0, fmt.Errorf("write batches: %w", err)
	}
	now, err := s.nanos("batch time", time.Time{})
	if err != nil {
		return 0, fmt.Errorf("write batches: %w", err)
	}
	// The write may run twice (see Append): it starts over from zero.
	err = s.db.Submit(ctx, sqldb.Request{Rerun: true, Fn: func(t *sqldb.Tx) error {
		written = 0
		tx := (*wtx)(t)
		if err := tx.checkSealed(); err != nil {
			return err
		}
		for i := range prep {
			if err := ctx.Err(); err != nil {
				return err
			}
			ok, err := tx.writeBatch(s.codec, &prep[i], now)
			if err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
			if ok {
				written++
			}
		}
		return nil
	}})
	if err != nil {
		return 0, fmt.Errorf("write batches: %w", err)
	}
	return written, nil
}

// CheckBatches checks batches as [Store.WriteBatches] does before it
// writes (key lengths, required fields, sizes against the store's limits,
// JSON validity), with the same code, and writes nothing. It returns nil
// when WriteBatches would accept every record, and otherwise the
// [*BatchError] WriteBatches would return. An importer can thus check a
// whole input before writing any of it. Keys are not looked up: a batch
// CheckBatches accepts may still be skipped by WriteBatches.
func (s *Store) CheckBatches(batches ...abi.Batch) error {
	if _, err := s.prepareBatches(batches); err != nil {
		return fmt.Errorf("check batches: %w", err)
	}
	return nil
}

// prepareBatches checks and prepares every record of batches with the
// single-record methods' prepare functions.
func (s *Store) prepareBatches(batches []abi.Batch) ([]preparedBatch, error) {
	prep := make([]preparedBatch, len(batches))
	for i := range batches {
		b, p := &batches[i], &prep[i]
		bad := func(record string, j int, err error) error {
			return &BatchError{Batch: i, Record: record, Index: j, Err: err}
		}
		if len(b.Key) > abi.MaxBatchKey {
			return nil, bad("key", 0, fmt.Errorf("%d bytes, at most %d", len(b.Key), abi.MaxBatchKey))
		}
		if b.Key != "" {
			p.key = []byte(b.Key)
		}
		p.events = make([]eventRow, len(b.Events))
		for j, e := range b.Events {
			var err error
			if p.events[j], err = s.prepareEvent(e); err != nil {
				return nil, bad("event", j, err)
			}
		}
		p.intents = make([]intentRow, len(b.Intents))
		for j, in := range b.Intents {
			var err error
			if p.intents[j], err = s.prepareIntent(in); err != nil {
				return nil, bad("intent", j, err)
			}
		}
		p.outcomes = make([]outcomeRow, len(b.Outcomes))
		for j, o := range b.Outcomes {
			var err error
			if p.outcomes[j], err = s.prepareOutcome(o); err != nil {
				return nil, bad("outcome", j, err)
			}
		}
		p.attempts = make([]attemptRow, len(b.Attempts))
		for j, a := range b.Attempts {
			var err error
			if p.attempts[j], err = s.prepareAttempt(a); err != nil {
				return nil, bad("attempt", j, err)
			}
		}
		for j, sess := range b.Pins {
			if sess == "" {
				return nil, bad("pin", j, ErrEmptySession)
			}
		}
		p.pins = b.Pins
	}
	return prep, nil
}

// writeBatch stores the records of b unless its key is in the store, in
// which case it reports false and stores nothing. now is the time of the
// key and of the pins (Unix nanoseconds).
func (t *wtx) writeBatch(cd *codec, b *preparedBatch, now int64) (bool, error) {
	if b.key != nil {
		n, err := t.exec(`INSERT INTO batch_keys (key, written_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, b.key, now)
		if err != nil {
			return false, fmt.Errorf("key: %w", err)
		}
		if n == 0 {
			return false, nil
		}
	}
	for j := range b.events {
		if _, err := t.insertEvent(cd, &b.events[j]); err != nil {
			return false, fmt.Errorf("event %d: %w", j, err)
		}
	}
	for j := range b.intents {
		if err := t.insertIntent(&b.intents[j]); err != nil {
			return false, fmt.Errorf("intent %d: %w", j, err)
		}
	}
	for j := range b.outcomes {
		if err := t.insertOutcome(&b.outcomes[j]); err != nil {
			return false, fmt.Errorf("outcome %d: %w", j, err)
		}
	}
	for j := range b.attempts {
		if _, err := t.insertAttempt(&b.attempts[j]); err != nil {
			return false, fmt.Errorf("attempt %d: %w", j, err)
		}
	}
	for j, sess := range b.pins {
		if err := t.insertPin(sess, now); err != nil {
			return false, fmt.Errorf("pin %d: %w", j, err)
		}
	}
	return true, nil
}

// hasBatchKeys reports which of keys the store has written, by index.
func (s *Store) hasBatchKeys(ctx context.Context, keys []string) ([]bool, error) {
	found := make([]bool, len(keys))
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(`SELECT 1 FROM batch_keys WHERE key = ?`)
		if err != nil {
			return err
		}
		defer st.Reset()
		for i, k := range keys {
			if k == "" {
				continue
			}
			if err := st.Reset(); err != nil {
				return err
			}
			if err := bindAll(st, []byte(k)); err != nil {
				return err
			}
			found[i] = st.Step()
			if err := st.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return found, err
}
