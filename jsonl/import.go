package jsonl

import (
	"context"
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
}

// Stats counts the records an [Import] wrote or an [Export] read.
type Stats struct {
	Events       int
	ToolIntents  int
	ToolOutcomes int
	Attempts     int
	Pins         int
	// DroppedPayloads counts the events without a payload (dropped by
	// retention): an Export wrote them so; an Import stored each with the
	// JSON value null as its payload.
	DroppedPayloads int
}

// Import reads the form from r (lines up to [DefaultMaxLine]) and writes
// every record to dst; see [ImportReader].
func Import(ctx context.Context, dst Destination, r io.Reader) (Stats, error) {
	return ImportReader(ctx, dst, NewReader(r))
}

// ImportReader writes every record rd reads to dst, in the order of the
// input, and returns what it wrote. IDs in the input are ignored: dst
// assigns its own. Each record is checked whole before it is written and
// written by one call of dst, so on an error the records before the
// failing line are imported and none after; the error is a [*LineError]
// naming the line, wrapping the reader's error, dst's, or ctx's.
func ImportReader(ctx context.Context, dst Destination, rd *Reader) (Stats, error) {
	var st Stats
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
