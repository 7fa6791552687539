package abi

import (
	"strings"
	"time"
)

// Reasons a provider attempt ended: the values of
// [ProviderAttempt.TerminatedReason].
const (
	// AttemptComplete means the provider returned a complete response.
	AttemptComplete = "complete"
	// AttemptEOF means the stream ended before the response was complete.
	AttemptEOF = "eof"
	// AttemptTimeout means the attempt exceeded its deadline.
	AttemptTimeout = "timeout"
	// AttemptCancel means the harness canceled the attempt (user
	// interrupt, context cancellation, shutdown).
	AttemptCancel = "cancel"
	// AttemptHTTPError means the provider answered with an HTTP error.
	AttemptHTTPError = "http_error"
)

// NanoUSD is an amount of US dollars in nano-dollars (1e-9 USD). The store
// keeps money in this unit, as integers, so that sums are exact; an int64
// holds up to about 9.2e9 USD.
type NanoUSD int64

// USD returns n in dollars.
func (n NanoUSD) USD() float64 { return float64(n) / 1e9 }

// AttemptPrice is the price snapshot an attempt's cost was estimated
// with: prices per million tokens, each nil when the source gave none, and
// where they came from. A snapshot the store takes from its price table
// holds the prices the attempt's tokens were billed at (those of the
// context tier the attempt fell in) and leaves nil the kinds the attempt
// had no tokens of; EstimatedUSD is then the sum of tokens times prices
// (plus any fixed per-request fee of the model, which the snapshot does
// not show).
//
// A snapshot whose Source begins with [UnpricedPrefix] records that no
// price was found for the attempt (see [AttemptPrice.Unpriced]): its
// EstimatedUSD of 0 means "unknown", not "free".
type AttemptPrice struct {
	// Source names the prices' origin and version, for example
	// "pydantic/genai-prices@47df840a5ab10bbcffb8e5ac01b9899032245d1b 2026-08-21",
	// or begins with UnpricedPrefix. It must not be empty.
	Source string `json:"source"`
	// Input is the price of one million input tokens.
	Input *NanoUSD `json:"input_per_mtok,omitempty"`
	// Output is the price of one million output tokens.
	Output *NanoUSD `json:"output_per_mtok,omitempty"`
	// CacheRead is the price of one million tokens read from the
	// provider's prompt cache.
	CacheRead *NanoUSD `json:"cache_read_per_mtok,omitempty"`
	// CacheWrite is the price of one million tokens written to the
	// provider's prompt cache for 5 minutes (the tokens of
	// [ProviderAttempt.CacheWriteTokens]).
	CacheWrite *NanoUSD `json:"cache_write_per_mtok,omitempty"`
	// CacheWrite1h is the price of one million tokens written to the
	// provider's prompt cache for 1 hour (the tokens of
	// [ProviderAttempt.CacheWrite1hTokens]). It is the price applied,
	// whether the table listed it or it was derived: a table without a
	// 1-hour cache write price bills those tokens at twice the input price,
	// as Anthropic publishes, and the snapshot then holds that doubled
	// price.
	CacheWrite1h *NanoUSD `json:"cache_write_1h_per_mtok,omitempty"`
}

// MaxAttemptString is the largest provider name, model name, request ID
// or price source, in bytes, that a store accepts in a [ProviderAttempt].
const MaxAttemptString = 256

// UnpricedPrefix begins the Source of a price snapshot that records that
// the attempt could not be priced; the rest says why and with which table,
// for example "unpriced: unknown model (pydantic/genai-prices@47df840a… 2026-08-21)".
// Such a snapshot carries no prices, and its attempt's EstimatedUSD is 0.
const UnpricedPrefix = "unpriced: "

// Unpriced reports whether p records that no price was found for its
// attempt: p is not nil and its Source begins with [UnpricedPrefix]. An
// attempt without a snapshot (p nil) is not marked unpriced: it was
// priced by whoever recorded it, or not at all.
func (p *AttemptPrice) Unpriced() bool {
	return p != nil && strings.HasPrefix(p.Source, UnpricedPrefix)
}

// ProviderAttempt is one HTTP attempt at a model provider within a turn.
// A turn whose request was retried has one attempt per try, so its true
// cost is the sum of all of them.
type ProviderAttempt struct {
	// ID is assigned by the store when the attempt is recorded: strictly
	// increasing within one store and never reused. It is ignored when
	// recording.
	ID int64 `json:"id"`
	// Session is the session the attempt belongs to; it must not be
	// empty.
	Session string `json:"session"`
	// Turn is the harness's turn number within the session.
	Turn int `json:"turn"`
	// Provider names the provider, for example "anthropic".
	Provider string `json:"provider"`
	// Model is the model requested.
	Model string `json:"model"`
	// RequestID is the provider's request ID, when the response surfaced
	// one.
	RequestID string `json:"request_id,omitempty"`
	// StartedAt is when the request was sent.
	StartedAt time.Time `json:"started_at"`
	// EndedAt is when the attempt ended; it is not before StartedAt.
	EndedAt time.Time `json:"ended_at"`
	// TerminatedReason says how the attempt ended: one of the Attempt
	// constants such as [AttemptComplete].
	TerminatedReason string `json:"terminated_reason"`
	// InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens and
	// CacheWrite1hTokens are the token counts the provider reported (or
	// the harness estimated); none is negative. They are disjoint, as
	// Anthropic reports them: InputTokens excludes the tokens read from or
	// written to the prompt cache (subtract OpenAI's cached_tokens from
	// its prompt_tokens).
	//
	// CacheWriteTokens are the tokens written to a 5-minute cache entry
	// and CacheWrite1hTokens those written to a 1-hour one, which cost
	// more; no token is in both. From Anthropic's usage,
	// CacheWrite1hTokens is cache_creation.ephemeral_1h_input_tokens and
	// CacheWriteTokens is cache_creation.ephemeral_5m_input_tokens, or
	// cache_creation_input_tokens when no breakdown is reported.
	InputTokens        int `json:"input_tokens"`
	OutputTokens       int `json:"output_tokens"`
	CacheReadTokens    int `json:"cache_read_tokens"`
	CacheWriteTokens   int `json:"cache_write_tokens"`
	CacheWrite1hTokens int `json:"cache_write_1h_tokens"`
	// EstimatedUSD is the attempt's cost as estimated locally from the
	// token counts, in dollars. The store keeps it in whole nano-dollars
	// ([NanoUSD]), rounding to the nearest.
	EstimatedUSD float64 `json:"estimated_usd"`
	// Price is the price snapshot EstimatedUSD was computed with; nil
	// when there is none. A store with a price table fills in
	// EstimatedUSD and Price of an attempt recorded with neither.
	Price *AttemptPrice `json:"price,omitempty"`
}
