// Package transcript imports the session history that coding agents keep
// on disk, Claude Code transcripts and Codex CLI rollouts, into a session
// store: messages become events, tool calls become tool intents and
// outcomes (with tool_call and tool_result events), and each API response
// becomes one provider attempt with its final token counts, priced with
// package pricing.
//
// # Writing
//
// An import writes through a [Writer], a store's WriteBatches (host.Store
// and host.MonthlyRollover). Each file is read and checked completely
// before anything of it is written; a malformed or truncated line stops
// the import with a [*LineError] naming the file and line, and nothing of
// that file is written (the files before it are). A file is then written
// in one WriteBatches call, all or none, as batches keyed from the input:
// a Claude Code line's session and uuid, a response's message ID and
// request ID, a Codex line's session and hash. A store skips a batch whose key
// it already wrote, so importing the same files again adds nothing
// ([FileStats.Skipped]), a file that grew since is completed, and two
// imports racing on one store write each batch once. A file is held in
// memory while it is imported.
//
// A batch once written is never replaced, so a record must be final when
// it is written. A Claude Code response is not while it streams: its
// usage grows from line to line and no line marks the last one. The last
// response of a Claude Code transcript modified less than the settle time
// ago ([WithSettle], [DefaultSettle] by default) is therefore not written
// as an attempt but counted in [FileStats.Deferred] and left for the next
// import; its lines' events, final line by line, are written. A Codex
// token_count line is written once its request has completed and is
// final: nothing of a rollout is deferred.
//
// Payloads go through the store's redactors like any other write;
// [LineError] never quotes a line.
//
// # Claude Code
//
// A transcript (~/.claude/projects/<project>/<session>.jsonl) has one line
// per content block. Lines of type user, assistant and system are read;
// progress (hook and tool progress, and a sub-agent's lines, which its own
// file holds), file-history-snapshot, queue-operation, summary and unknown
// types are counted in [FileStats.Ignored]. A line whose uuid appeared
// before in the file is dropped ([FileStats.Duplicates]).
//
//   - Each line's own sessionId is its session, so a file whose sessionId
//     changes is split accordingly. A sub-agent's lines (agentId set; in
//     <session>/subagents/agent-<id>.jsonl) go to session
//     [SubagentSession](sessionId, agentId); the parent's tool_result of
//     the Task call that started it names that session in its payload
//     ("agent_session").
//   - A user message (string content or text blocks) is a user_message
//     event and starts a new turn; lines Claude Code marks isMeta,
//     isCompactSummary or isVisibleInTranscriptOnly are system events with
//     "meta" set. Images are recorded by media type only.
//   - Assistant text is an assistant_message event (an API error message,
//     error); a thinking block is a [KindThinking] event without its
//     signature; redacted thinking is not kept.
//   - A tool_use block is a ToolIntent (ArgsHash over the input as written
//     in the transcript) and a tool_call event; a tool_result block is a
//     ToolOutcome and a tool_result event: status ok, or with is_error
//     error, denied (the user rejected the call) or canceled (interrupted),
//     with the result's first line as Error.
//   - A system line is a system event (api_error: error) holding the line
//     without its envelope fields.
//   - The lines sharing message.id and requestId are one API response,
//     recorded as one attempt (provider "anthropic", the model, the
//     request ID, the first and last lines' times) with the usage of its
//     last line that has one: while streaming, output_tokens grows from
//     line to line, so only the last is final. Cache writes are split into
//     5-minute and 1-hour ones when usage.cache_creation gives the split.
//     Messages Claude Code writes itself (model "<synthetic>") are not
//     attempts. A response without usage on any line is recorded unpriced.
//
// # Codex
//
// A rollout (~/.codex/sessions/YYYY/MM/DD/rollout-…-<id>.jsonl) starts
// with session_meta, whose id is the session (before it, the id in the
// file name).
//
//   - event_msg user_message is a user_message event and starts a turn;
//     the same text as a response_item message from the user is not
//     recorded twice. Other user, developer and system message items
//     (instructions, environment context) are system events; assistant
//     message items are assistant_message events (event_msg agent_message
//     repeats them and is skipped).
//   - function_call and custom_tool_call items are ToolIntents and
//     tool_call events; their outputs are ToolOutcomes and tool_result
//     events, status error when the command's exec_command_end reported a
//     non-zero exit code, patch_apply_end no success, or the output's
//     metadata a non-zero exit code. web_search_end is a web_search call
//     with its outcome.
//   - reasoning items are [KindThinking] events when they carry a summary;
//     their encrypted content is never kept. session_meta is a system
//     event without the built-in instructions and tool definitions.
//   - event_msg token_count is one attempt per model request: provider
//     session_meta.model_provider, model from the latest turn_context
//     ([CodexUnknownModel], unpriced, before any), counts from
//     last_token_usage. Codex's input_tokens include cached_input_tokens:
//     the attempt's InputTokens are the difference and CacheReadTokens the
//     cached ones; output_tokens include the reasoning tokens. A
//     token_count without info, or repeating the previous total, is not a
//     request.
//
// # Costs
//
// Attempts are priced with the table of [WithPricing] (default
// pricing.Default()) at their start time and written with their estimate
// and price snapshot, which a store records as given: [FileStats.Cost] is
// exactly what the store holds for the attempts the import wrote. Those
// it skipped as already written count in it as the file now gives them,
// which is what the store holds unless the file changed since. A model the table does not know,
// or a response without usage, is recorded with an unpriced snapshot
// (abi.AttemptPrice.Unpriced) and counted in [FileStats.Unpriced], never
// as free.
package transcript
