package abi

import "encoding/json"

// EventsRequest asks [FuncEventsSince] for a batch of a session's events.
type EventsRequest struct {
	// Session is the session to read; the run must grant it.
	Session SessionID `json:"session"`
	// After is the ID after which to start: the batch holds events with
	// IDs greater than After, in ID order. Zero starts at the beginning;
	// [EventBatch.Next] is the value to pass for the next batch.
	After uint64 `json:"after"`
	// Limit is the most events to return; zero lets the host choose. The
	// host caps it.
	Limit uint32 `json:"limit"`
	// MaxBytes is the most bytes the encoded batch should take; zero lets
	// the host choose. The host caps it, and always returns at least one
	// event when one remains, however large.
	MaxBytes uint32 `json:"max_bytes"`
}

// EventBatch is the response of [FuncEventsSince].
type EventBatch struct {
	// Events are the events read, in ID order.
	Events []EventEnvelope `json:"events"`
	// Next is the value to pass as [EventsRequest.After] to continue: the
	// ID of the last event of the batch, or the request's After when the
	// batch is empty.
	Next uint64 `json:"next"`
	// More reports whether the batch stopped at a limit, so that more
	// events may follow. False means the session had no more events when
	// it was read.
	More bool `json:"more"`
}

// SessionsRequest asks [FuncListSessions] for the sessions the run grants.
type SessionsRequest struct {
	// Limit is the most sessions to return; zero lets the host choose.
	Limit uint32 `json:"limit"`
}

// SessionList is the response of [FuncListSessions]: summaries of the
// sessions the run grants, as [PastSession] values, most recent first.
type SessionList struct {
	Sessions []PastSession `json:"sessions"`
}

// SessionRequest names one session, for [FuncOrphanIntents].
type SessionRequest struct {
	Session SessionID `json:"session"`
}

// IntentList is the response of [FuncOrphanIntents]: the session's tool
// intents that have no outcome.
type IntentList struct {
	Intents []ToolIntent `json:"intents"`
}

// TurnRequest names one turn of a session, for [FuncAttemptsForTurn].
type TurnRequest struct {
	Session SessionID `json:"session"`
	Turn    int64     `json:"turn"`
}

// AttemptList is the response of [FuncAttemptsForTurn]: the turn's
// provider attempts, in the order they were recorded.
type AttemptList struct {
	Attempts []ProviderAttempt `json:"attempts"`
}

// AppendResult is the response of [FuncAppendEvent].
type AppendResult struct {
	// ID is the ID the store assigned to the appended event.
	ID uint64 `json:"id"`
}

// ModelStep is the response of [FuncReplayModel]: the recorded model
// output that follows the replay cursor.
type ModelStep struct {
	// Turn is the turn the output belongs to.
	Turn int64 `json:"turn"`
	// Events are the consecutive recorded events that follow the cursor
	// and are neither user messages nor tool results (assistant messages,
	// tool calls, system notices, errors, ...).
	Events []EventEnvelope `json:"events"`
	// Attempts are the provider attempts of the turn. They are given with
	// the turn's first step only; later steps of the same turn have none.
	Attempts []ProviderAttempt `json:"attempts,omitempty"`
}

// ToolCall asks [FuncReplayTool] for the recorded outcome of a tool call.
type ToolCall struct {
	// CallID identifies the call within the replayed session.
	CallID string `json:"call_id"`
	// Tool is the name of the tool called.
	Tool string `json:"tool"`
	// Args are the call's arguments as JSON; optional.
	Args json.RawMessage `json:"args,omitempty"`
}
