package jsonl

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gofastr/store/abi"
)

// Destination is what [Import] writes to: the recording methods of a
// session store, which *host.Store and *host.MonthlyRollover have.
type Destination interface {
	Append(ctx context.Context, env abi.EventEnvelope) (uint64, error)
	RecordToolIntent(ctx context.Context, in abi.ToolIntent) error
	RecordToolOutcome(ctx context.Context, out abi.ToolOutcome) error
	RecordAttempt(ctx context.Context, a abi.ProviderAttempt) (int64, error)
	Pin(ctx context.Context, sess abi.SessionID) error
	// EventsSince tells Import whether a session already has events (see
	// [ErrAlreadyImported]).
	EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error)
}

// BatchDestination is a [Destination] that also writes records in
// batches, all or none per call, skipping a batch whose key it has already
// written: *host.Store and *host.MonthlyRollover are. [Import] uses it
// when the destination has it (see the package documentation), and checks
// every record against it first when it is also a [BatchChecker].
type BatchDestination interface {
	WriteBatches(ctx context.Context, batches ...abi.Batch) (int, error)
}

// ErrAlreadyImported: the destination already holds events of a session
// the input has records of, so importing them would duplicate them (an
// input imported twice, or imported again after a failed import). The
// error names the session and the line of its first record; nothing of
// that session was written. [AppendExisting] imports regardless.
var ErrAlreadyImported = errors.New("jsonl: session already in the destination")

// ImportOption changes how [Import] and [ImportReader] import.
type ImportOption func(*importConfig)

type importConfig struct {
	appendExisting bool
}

// AppendExisting makes an import append the records of a session the
// destination already has events of, after them, instead of refusing
// with [ErrAlreadyImported]: for merging the records of one session from
// several files. Records imported twice are then stored twice.
func AppendExisting() ImportOption {
	return func(c *importConfig) { c.appendExisting = true }
}

// Stats counts the records an [Import] imported or an [Export] read.
type Stats struct {
	Events       int `json:"events"`
	ToolIntents  int `json:"tool_intents"`
	ToolOutcomes int `json:"tool_outcomes"`
	Attempts     int `json:"attempts"`
	Pins         int `json:"pins"`
	// DroppedPayloads counts the events without a payload (dropped by
	// retention): an Export wrote them so; an Import stored each with the
	// JSON value null as its payload.
	DroppedPayloads int `json:"dropped_payloads"`
	// Skipped counts the records of an Import into a [BatchDestination]
	// that the destination held already, under their key, from an
	// earlier keyed import of records with the same identity (see the
	// package documentation): they were not written again.
	// They are counted in the fields above too, which count the records
	// of the input the destination holds once the import has ended.
	Skipped int `json:"skipped"`
}

// Import reads the form from r (lines up to [DefaultMaxLine]) and writes
// every record to dst; see [ImportReader].
func Import(ctx context.Context, dst Destination, r io.Reader, opts ...ImportOption) (Stats, error) {
	return ImportReader(ctx, dst, NewReader(r), opts...)
}

// ImportReader writes every record rd reads to dst, in the order of the
// input, and returns what it wrote. IDs in the input are ignored: dst
// assigns its own. Each record is checked whole before it is written and
// written by one call of dst, so on an error the records before the
// failing line are imported and none after; the error is a [*LineError]
// naming the line, wrapping the reader's error, dst's, or ctx's.
//
// Before the first record of each session it asks dst whether the
// session has events already; if so it stops with [ErrAlreadyImported]
// (unless [AppendExisting] is given), so that importing a file twice, or
// again after a failed import, does not duplicate its records.
//
// A destination that is also a [BatchDestination] is written another way:
// the whole input is read and checked first, against the destination too
// when it is a [BatchChecker] (a bad line, or a record the destination
// would refuse, stops the import before anything is written), then its
// records are written in transactions of bounded size, each record keyed
// by a hash of its identity (the fields that name it, which retention
// does not change) and its occurrence in the input, so that importing the
// same input again, or another export of the same records, writes nothing
// and an import that was interrupted completes when run again
// ([Stats.Skipped] counts what was there). The session check and
// [AppendExisting] do not apply. See the package documentation.
func ImportReader(ctx context.Context, dst Destination, rd *Reader, opts ...ImportOption) (Stats, error) {
	var cfg importConfig
	for _, o := range opts {
		o(&cfg)
	}
	if bd, ok := dst.(BatchDestination); ok {
		return importBatches(ctx, bd, rd)
	}
	var st Stats
	seen := map[abi.SessionID]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return st, &LineError{Line: rd.Line() + 1, Err: err}
		}
		rec, err := rd.Next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		if sess := rec.session(); !cfg.appendExisting && !seen[sess] {
			seen[sess] = true
			evs, err := dst.EventsSince(ctx, sess, 0, 1)
			if err != nil {
				return st, &LineError{Line: rd.Line(), Err: err}
			}
			if len(evs) > 0 {
				return st, &LineError{Line: rd.Line(), Err: fmt.Errorf("%w: session %q has events already", ErrAlreadyImported, sess)}
			}
		}
		if err := write(ctx, dst, rec, &st); err != nil {
			return st, &LineError{Line: rd.Line(), Err: err}
		}
	}
}

// write hands one checked record to dst.
func write(ctx context.Context, dst Destination, rec Record, st *Stats) error {
	switch rec.Type {
	case TypeEvent:
		e := *rec.Event
		e.ID = 0
		if _, err := dst.Append(ctx, e); err != nil {
			return err
		}
		st.Events++
		if e.Payload == nil {
			st.DroppedPayloads++
		}
	case TypeToolIntent:
		if err := dst.RecordToolIntent(ctx, *rec.Intent); err != nil {
			return err
		}
		st.ToolIntents++
	case TypeToolOutcome:
		if err := dst.RecordToolOutcome(ctx, *rec.Outcome); err != nil {
			return err
		}
		st.ToolOutcomes++
	case TypeAttempt:
		a := *rec.Attempt
		a.ID = 0
		if _, err := dst.RecordAttempt(ctx, a); err != nil {
			return err
		}
		st.Attempts++
	case TypePin:
		if err := dst.Pin(ctx, rec.Session); err != nil {
			return err
		}
		st.Pins++
	}
	return nil
}

// session returns the session the record belongs to.
func (r *Record) session() abi.SessionID {
	switch {
	case r.Event != nil:
		return r.Event.Session
	case r.Intent != nil:
		return r.Intent.Session
	case r.Outcome != nil:
		return r.Outcome.Session
	case r.Attempt != nil:
		return abi.SessionID(r.Attempt.Session)
	}
	return r.Session
}
