// Package jsonl reads and writes the store's JSONL interchange form: a
// text file with one JSON object per line that carries recorded sessions
// (their events, tool intents and outcomes, provider attempts and pins)
// from one store to another, into test fixtures, and into tools that know
// nothing of SQLite.
//
// # The form
//
// A file is UTF-8 text. Every line is one JSON object ended by "\n" (a
// "\r\n" ending and a missing final newline are accepted on reading); blank
// lines are not allowed. The first line is the header:
//
//	{"type":"header","format":"gofastr-jsonl","version":1}
//
// Every later line is one record, told apart by its "type":
//
//	{"type":"event","event":{"id":1,"session":"s1","turn":1,"kind":"user_message","ts":"2026-11-02T09:00:00Z","payload":{"text":"hi"}}}
//	{"type":"tool_intent","tool_intent":{"session":"s1","turn":1,"call_id":"c1","tool":"Read","args_hash":"…","args":{…},"started_at":"…"}}
//	{"type":"tool_outcome","tool_outcome":{"session":"s1","call_id":"c1","status":"ok","result":{…},"ended_at":"…"}}
//	{"type":"attempt","attempt":{"id":1,"session":"s1","turn":1,"provider":"anthropic","model":"claude-sonnet-4-5",…}}
//	{"type":"pin","session":"s1"}
//
// The inner objects are the JSON forms of [abi.EventEnvelope],
// [abi.ToolIntent], [abi.ToolOutcome] and [abi.ProviderAttempt], with the
// field names of their struct tags. Times are RFC 3339 with nanoseconds
// when there are any; [Writer] writes them in UTC. Payloads, arguments and
// results are JSON values embedded as they are (compacted), not strings.
//
// # Rules
//
//   - A record's inner object is required and its time fields must not be
//     zero: a store would replace a zero time with its clock, so the
//     record would not say what it stored.
//   - Unknown record types, unknown fields (at the top level and inside the
//     inner objects), a header other than the one above, and a version
//     other than [Version] are rejected with an error naming the line;
//     nothing is silently ignored, so a file written by a newer version is
//     refused rather than half understood. A later version adds record
//     types or fields under a new version number.
//   - What a JSON decoder would silently change is rejected too, with an
//     error naming the line: a \u escape of a lone UTF-16 surrogate
//     ([ErrSyntax]; it would become U+FFFD) and a key that appears twice
//     in one object ([ErrInvalidRecord]; the last would win, so a record
//     could name one session and land in another). Keys of the record's
//     own objects are compared without regard to case, as they are matched
//     to fields; keys inside payloads, arguments and results exactly.
//   - Strings and payloads are valid UTF-8: [Writer] refuses a record
//     holding other bytes (so an [Export] of such a session fails) rather
//     than write replacement characters a reader would take as the data.
//   - A line longer than the reader's limit ([DefaultMaxLine] by default)
//     is refused with [ErrLineTooLong] before it is read whole.
//   - IDs (the "id" of events and attempts) are not the store's: a store
//     assigns its own on import. [Export] writes them renumbered from 1 in
//     the order of the file, events and attempts counted apart, so that the
//     export of an import is the same file. [Import] ignores them.
//   - A payload dropped by retention (a nil [abi.EventEnvelope.Payload])
//     is written without the "payload" field; a payload that is the JSON
//     value null is written as "payload":null. A store cannot append an
//     event without a payload, so [Import] stores a dropped payload as the
//     JSON value null and counts it in [Stats.DroppedPayloads]: such a
//     session's export after import says "payload":null where the original
//     had no payload.
//
// # Order
//
// [Export] writes, per session in the order asked for: the session's events
// in ID order; its tool intents by start time and call ID; its tool
// outcomes by end time and call ID; its provider attempts in ID order; and
// a pin record if the session is pinned. [Import] accepts records in any
// order and applies them in the order of the file, so the events of a
// session keep their order and receive increasing IDs. A tool outcome may
// come before its intent.
//
// # Import
//
// [Import] writes into a [Destination], the recording methods of a
// session store. A destination that is also a [BatchDestination] (as
// *host.Store and *host.MonthlyRollover are) is written in batches; any
// other record by record. The destination redacts secrets as it does for
// every write.
//
// Into a [BatchDestination], Import first reads and checks the whole
// input: a bad line stops it with a [*LineError] naming the line, before
// anything is written. A destination that is also a [BatchChecker] (as
// *host.Store and *host.MonthlyRollover are) then checks every record as
// it would before writing it (its payload limit, required fields, JSON
// validity): a record it would refuse stops the import with a
// [*LineError] naming its line, again before anything is written. The
// input is held in memory meanwhile (about the size of the file). Then
// Import writes the records in order, in calls of WriteBatches of at most
// [MaxImportRecords] records and [MaxImportBytes] bytes each (a larger
// record goes alone), every call one transaction, all or nothing.
//
// Each record is its own batch, keyed by the SHA-256 of its identity and
// its occurrence number in the input. The identity is the record type and
// the fields that name the record, which retention does not change:
//
//   - event: session, turn, kind and time (to the nanosecond);
//   - tool intent and tool outcome: session and call ID;
//   - attempt: session, turn, provider, model, request ID and start time;
//   - pin: session.
//
// Payloads, arguments, results, token counts and costs are not part of
// it, so an export taken after retention dropped payloads has the keys of
// one taken before. The n-th record of the input with a given identity has
// occurrence n, so records of one file with the same identity are each
// imported. Across files the identity decides: an event of a second file
// with the session, turn, kind and time (to the nanosecond) of an event a
// first file imported is taken for that event and not written, even when
// its payload differs; so is any other record whose identity a keyed
// import wrote before (an intent or outcome with a call ID the session
// has, say).
//
// The destination skips a batch whose key it has written: importing the
// same file again, or another export of the same sessions, writes nothing
// of what is there, and an import that failed or was killed part way,
// which leaves whole transactions of a prefix of the input, completes when
// run again. Two imports of one file at once, from two handles or two
// processes, store each record once. [Stats] counts the input's records,
// and [Stats.Skipped] those the destination held already. A failure while
// writing (a full disk, a canceled context, a destination that does not
// check first) stops the import with a [*LineError] naming the line of the
// first record of the failed transaction, or of the record it names; the
// transactions before it are imported. The idempotence is the keys':
// records written into the destination by other means (a per-record
// import, a harness recording the session live) are not recognised, and
// [AppendExisting] has no effect.
//
// Into another [Destination], Import hands each record to one call:
// events to Append, intents to RecordToolIntent, outcomes to
// RecordToolOutcome, attempts to RecordAttempt, pins to Pin. Each record
// is read and checked whole before it is written, and each call writes it
// whole or not at all, so a failure leaves no record half imported: the
// records before the failing line are imported ([Stats] counts them), the
// failing one and those after it are not. A process killed during an
// import leaves the records of a prefix of the input, each whole,
// including every record the destination had acknowledged.
//
// Record by record, importing is not idempotent: the destination assigns
// new IDs, so a record imported twice is stored twice. [Import] therefore
// checks, at the first record of each session in the input, whether the
// destination has events of that session already, and if so stops there
// with [ErrAlreadyImported] naming the session, before writing anything of
// it. Importing a file a second time thus fails at its first session, and
// so does a retry of an import that failed part way: the sessions before
// the failing line are in the destination. [AppendExisting] imports
// regardless, after the events already there.
//
// The check guards against running the same import again, not against
// two imports at once: it looks only at events (a session the file holds
// only attempts, intents or outcomes of is imported again), and it is not
// atomic with the writes that follow, so two imports of one file started
// together into one store, from two handles or two processes, can both
// pass it and store every record twice. Run the imports of one file one
// after the other, or import into a [BatchDestination].
//
// Attempts keep their recorded estimate and price snapshot. An attempt
// recorded without either (EstimatedUSD 0, no price) is priced on import
// by a destination that has a price table, as any new attempt is.
package jsonl
