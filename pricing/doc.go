// Package pricing estimates what an LLM request cost in US dollars from its
// token usage, using a public, dated price table.
//
// # The table
//
// The table is the data file of pydantic/genai-prices (prices/data.json,
// MIT licence): providers, each with match rules for provider names and
// model names, and per-model prices in dollars per million tokens. The
// package embeds a snapshot of it, taken at upstream commit
// 47df840a5ab10bbcffb8e5ac01b9899032245d1b of 2026-08-21 (EmbeddedName,
// EmbeddedDate; data/SOURCE.md records the source and licence). Default
// returns it. Prices change; a newer data.json loads with Load or LoadFile
// and is used the same way. To update the embedded snapshot, replace
// data/genai-prices.json with prices/data.json of a newer upstream commit,
// update EmbeddedName, EmbeddedDate and data/SOURCE.md, and run the tests
// (the corpus test with upstream's test dataset of the same commit).
//
// # What is priced
//
// Table.Estimate prices one request: the provider and model are looked up
// as genai-prices does (ids, provider_match and model match rules,
// fallback providers), the prices in force at the given time are chosen
// (dated and time-of-day conditions), and the tier is chosen from the
// request's total input tokens (a tier applies when the total exceeds its
// start, and then to every token of the kind). Input, output, cache reads
// and 5-minute and 1-hour cache writes are priced; audio, image and video
// tokens and per-tool fees (web searches) are not (Usage has no field for
// them). A provider, model or token kind the table has no price for is an
// error matching ErrUnpriced, never a zero.
//
// # 1-hour cache writes
//
// genai-prices has one cache write price per model, for the 5-minute cache.
// Anthropic, the provider that reports 1-hour cache writes
// (cache_creation.ephemeral_1h_input_tokens), bills them at twice the base
// input price of the same context tier, for every model. Estimate prices
// Usage.CacheWrite1h that way, from the input price of the tier in force,
// and says so in Prices.CacheWrite1hDerived; a model without an input price
// leaves them unpriced (ErrUnpriced). The alternative, refusing every request
// with 1-hour writes as unpriced, would leave out of the local total whole
// requests (their input and output too) that the bill does contain, and a
// reconciliation would show the whole request as a variance instead of, at
// worst, the difference of a multiplier; the flag lets a caller find the
// derived prices and recompute them should a table ever publish its own.
//
// Money is integer nano-dollars (1e-9 USD) throughout: table prices are
// parsed from their decimal text into nano-dollars per million tokens, and
// an estimate is the exact 128-bit sum of tokens times prices, divided by
// one million and rounded half up once per side (input, output).
// Estimate.USDFloat converts to float64 for display only.
//
// # Trust
//
// The table is data, not code: it is parsed as JSON, its match rules are
// equals/starts_with/ends_with/contains and Go regular expressions (RE2,
// linear time), nesting is bounded, prices must be non-negative decimals
// of bounded size, and a table larger than MaxTableSize is refused. A
// hostile table can make estimates wrong, but cannot run code, exhaust
// memory through number parsing or make Estimate panic. Estimates are
// estimates: a provider's invoice is the authority, and discounts (batch,
// committed use), taxes and per-tool fees are not in the table.
package pricing
