package jsonl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gofastr/store/abi"
)

// Bounds of one transaction of a batched import (see [ImportReader]): at
// most this many records, and at most this many bytes of records (as the
// package encodes them), unless a single record is larger.
const (
	MaxImportRecords = 1000
	MaxImportBytes   = 8 << 20
)

// keyPrefix starts the batch key of every imported record; the rest is
// the hex SHA-256 of the record's identity (see [identity]) and its
// occurrence number. The number after "jsonl" is the version of that
// derivation: keys of another version are never equal to these.
const keyPrefix = "jsonl2:"

// keyedRecord is a checked record of the input with its line, batch key
// and encoded size.
type keyedRecord struct {
	rec  Record
	line int
	key  string
	size int
}

// BatchChecker is a [BatchDestination] that can also check batches
// without writing them, exactly as its WriteBatches checks them before
// writing: *host.Store and *host.MonthlyRollover are. [Import] into a
// BatchChecker checks every record against the destination (its payload
// limit, its required fields) before it writes any.
type BatchChecker interface {
	CheckBatches(batches ...abi.Batch) error
}

// importBatches is ImportReader into a BatchDestination: read and check
// everything (against dst too when it is a BatchChecker), then write in
// bounded calls, one keyed batch per record.
func importBatches(ctx context.Context, dst BatchDestination, rd *Reader) (Stats, error) {
	var recs []keyedRecord
	seen := map[[sha256.Size]byte]int{}
	for {
		if err := ctx.Err(); err != nil {
			return Stats{}, &LineError{Line: rd.Line() + 1, Err: err}
		}
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Stats{}, err
		}
		sum, err := identity(&rec)
		if err != nil {
			return Stats{}, &LineError{Line: rd.Line(), Err: err}
		}
		size, err := recordSize(rec)
		if err != nil {
			return Stats{}, &LineError{Line: rd.Line(), Err: err}
		}
		// The n-th record with this identity gets occurrence n: a record
		// repeated in the input is imported as often as it appears.
		n := seen[sum]
		seen[sum] = n + 1
		key := keyPrefix + hex.EncodeToString(sum[:]) + ":" + strconv.Itoa(n)
		recs = append(recs, keyedRecord{rec: rec, line: rd.Line(), key: key, size: size})
	}

	if ck, ok := dst.(BatchChecker); ok {
		for start := 0; start < len(recs); {
			end := nextCall(recs, start)
			call := recs[start:end]
			if err := ctx.Err(); err != nil {
				return Stats{}, &LineError{Line: call[0].line, Err: err}
			}
			if err := ck.CheckBatches(batchesOf(call)...); err != nil {
				return Stats{}, &LineError{Line: lineOf(call, err), Err: err}
			}
			start = end
		}
	}

	var st Stats
	for start := 0; start < len(recs); {
		end := nextCall(recs, start)
		call := recs[start:end]
		batches := batchesOf(call)
		if err := ctx.Err(); err != nil {
			return st, &LineError{Line: call[0].line, Err: err}
		}
		written, err := dst.WriteBatches(ctx, batches...)
		if err != nil {
			return st, &LineError{Line: lineOf(call, err), Err: err}
		}
		for i := range call {
			st.count(&call[i].rec)
		}
		st.Skipped += len(call) - written
		start = end
	}
	return st, nil
}

// nextCall returns the end of the call of WriteBatches that starts at
// recs[start]: at most MaxImportRecords records and MaxImportBytes bytes,
// at least one record.
func nextCall(recs []keyedRecord, start int) int {
	end, bytes := start, 0
	for end < len(recs) && end-start < MaxImportRecords && (end == start || bytes+recs[end].size <= MaxImportBytes) {
		bytes += recs[end].size
		end++
	}
	return end
}

// batchesOf returns the batches that import call, one per record.
func batchesOf(call []keyedRecord) []abi.Batch {
	batches := make([]abi.Batch, len(call))
	for i := range call {
		batches[i] = batchOf(&call[i])
	}
	return batches
}

// lineOf returns the line of the record of call that err, from a call of
// the destination with the batches of call, is about: the one it names
// by its index, or else the first.
func lineOf(call []keyedRecord, err error) int {
	if bi, ok := errors.AsType[batchIndexer](err); ok && bi.BatchIndex() >= 0 && bi.BatchIndex() < len(call) {
		return call[bi.BatchIndex()].line
	}
	return call[0].line
}

// batchIndexer is an error that names the batch of a WriteBatches call it
// is about, by its index in the call (as *host.BatchError does).
type batchIndexer interface {
	error
	BatchIndex() int
}

// identity returns the SHA-256 of what identifies rec, the fields that
// name it and that retention cannot change, so that two exports of one
// session, one taken after retention dropped payloads, give the same
// identities:
//
//   - event: session, turn, kind and time (to the nanosecond, in UTC);
//   - tool intent: session and call ID;
//   - tool outcome: session and call ID;
//   - attempt: session, turn, provider, model, request ID and start time;
//   - pin: session.
//
// The record type is part of the identity: an intent and the outcome of
// its call have different identities.
func identity(rec *Record) (sum [sha256.Size]byte, err error) {
	t := func(ts time.Time) string { return ts.UTC().Format(time.RFC3339Nano) }
	var id []any
	switch r := rec; r.Type {
	case TypeEvent:
		e := r.Event
		id = []any{r.Type, e.Session, e.Turn, e.Kind, t(e.TS)}
	case TypeToolIntent:
		id = []any{r.Type, r.Intent.Session, r.Intent.CallID}
	case TypeToolOutcome:
		id = []any{r.Type, r.Outcome.Session, r.Outcome.CallID}
	case TypeAttempt:
		a := r.Attempt
		id = []any{r.Type, a.Session, a.Turn, a.Provider, a.Model, a.RequestID, t(a.StartedAt)}
	case TypePin:
		id = []any{r.Type, r.Session}
	default:
		return sum, fmt.Errorf("%w: %q", ErrUnknownType, r.Type)
	}
	b, err := json.Marshal(id)
	if err != nil {
		return sum, err
	}
	return sha256.Sum256(b), nil
}

// recordSize returns the size of rec as the package encodes it, which
// bounds the calls of WriteBatches.
func recordSize(rec Record) (int, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

// batchOf is the batch that imports one record.
func batchOf(k *keyedRecord) abi.Batch {
	b := abi.Batch{Key: k.key}
	switch r := &k.rec; r.Type {
	case TypeEvent:
		e := *r.Event
		e.ID = 0
		b.Events = []abi.EventEnvelope{e}
	case TypeToolIntent:
		b.Intents = []abi.ToolIntent{*r.Intent}
	case TypeToolOutcome:
		b.Outcomes = []abi.ToolOutcome{*r.Outcome}
	case TypeAttempt:
		a := *r.Attempt
		a.ID = 0
		b.Attempts = []abi.ProviderAttempt{a}
	case TypePin:
		b.Pins = []abi.SessionID{r.Session}
	}
	return b
}

// count counts one imported record in st.
func (st *Stats) count(r *Record) {
	switch r.Type {
	case TypeEvent:
		st.Events++
		if r.Event.Payload == nil {
			st.DroppedPayloads++
		}
	case TypeToolIntent:
		st.ToolIntents++
	case TypeToolOutcome:
		st.ToolOutcomes++
	case TypeAttempt:
		st.Attempts++
	case TypePin:
		st.Pins++
	}
}
