package abi

// MaxBatchKey bounds the length of [Batch.Key] in bytes.
const MaxBatchKey = 512

// Batch is a group of records written together, all or none, in one
// transaction of a session store: the unit of an import. Records of every
// kind may be mixed and may belong to several sessions; events get their
// IDs in slice order.
//
// Key, when not empty, makes the batch idempotent: a store remembers the
// keys of the batches it wrote, and a batch whose key it has already
// written is skipped as a whole, so importing the same input twice adds
// nothing. An importer derives the key from the input (a transcript line's
// UUID, a hash of the record), never from the time of the import. Keys are
// at most [MaxBatchKey] bytes; they are stored like the records, encrypted
// when the store is.
type Batch struct {
	Key      string            `json:"key,omitempty"`
	Events   []EventEnvelope   `json:"events,omitempty"`
	Intents  []ToolIntent      `json:"intents,omitempty"`
	Outcomes []ToolOutcome     `json:"outcomes,omitempty"`
	Attempts []ProviderAttempt `json:"attempts,omitempty"`
	Pins     []SessionID       `json:"pins,omitempty"`
}

// Empty reports whether the batch holds no record.
func (b *Batch) Empty() bool {
	return len(b.Events) == 0 && len(b.Intents) == 0 && len(b.Outcomes) == 0 &&
		len(b.Attempts) == 0 && len(b.Pins) == 0
}
