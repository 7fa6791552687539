package abi

import (
	"encoding/json"
	"time"
)

// SessionID identifies one agent session. It is an opaque, non-empty string
// chosen by the harness (typically a UUID); the store compares IDs byte for
// byte and never interprets them.
type SessionID string

// Event kinds: the values of [EventEnvelope.Kind] written by the harness.
// A store accepts any non-empty kind; these are the ones it understands
// (for example, [PastSession.FirstUserMessage] is taken from the first
// [KindUserMessage] event, and [PastSession.ToolCalls] counts
// [KindToolCall] events).
const (
	// KindUserMessage is a message typed by the user (or sent on the user's
	// behalf) to the agent.
	KindUserMessage = "user_message"
	// KindAssistantMessage is text produced by the model.
	KindAssistantMessage = "assistant_message"
	// KindToolCall is a tool invocation requested by the model.
	KindToolCall = "tool_call"
	// KindToolResult is the result returned to the model for a tool call.
	KindToolResult = "tool_result"
	// KindSystem is a harness or system message (prompts, notices,
	// compaction summaries).
	KindSystem = "system"
	// KindError is an error surfaced during the session (provider, tool or
	// harness failure).
	KindError = "error"
)

// EventEnvelope is one entry of a session's event log.
type EventEnvelope struct {
	// ID is assigned by the store on append and is strictly increasing
	// within one store (it is not contiguous and not comparable across
	// stores). It is ignored on append.
	ID uint64 `json:"id"`
	// Session is the session the event belongs to; it must not be empty.
	Session SessionID `json:"session"`
	// Turn is the harness's turn number within the session.
	Turn int `json:"turn"`
	// Kind says what the payload is: one of the Kind constants such as
	// [KindUserMessage], or a harness-defined kind.
	Kind string `json:"kind"`
	// TS is when the event happened, as reported by the harness.
	TS time.Time `json:"ts"`
	// Payload is the event body as JSON text. It is redacted before it is
	// stored. On events read back from a store, a nil Payload means the
	// payload was removed by retention and only the metadata remains.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ToolIntent records that a tool call is about to run. It is written
// before the tool executes so that, after a crash, a harness can find calls
// whose outcome it never learned (an intent with no [ToolOutcome]).
type ToolIntent struct {
	// Session is the session that issued the call.
	Session SessionID `json:"session"`
	// Turn is the turn in which the call was issued.
	Turn int `json:"turn"`
	// CallID is the provider's or harness's identifier of the call; it is
	// unique within the session and links the intent to its outcome.
	CallID string `json:"call_id"`
	// Tool is the name of the tool being called.
	Tool string `json:"tool"`
	// ArgsHash is the lowercase hex SHA-256 of the call's arguments as the
	// harness serialised them (see host.HashArgs). Equal hashes let a
	// harness recognise a repeated call without comparing arguments.
	ArgsHash string `json:"args_hash"`
	// Args are the call's arguments as JSON, redacted before they are
	// stored. Optional: nil records only the hash.
	Args json.RawMessage `json:"args,omitempty"`
	// StartedAt is when the call was started.
	StartedAt time.Time `json:"started_at"`
}

// Tool outcome statuses: the values of [ToolOutcome.Status].
const (
	// StatusOK means the tool ran and returned a result.
	StatusOK = "ok"
	// StatusError means the tool ran and failed.
	StatusError = "error"
	// StatusCanceled means the call was canceled before it finished
	// (user interrupt, context cancellation, harness shutdown).
	StatusCanceled = "canceled"
	// StatusTimeout means the call exceeded its deadline.
	StatusTimeout = "timeout"
	// StatusDenied means the call was refused before it ran (permission
	// policy or user decision).
	StatusDenied = "denied"
)

// ToolOutcome records how a tool call ended. It matches the [ToolIntent]
// with the same Session and CallID.
type ToolOutcome struct {
	// Session is the session that issued the call.
	Session SessionID `json:"session"`
	// CallID identifies the call; see [ToolIntent.CallID].
	CallID string `json:"call_id"`
	// Status is one of the Status constants such as [StatusOK].
	Status string `json:"status"`
	// Result is the tool's result as JSON, redacted before it is stored.
	// Optional.
	Result json.RawMessage `json:"result,omitempty"`
	// Error is a short human-readable reason when Status is not
	// [StatusOK]; empty otherwise. It is redacted like Result.
	Error string `json:"error,omitempty"`
	// EndedAt is when the call finished.
	EndedAt time.Time `json:"ended_at"`
}

// PreviewMaxRunes is the maximum length, in runes, of
// [PastSession.FirstUserMessage].
const PreviewMaxRunes = 256

// PastSession summarises one recorded session, as listed by the store for a
// "resume a previous session" picker.
type PastSession struct {
	// ID is the session's identifier.
	ID SessionID `json:"id"`
	// FirstSeen is the smallest event timestamp recorded for the session.
	FirstSeen time.Time `json:"first_seen"`
	// LastSeen is the largest event timestamp recorded for the session.
	LastSeen time.Time `json:"last_seen"`
	// Events is the number of events recorded for the session, including
	// metadata-only events whose payload was dropped by retention.
	Events int `json:"events"`
	// LastTurn is the highest [EventEnvelope.Turn] recorded for the session.
	LastTurn int `json:"last_turn"`
	// ToolCalls is the number of [KindToolCall] events recorded for the
	// session.
	ToolCalls int `json:"tool_calls"`
	// FirstUserMessage is a plain-text preview of the session's first
	// [KindUserMessage] event, already redacted and cut to at most
	// [PreviewMaxRunes] runes. It is empty when the session has no user
	// message or its payload was dropped by retention.
	FirstUserMessage string `json:"first_user_message,omitempty"`
	// Pinned reports whether the session is pinned, which exempts it from
	// retention.
	Pinned bool `json:"pinned"`
}
