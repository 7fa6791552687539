package abi

import "encoding"

// The encodings of the wire types, field by field in declaration order;
// the byte-level format is specified in the package documentation.

// Minimum encoded sizes of list elements, in bytes: every field takes at
// least one byte (a float64 eight). They bound the counts a decoder
// accepts.
const (
	minEventSize   = 6  // id, session, turn, kind, ts, payload
	minSessionSize = 8  // id, first, last, events, last turn, tool calls, preview, pinned
	minIntentSize  = 7  // session, turn, call ID, tool, hash, args, started
	minAttemptSize = 23 // 14 one-byte fields, estimated USD (8), price flag
)

// Compile-time checks that every wire type has the three methods.
var (
	_ wireType = (*EventEnvelope)(nil)
	_ wireType = (*PastSession)(nil)
	_ wireType = (*ToolIntent)(nil)
	_ wireType = (*ToolOutcome)(nil)
	_ wireType = (*ProviderAttempt)(nil)
	_ wireType = (*AttemptPrice)(nil)
	_ wireType = (*EventsRequest)(nil)
	_ wireType = (*EventBatch)(nil)
	_ wireType = (*SessionsRequest)(nil)
	_ wireType = (*SessionList)(nil)
	_ wireType = (*SessionRequest)(nil)
	_ wireType = (*IntentList)(nil)
	_ wireType = (*TurnRequest)(nil)
	_ wireType = (*AttemptList)(nil)
	_ wireType = (*AppendResult)(nil)
	_ wireType = (*ModelStep)(nil)
	_ wireType = (*ToolCall)(nil)
)

type wireType interface {
	encoding.BinaryAppender
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// EventEnvelope

func (e *encoder) event(v *EventEnvelope) {
	e.uvarint(v.ID)
	e.string(string(v.Session))
	e.varint(int64(v.Turn))
	e.string(v.Kind)
	e.time("EventEnvelope.TS", v.TS)
	e.bytes(v.Payload)
}

func (d *decoder) event(v *EventEnvelope) {
	v.ID = d.uvarint("EventEnvelope.ID")
	v.Session = d.sessionID("EventEnvelope.Session")
	v.Turn = d.int("EventEnvelope.Turn")
	v.Kind = d.kindString("EventEnvelope.Kind")
	v.TS = d.time("EventEnvelope.TS")
	v.Payload = d.bytes("EventEnvelope.Payload")
}

func (v *EventEnvelope) sizeHint() int {
	return 32 + len(v.Session) + len(v.Kind) + len(v.Payload)
}

func (e *encoder) events(vs []EventEnvelope) {
	e.uvarint(uint64(len(vs)))
	for i := range vs {
		e.event(&vs[i])
	}
}

func (d *decoder) events(field string) []EventEnvelope {
	n := d.count(field, minEventSize)
	if n == 0 {
		return nil
	}
	vs := make([]EventEnvelope, n)
	if !d.owned && d.err == nil {
		// One private copy of the input backs every event's strings and
		// payload (see eventsFast).
		d.buf = append([]byte(nil), d.buf...)
		d.owned = true
	}
	i := d.eventsFast(vs)
	for ; i < len(vs); i++ {
		// The events the fast path leaves, and their errors.
		d.event(&vs[i])
		if i+1 < len(vs) && d.err == nil {
			i += d.eventsFast(vs[i+1:])
		}
	}
	return vs
}

func eventsSizeHint(vs []EventEnvelope) int {
	n := 8
	for i := range vs {
		n += vs[i].sizeHint()
	}
	return n
}

// AppendBinary appends the wire encoding of v to b.
func (v EventEnvelope) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).event)
}

// MarshalBinary returns the wire encoding of v.
func (v EventEnvelope) MarshalBinary() ([]byte, error) {
	return v.AppendBinary(make([]byte, 0, v.sizeHint()))
}

// UnmarshalBinary decodes a wire encoding of an EventEnvelope into v. On
// error v is unchanged.
func (v *EventEnvelope) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).event)
}

// PastSession

func (e *encoder) pastSession(v *PastSession) {
	e.string(string(v.ID))
	e.time("PastSession.FirstSeen", v.FirstSeen)
	e.time("PastSession.LastSeen", v.LastSeen)
	e.varint(int64(v.Events))
	e.varint(int64(v.LastTurn))
	e.varint(int64(v.ToolCalls))
	e.string(v.FirstUserMessage)
	e.bool(v.Pinned)
}

func (d *decoder) pastSession(v *PastSession) {
	v.ID = SessionID(d.string("PastSession.ID"))
	v.FirstSeen = d.time("PastSession.FirstSeen")
	v.LastSeen = d.time("PastSession.LastSeen")
	v.Events = d.int("PastSession.Events")
	v.LastTurn = d.int("PastSession.LastTurn")
	v.ToolCalls = d.int("PastSession.ToolCalls")
	v.FirstUserMessage = d.string("PastSession.FirstUserMessage")
	v.Pinned = d.bool("PastSession.Pinned")
}

// AppendBinary appends the wire encoding of v to b.
func (v PastSession) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).pastSession)
}

// MarshalBinary returns the wire encoding of v.
func (v PastSession) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a PastSession into v. On
// error v is unchanged.
func (v *PastSession) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).pastSession)
}

// ToolIntent

func (e *encoder) toolIntent(v *ToolIntent) {
	e.string(string(v.Session))
	e.varint(int64(v.Turn))
	e.string(v.CallID)
	e.string(v.Tool)
	e.string(v.ArgsHash)
	e.bytes(v.Args)
	e.time("ToolIntent.StartedAt", v.StartedAt)
}

func (d *decoder) toolIntent(v *ToolIntent) {
	v.Session = d.sessionID("ToolIntent.Session")
	v.Turn = d.int("ToolIntent.Turn")
	v.CallID = d.string("ToolIntent.CallID")
	v.Tool = d.string("ToolIntent.Tool")
	v.ArgsHash = d.string("ToolIntent.ArgsHash")
	v.Args = d.bytes("ToolIntent.Args")
	v.StartedAt = d.time("ToolIntent.StartedAt")
}

// AppendBinary appends the wire encoding of v to b.
func (v ToolIntent) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).toolIntent)
}

// MarshalBinary returns the wire encoding of v.
func (v ToolIntent) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a ToolIntent into v. On
// error v is unchanged.
func (v *ToolIntent) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).toolIntent)
}

// ToolOutcome

func (e *encoder) toolOutcome(v *ToolOutcome) {
	e.string(string(v.Session))
	e.string(v.CallID)
	e.string(v.Status)
	e.bytes(v.Result)
	e.string(v.Error)
	e.time("ToolOutcome.EndedAt", v.EndedAt)
}

func (d *decoder) toolOutcome(v *ToolOutcome) {
	v.Session = d.sessionID("ToolOutcome.Session")
	v.CallID = d.string("ToolOutcome.CallID")
	v.Status = d.string("ToolOutcome.Status")
	v.Result = d.bytes("ToolOutcome.Result")
	v.Error = d.string("ToolOutcome.Error")
	v.EndedAt = d.time("ToolOutcome.EndedAt")
}

// AppendBinary appends the wire encoding of v to b.
func (v ToolOutcome) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).toolOutcome)
}

// MarshalBinary returns the wire encoding of v.
func (v ToolOutcome) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a ToolOutcome into v. On
// error v is unchanged.
func (v *ToolOutcome) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).toolOutcome)
}

// AttemptPrice

// Presence bits of the prices of an AttemptPrice, in field order.
const (
	priceInput = 1 << iota
	priceOutput
	priceCacheRead
	priceCacheWrite
	priceCacheWrite1h
	priceAll = 1<<iota - 1
)

func (e *encoder) attemptPrice(v *AttemptPrice) {
	e.utf8String("AttemptPrice.Source", v.Source)
	ps := [...]*NanoUSD{v.Input, v.Output, v.CacheRead, v.CacheWrite, v.CacheWrite1h}
	var flags byte
	for i, p := range ps {
		if p != nil {
			flags |= 1 << i
		}
	}
	e.b = append(e.b, flags)
	for _, p := range ps {
		if p != nil {
			e.varint(int64(*p))
		}
	}
}

func (d *decoder) attemptPrice(v *AttemptPrice) {
	v.Source = d.utf8String("AttemptPrice.Source")
	flags := d.byte("AttemptPrice flags")
	if flags&^priceAll != 0 {
		d.off--
		d.fail("AttemptPrice flags", reasonFlags)
		return
	}
	ps := [...]**NanoUSD{&v.Input, &v.Output, &v.CacheRead, &v.CacheWrite, &v.CacheWrite1h}
	names := [...]string{"AttemptPrice.Input", "AttemptPrice.Output", "AttemptPrice.CacheRead", "AttemptPrice.CacheWrite", "AttemptPrice.CacheWrite1h"}
	for i, p := range ps {
		if flags&(1<<i) != 0 {
			n := NanoUSD(d.varint(names[i]))
			*p = &n
		}
	}
}

// AppendBinary appends the wire encoding of v to b. It fails when Source
// is not valid UTF-8.
func (v AttemptPrice) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).attemptPrice)
}

// MarshalBinary returns the wire encoding of v. It fails when Source is
// not valid UTF-8.
func (v AttemptPrice) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of an AttemptPrice into v. On
// error v is unchanged.
func (v *AttemptPrice) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).attemptPrice)
}

// ProviderAttempt

func (e *encoder) attempt(v *ProviderAttempt) {
	e.varint(v.ID)
	e.string(v.Session)
	e.varint(int64(v.Turn))
	e.string(v.Provider)
	e.string(v.Model)
	e.string(v.RequestID)
	e.time("ProviderAttempt.StartedAt", v.StartedAt)
	e.time("ProviderAttempt.EndedAt", v.EndedAt)
	e.string(v.TerminatedReason)
	e.varint(int64(v.InputTokens))
	e.varint(int64(v.OutputTokens))
	e.varint(int64(v.CacheReadTokens))
	e.varint(int64(v.CacheWriteTokens))
	e.varint(int64(v.CacheWrite1hTokens))
	e.float64(v.EstimatedUSD)
	if v.Price == nil {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.attemptPrice(v.Price)
}

func (d *decoder) attempt(v *ProviderAttempt) {
	v.ID = d.varint("ProviderAttempt.ID")
	v.Session = string(d.sessionID("ProviderAttempt.Session"))
	v.Turn = d.int("ProviderAttempt.Turn")
	v.Provider = d.string("ProviderAttempt.Provider")
	v.Model = d.string("ProviderAttempt.Model")
	v.RequestID = d.string("ProviderAttempt.RequestID")
	v.StartedAt = d.time("ProviderAttempt.StartedAt")
	v.EndedAt = d.time("ProviderAttempt.EndedAt")
	v.TerminatedReason = d.string("ProviderAttempt.TerminatedReason")
	v.InputTokens = d.int("ProviderAttempt.InputTokens")
	v.OutputTokens = d.int("ProviderAttempt.OutputTokens")
	v.CacheReadTokens = d.int("ProviderAttempt.CacheReadTokens")
	v.CacheWriteTokens = d.int("ProviderAttempt.CacheWriteTokens")
	v.CacheWrite1hTokens = d.int("ProviderAttempt.CacheWrite1hTokens")
	v.EstimatedUSD = d.float64("ProviderAttempt.EstimatedUSD")
	if d.bool("ProviderAttempt.Price") {
		v.Price = new(AttemptPrice)
		d.attemptPrice(v.Price)
	}
}

func (e *encoder) attempts(vs []ProviderAttempt) {
	e.uvarint(uint64(len(vs)))
	for i := range vs {
		e.attempt(&vs[i])
	}
}

func (d *decoder) attempts(field string) []ProviderAttempt {
	n := d.count(field, minAttemptSize)
	if n == 0 {
		return nil
	}
	vs := make([]ProviderAttempt, n)
	for i := range vs {
		d.attempt(&vs[i])
	}
	return vs
}

// AppendBinary appends the wire encoding of v to b. It fails when the
// price's Source is not valid UTF-8.
func (v ProviderAttempt) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).attempt)
}

// MarshalBinary returns the wire encoding of v. It fails when the price's
// Source is not valid UTF-8.
func (v ProviderAttempt) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a ProviderAttempt into v. On
// error v is unchanged.
func (v *ProviderAttempt) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).attempt)
}

// EventsRequest

func (e *encoder) eventsRequest(v *EventsRequest) {
	e.string(string(v.Session))
	e.uvarint(v.After)
	e.uvarint(uint64(v.Limit))
	e.uvarint(uint64(v.MaxBytes))
}

func (d *decoder) eventsRequest(v *EventsRequest) {
	v.Session = SessionID(d.string("EventsRequest.Session"))
	v.After = d.uvarint("EventsRequest.After")
	v.Limit = d.uint32("EventsRequest.Limit")
	v.MaxBytes = d.uint32("EventsRequest.MaxBytes")
}

// AppendBinary appends the wire encoding of v to b.
func (v EventsRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).eventsRequest)
}

// MarshalBinary returns the wire encoding of v.
func (v EventsRequest) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of an EventsRequest into v. On
// error v is unchanged.
func (v *EventsRequest) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).eventsRequest)
}

// EventBatch

func (e *encoder) eventBatch(v *EventBatch) {
	e.events(v.Events)
	e.uvarint(v.Next)
	e.bool(v.More)
}

func (d *decoder) eventBatch(v *EventBatch) {
	v.Events = d.events("EventBatch.Events")
	v.Next = d.uvarint("EventBatch.Next")
	v.More = d.bool("EventBatch.More")
}

// AppendBinary appends the wire encoding of v to b.
func (v EventBatch) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).eventBatch)
}

// MarshalBinary returns the wire encoding of v.
func (v EventBatch) MarshalBinary() ([]byte, error) {
	return v.AppendBinary(make([]byte, 0, eventsSizeHint(v.Events)+16))
}

// UnmarshalBinary decodes a wire encoding of an EventBatch into v. On
// error v is unchanged. An empty Events decodes as nil.
func (v *EventBatch) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).eventBatch)
}

// SessionsRequest

func (e *encoder) sessionsRequest(v *SessionsRequest) { e.uvarint(uint64(v.Limit)) }

func (d *decoder) sessionsRequest(v *SessionsRequest) {
	v.Limit = d.uint32("SessionsRequest.Limit")
}

// AppendBinary appends the wire encoding of v to b.
func (v SessionsRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).sessionsRequest)
}

// MarshalBinary returns the wire encoding of v.
func (v SessionsRequest) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a SessionsRequest into v. On
// error v is unchanged.
func (v *SessionsRequest) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).sessionsRequest)
}

// SessionList

func (e *encoder) sessionList(v *SessionList) {
	e.uvarint(uint64(len(v.Sessions)))
	for i := range v.Sessions {
		e.pastSession(&v.Sessions[i])
	}
}

func (d *decoder) sessionList(v *SessionList) {
	n := d.count("SessionList.Sessions", minSessionSize)
	if n == 0 {
		return
	}
	v.Sessions = make([]PastSession, n)
	for i := range v.Sessions {
		d.pastSession(&v.Sessions[i])
	}
}

// AppendBinary appends the wire encoding of v to b.
func (v SessionList) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).sessionList)
}

// MarshalBinary returns the wire encoding of v.
func (v SessionList) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a SessionList into v. On
// error v is unchanged. An empty Sessions decodes as nil.
func (v *SessionList) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).sessionList)
}

// SessionRequest

func (e *encoder) sessionRequest(v *SessionRequest) { e.string(string(v.Session)) }

func (d *decoder) sessionRequest(v *SessionRequest) {
	v.Session = SessionID(d.string("SessionRequest.Session"))
}

// AppendBinary appends the wire encoding of v to b.
func (v SessionRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).sessionRequest)
}

// MarshalBinary returns the wire encoding of v.
func (v SessionRequest) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a SessionRequest into v. On
// error v is unchanged.
func (v *SessionRequest) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).sessionRequest)
}

// IntentList

func (e *encoder) intentList(v *IntentList) {
	e.uvarint(uint64(len(v.Intents)))
	for i := range v.Intents {
		e.toolIntent(&v.Intents[i])
	}
}

func (d *decoder) intentList(v *IntentList) {
	n := d.count("IntentList.Intents", minIntentSize)
	if n == 0 {
		return
	}
	v.Intents = make([]ToolIntent, n)
	for i := range v.Intents {
		d.toolIntent(&v.Intents[i])
	}
}

// AppendBinary appends the wire encoding of v to b.
func (v IntentList) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).intentList)
}

// MarshalBinary returns the wire encoding of v.
func (v IntentList) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of an IntentList into v. On
// error v is unchanged. An empty Intents decodes as nil.
func (v *IntentList) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).intentList)
}

// TurnRequest

func (e *encoder) turnRequest(v *TurnRequest) {
	e.string(string(v.Session))
	e.varint(v.Turn)
}

func (d *decoder) turnRequest(v *TurnRequest) {
	v.Session = SessionID(d.string("TurnRequest.Session"))
	v.Turn = d.varint("TurnRequest.Turn")
}

// AppendBinary appends the wire encoding of v to b.
func (v TurnRequest) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).turnRequest)
}

// MarshalBinary returns the wire encoding of v.
func (v TurnRequest) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a TurnRequest into v. On
// error v is unchanged.
func (v *TurnRequest) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).turnRequest)
}

// AttemptList

func (e *encoder) attemptList(v *AttemptList) { e.attempts(v.Attempts) }

func (d *decoder) attemptList(v *AttemptList) {
	v.Attempts = d.attempts("AttemptList.Attempts")
}

// AppendBinary appends the wire encoding of v to b. It fails when a
// price's Source is not valid UTF-8.
func (v AttemptList) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).attemptList)
}

// MarshalBinary returns the wire encoding of v. It fails when a price's
// Source is not valid UTF-8.
func (v AttemptList) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of an AttemptList into v. On
// error v is unchanged. An empty Attempts decodes as nil.
func (v *AttemptList) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).attemptList)
}

// AppendResult

func (e *encoder) appendResult(v *AppendResult) { e.uvarint(v.ID) }

func (d *decoder) appendResult(v *AppendResult) { v.ID = d.uvarint("AppendResult.ID") }

// AppendBinary appends the wire encoding of v to b.
func (v AppendResult) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).appendResult)
}

// MarshalBinary returns the wire encoding of v.
func (v AppendResult) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of an AppendResult into v. On
// error v is unchanged.
func (v *AppendResult) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).appendResult)
}

// ModelStep

func (e *encoder) modelStep(v *ModelStep) {
	e.varint(v.Turn)
	e.events(v.Events)
	e.attempts(v.Attempts)
}

func (d *decoder) modelStep(v *ModelStep) {
	v.Turn = d.varint("ModelStep.Turn")
	v.Events = d.events("ModelStep.Events")
	v.Attempts = d.attempts("ModelStep.Attempts")
}

// AppendBinary appends the wire encoding of v to b. It fails when a
// price's Source is not valid UTF-8.
func (v ModelStep) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).modelStep)
}

// MarshalBinary returns the wire encoding of v. It fails when a price's
// Source is not valid UTF-8.
func (v ModelStep) MarshalBinary() ([]byte, error) {
	return v.AppendBinary(make([]byte, 0, eventsSizeHint(v.Events)+64*len(v.Attempts)))
}

// UnmarshalBinary decodes a wire encoding of a ModelStep into v. On error
// v is unchanged. Empty Events and Attempts decode as nil.
func (v *ModelStep) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).modelStep)
}

// ToolCall

func (e *encoder) toolCall(v *ToolCall) {
	e.string(v.CallID)
	e.string(v.Tool)
	e.bytes(v.Args)
}

func (d *decoder) toolCall(v *ToolCall) {
	v.CallID = d.string("ToolCall.CallID")
	v.Tool = d.string("ToolCall.Tool")
	v.Args = d.bytes("ToolCall.Args")
}

// AppendBinary appends the wire encoding of v to b.
func (v ToolCall) AppendBinary(b []byte) ([]byte, error) {
	return appendValue(b, &v, (*encoder).toolCall)
}

// MarshalBinary returns the wire encoding of v.
func (v ToolCall) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// UnmarshalBinary decodes a wire encoding of a ToolCall into v. On error
// v is unchanged.
func (v *ToolCall) UnmarshalBinary(data []byte) error {
	return unmarshal(data, v, (*decoder).toolCall)
}
