package jsonl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"

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
// the hex SHA-256 of the record's content and its occurrence number.
const keyPrefix = "jsonl1:"

// keyedRecord is a checked record of the input with its line, batch key
// and encoded size.
type keyedRecord struct {
	rec  Record
	line int
	key  string
	size int
}

// importBatches is ImportReader into a BatchDestination: read and check
// everything, then write in bounded calls, one keyed batch per record.
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
		sum, size, err := recordHash(rec)
		if err != nil {
			return Stats{}, &LineError{Line: rd.Line(), Err: err}
		}
		// The n-th record with this content gets occurrence n: a record
		// repeated in the input is imported as often as it appears.
		n := seen[sum]
		seen[sum] = n + 1
		key := keyPrefix + hex.EncodeToString(sum[:]) + ":" + strconv.Itoa(n)
		recs = append(recs, keyedRecord{rec: rec, line: rd.Line(), key: key, size: size})
	}

	var st Stats
	for start := 0; start < len(recs); {
		end, bytes := start, 0
		for end < len(recs) && end-start < MaxImportRecords && (end == start || bytes+recs[end].size <= MaxImportBytes) {
			bytes += recs[end].size
			end++
		}
		call := recs[start:end]
		batches := make([]abi.Batch, len(call))
		for i := range call {
			batches[i] = batchOf(&call[i])
		}
		if err := ctx.Err(); err != nil {
			return st, &LineError{Line: call[0].line, Err: err}
		}
		written, err := dst.WriteBatches(ctx, batches...)
		if err != nil {
			line := call[0].line
			if bi, ok := errors.AsType[batchIndexer](err); ok && bi.BatchIndex() >= 0 && bi.BatchIndex() < len(call) {
				line = call[bi.BatchIndex()].line
			}
			return st, &LineError{Line: line, Err: err}
		}
		for i := range call {
			st.count(&call[i].rec)
		}
		st.Skipped += len(call) - written
		start = end
	}
	return st, nil
}

// batchIndexer is an error that names the batch of a WriteBatches call it
// is about, by its index in the call (as *host.BatchError does).
type batchIndexer interface {
	error
	BatchIndex() int
}

// recordHash returns the SHA-256 of rec's content (its IDs left out: a
// store assigns its own) and the size of that encoding.
func recordHash(rec Record) (sum [sha256.Size]byte, size int, err error) {
	if rec.Event != nil {
		e := *rec.Event
		e.ID = 0
		rec.Event = &e
	}
	if rec.Attempt != nil {
		a := *rec.Attempt
		a.ID = 0
		rec.Attempt = &a
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return sum, 0, err
	}
	return sha256.Sum256(b), len(b), nil
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
