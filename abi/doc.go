// Package abi is the contract between the gofastr store host and the
// sandboxed WebAssembly guest modules it runs: the data types that cross
// the host/guest boundary (sessions, events, tool intents and outcomes,
// provider attempts and their costs, session summaries), the ABI version
// and its negotiation, the host module and function names, the error
// codes ([Errno]) and the wire encoding of every value passed.
//
// The package is deliberately small and dependency-free. It imports only
// the standard library, uses no reflection on the encoding path, builds
// both natively and for GOOS=wasip1 GOARCH=wasm, and holds no mutable
// exported state: everything exported is a type, a method, a function, a
// constant or the sentinel error [ErrMalformed]. Behaviour (storing,
// redacting, compressing, serving guests) lives in other packages; abi
// only says what the values mean and how they are written.
//
// # Compatibility
//
// These types are part of the ABI seen by guests. Fields may be added; the
// meaning of an existing field or constant never changes within one ABI major
// version. The JSON field names given by the struct tags are part of that
// contract and use snake_case; JSON is the debugging form of the values,
// the binary encoding below is what crosses the boundary.
//
// # Versioning
//
// A guest exports a function named [MarkerExport](major, minor), such as
// "gofastr_abi_v1_0", with no parameters and no results, and imports host
// functions from the module [HostModule] ("gofastr_store_v1"; the major
// version is part of the name) and from WASI preview 1 ([WASIModule]). A
// host runs a guest whose major version equals its own and whose minor
// version is not above its own, and refuses any other, naming both
// versions. The host function [FuncABIVersion] returns the host's version
// packed as major<<16 | minor ([PackVersion]).
//
// # Calling convention
//
// Every host operation has the WebAssembly signature
//
//	(req_ptr, req_len, out_ptr, out_cap i32) -> i64
//
// The guest owns both buffers. The request is the wire encoding of the
// operation's request type (operations without one ignore req_ptr and
// req_len; pass 0, 0). The i64 result packs a status and a byte count
// ([Result], [SplitResult]): errno in the high 32 bits, n in the low 32.
//
//   - errno 0: the response is n bytes. When n <= out_cap they were
//     written at out_ptr. Otherwise nothing was written: the host keeps the
//     response as the instance's pending result, and the guest fetches it
//     with take_result(out_ptr, out_cap) -> i64 into a buffer of at least n
//     bytes. The operation itself ran once. Any other operation discards a
//     pending result.
//   - errno not 0: the response is a UTF-8 message saying why, truncated
//     to out_cap; n is the number of bytes written.
//
// The host checks every pointer and length against the guest's memory
// ([ErrnoFault] when outside), copies the request before acting on it,
// and keeps no guest pointer after returning. Requests longer than
// [MaxRequest] fail with [ErrnoTooBig].
//
// # Wire encoding
//
// Each wire type (the stored types [EventEnvelope], [PastSession],
// [ToolIntent], [ToolOutcome], [ProviderAttempt] and [AttemptPrice], and
// the request and response types such as [EventsRequest] and [EventBatch])
// implements [encoding.BinaryAppender], [encoding.BinaryMarshaler] and
// [encoding.BinaryUnmarshaler]. A value is encoded as its fields in the
// order they are declared, with no header, no field tags and no padding;
// the type of a message is known from the operation that carries it. The
// field encodings are:
//
//   - uvarint: an unsigned integer in the base-128 varint form of
//     [encoding/binary.AppendUvarint]: 7 bits per byte, least significant
//     group first, the high bit set on every byte but the last. At most
//     10 bytes and 64 bits, and minimal: a last byte of 0x00 after another
//     byte is rejected. Used for uint64, uint32 (values above 2^32-1 are
//     rejected), lengths and counts.
//   - varint: a signed integer zigzag-mapped to a uvarint, as
//     [encoding/binary.AppendVarint]: n >= 0 as 2n, n < 0 as -2n-1. Used for
//     int and int64 fields and [NanoUSD] (values outside Go's int are
//     rejected).
//   - bool: one byte, 0x00 false or 0x01 true; any other byte is rejected.
//   - float64: 8 bytes, the IEEE 754 bits little-endian.
//   - string: uvarint byte length, then the bytes. Strings are byte
//     strings and may hold any bytes, except [AttemptPrice.Source], which
//     must be valid UTF-8 (encoding and decoding fail otherwise).
//   - optional bytes (payloads, tool arguments and results): a uvarint of
//     0 for nil (a payload dropped by retention), otherwise uvarint
//     len+1 followed by len bytes; an empty, non-nil payload is the single
//     byte 0x01. The bytes are passed through unchanged.
//   - time: one byte 0x00 for the zero [time.Time] (unset); or 0x01, then
//     the seconds since 1970-01-01T00:00:00Z as a varint and the
//     nanoseconds within the second as a uvarint below 1e9 (times before
//     1970 have negative seconds and non-negative nanoseconds). A present
//     time equal to the zero time (0001-01-01T00:00:00Z) is rejected: it
//     must be written as 0x00. Times decode in UTC, to the nanosecond.
//   - list: uvarint count, then each element. A count larger than the rest
//     of the input could hold is rejected before anything is allocated.
//     An empty list decodes as nil.
//   - optional struct ([ProviderAttempt.Price]): one byte 0x00 (nil) or
//     0x01 followed by the struct.
//   - price set: [AttemptPrice] is its Source, then one byte of presence
//     flags (bit 0 Input, 1 Output, 2 CacheRead, 3 CacheWrite, 4
//     CacheWrite1h; other bits rejected), then a varint for each price
//     present, in that bit order.
//
// The field order of each type, with the encodings above:
//
//	EventEnvelope   ID uvarint, Session string, Turn varint, Kind string,
//	                TS time, Payload optional bytes
//	PastSession     ID string, FirstSeen time, LastSeen time, Events varint,
//	                LastTurn varint, ToolCalls varint, FirstUserMessage
//	                string, Pinned bool
//	ToolIntent      Session string, Turn varint, CallID string, Tool string,
//	                ArgsHash string, Args optional bytes, StartedAt time
//	ToolOutcome     Session string, CallID string, Status string, Result
//	                optional bytes, Error string, EndedAt time
//	AttemptPrice    Source string (UTF-8), flags byte, prices varint...
//	ProviderAttempt ID varint, Session string, Turn varint, Provider string,
//	                Model string, RequestID string, StartedAt time, EndedAt
//	                time, TerminatedReason string, InputTokens varint,
//	                OutputTokens varint, CacheReadTokens varint,
//	                CacheWriteTokens varint, CacheWrite1hTokens varint,
//	                EstimatedUSD float64, Price optional AttemptPrice
//	EventsRequest   Session string, After uvarint, Limit uvarint (uint32),
//	                MaxBytes uvarint (uint32)
//	EventBatch      Events list of EventEnvelope, Next uvarint, More bool
//	SessionsRequest Limit uvarint (uint32)
//	SessionList     Sessions list of PastSession
//	SessionRequest  Session string
//	IntentList      Intents list of ToolIntent
//	TurnRequest     Session string, Turn varint
//	AttemptList     Attempts list of ProviderAttempt
//	AppendResult    ID uvarint
//	ModelStep       Turn varint, Events list of EventEnvelope, Attempts list
//	                of ProviderAttempt
//	ToolCall        CallID string, Tool string, Args optional bytes
//
// Every value has exactly one encoding, so decoding then encoding gives
// back the input bytes. A decoder rejects, with an error wrapping
// [ErrMalformed], input that ends inside a value, bytes left after it, a
// length or count past the end of the input, and every non-canonical form
// named above; it never panics. Decoded strings and payloads do not alias
// the input: the payloads of one decoded value, and the session IDs and
// kinds of the events of a list, share one copy of it, made in one
// allocation and never written to (which decodes a batch about 2.4 times
// faster in a wasip1 guest than one allocation per payload), so a payload
// or string kept alone keeps that copy alive. Each payload's capacity ends
// where the payload does: appending to one never writes over another.
//
// The file testdata/wire-vectors.json of this package lists values with
// their JSON form and the hex of their encoding, for checking an
// implementation in another language.
//
// # Choice of encoding
//
// The binary form was chosen over encoding/json, on the same types, by
// measurement (docs/BENCHMARKS.md, "Guest ABI wire encoding"): for a batch
// of 256 agent-session events with JSON payloads of 300 bytes to 2 KB,
// decoding in a Go wasip1 guest run by wazero took 0.53 ms in binary
// against 26 ms in JSON, and encoding natively 0.02 ms against 3.4 ms; a
// model step (three events, two priced attempts) decoded in the guest in
// 37 µs against 0.8 ms. Payloads pass through both forms unchanged, so the
// binary form is only 6 to 25 percent smaller. JSON stays the form for
// reading and debugging: the struct tags are part of the contract.
//
// An encoding belongs to one ABI version. A later minor version that adds
// fields to a type appends them after the existing ones; a host serving a
// guest built for an earlier minor version (it knows which from the
// guest's marker) decodes the guest's requests and encodes its responses
// in that version's form. A guest never sees a form newer than its own.
//
// # Threat model
//
// Values of these types are untrusted when they come from a guest. Payloads
// ([EventEnvelope.Payload], [ToolIntent.Args], [ToolOutcome.Result]) are
// raw JSON supplied by the harness; the host redacts secrets from them before
// they are stored, so a value read back from a store may differ from the value
// that was appended. No type here ever carries key material.
package abi
