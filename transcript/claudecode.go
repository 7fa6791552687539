package transcript

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofastr/store/abi"
)

// ClaudeCodeProvider is the provider recorded for Claude Code's attempts.
const ClaudeCodeProvider = "anthropic"

// SubagentSession returns the session ID given to the lines of a Claude
// Code sub-agent: its parent session's ID, "/agent-" and its agent ID (the
// name of its file, <session>/subagents/agent-<id>.jsonl, tells the same).
func SubagentSession(parent abi.SessionID, agentID string) abi.SessionID {
	return parent + "/agent-" + abi.SessionID(agentID)
}

// ccLine is what the importer reads of a Claude Code transcript line.
type ccLine struct {
	Type                      string          `json:"type"`
	UUID                      string          `json:"uuid"`
	SessionID                 string          `json:"sessionId"`
	AgentID                   string          `json:"agentId"`
	Timestamp                 string          `json:"timestamp"`
	RequestID                 string          `json:"requestId"`
	IsMeta                    bool            `json:"isMeta"`
	IsCompactSummary          bool            `json:"isCompactSummary"`
	IsVisibleInTranscriptOnly bool            `json:"isVisibleInTranscriptOnly"`
	IsAPIErrorMessage         bool            `json:"isApiErrorMessage"`
	Subtype                   string          `json:"subtype"`
	Message                   json.RawMessage `json:"message"`
	ToolUseResult             json.RawMessage `json:"toolUseResult"`
}

type ccMessage struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Usage   *ccUsage        `json:"usage"`
}

type ccUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheCreation            *struct {
		Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

type ccBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
	Source    *struct {
		MediaType string `json:"media_type"`
	} `json:"source"`
}

// Event payloads written by the importers.
type (
	textPayload struct {
		Text string `json:"text"`
		// Meta marks text the harness sent as the user (instructions,
		// command caveats, a compaction summary): recorded as system events.
		Meta string `json:"meta,omitempty"`
	}
	imagePayload struct {
		Image string `json:"image"` // media type; the image itself is not kept
	}
	toolCallPayload struct {
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input,omitempty"`
	}
	toolResultPayload struct {
		ToolUseID    string          `json:"tool_use_id"`
		Content      json.RawMessage `json:"content,omitempty"`
		IsError      bool            `json:"is_error,omitempty"`
		AgentSession abi.SessionID   `json:"agent_session,omitempty"`
	}
)

// response is one API response of a Claude Code transcript: the lines
// sharing a message ID and request ID.
type response struct {
	key       string
	attempt   abi.ProviderAttempt
	usage     bool
	firstLine int
}

// Reasons written by Claude Code as tool results of calls that did not run.
const (
	ccRejected    = "The user doesn't want to proceed with this tool use."
	ccInterrupted = "[Request interrupted by user for tool use]"
)

func parseClaudeCode(ctx context.Context, b *builder, lines []line) error {
	seen := make(map[string]bool)
	turns := make(map[abi.SessionID]int)
	var responses []*response
	byKey := make(map[string]*response)
	for i, l := range lines {
		if i%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var cl ccLine
		if err := json.Unmarshal(l.text, &cl); err != nil {
			return b.lineErr(l, "%s", jsonReason(err))
		}
		switch cl.Type {
		case "user", "assistant", "system":
		default:
			// progress (hook and tool progress; a sub-agent's lines
			// repeated, which its own file holds), file-history-snapshot,
			// queue-operation, summary, and kinds unknown to this version.
			b.stats.Ignored++
			continue
		}
		id := cl.UUID
		if id == "" {
			id = "sha256-" + lineHash(l.text)
		}
		if seen[id] {
			b.stats.Duplicates++
			continue
		}
		seen[id] = true
		if cl.SessionID == "" {
			return b.lineErr(l, "%s line without a sessionId", cl.Type)
		}
		sess := abi.SessionID(cl.SessionID)
		if cl.AgentID != "" {
			sess = SubagentSession(sess, cl.AgentID)
		}
		ts, err := time.Parse(time.RFC3339Nano, cl.Timestamp)
		if err != nil {
			return b.lineErr(l, "%s line without a valid timestamp", cl.Type)
		}
		// The line's key holds its session: a line Claude Code copied into
		// another session's file is recorded in both sessions. A response's
		// key does not, so its cost is counted once.
		batch := abi.Batch{Key: batchKey(FormatClaudeCode, string(sess), id)}
		event := func(kind string, v any) {
			p, _ := json.Marshal(v) // payload types marshal without error
			batch.Events = append(batch.Events, abi.EventEnvelope{Session: sess, Turn: turns[sess], Kind: kind, TS: ts, Payload: p})
		}
		if cl.Type == "system" {
			payload, err := systemPayload(l.text)
			if err != nil {
				return b.lineErr(l, "%s", jsonReason(err))
			}
			kind := abi.KindSystem
			if cl.Subtype == "api_error" {
				kind = abi.KindError
			}
			batch.Events = append(batch.Events, abi.EventEnvelope{Session: sess, Turn: turns[sess], Kind: kind, TS: ts, Payload: payload})
			b.add(batch)
			continue
		}
		var m ccMessage
		if len(cl.Message) == 0 || json.Unmarshal(cl.Message, &m) != nil {
			return b.lineErr(l, "%s line without a message object", cl.Type)
		}
		blocks, text, err := contentBlocks(m.Content)
		if err != nil {
			return b.lineErr(l, "message content: %s", jsonReason(err))
		}
		if cl.Type == "user" {
			meta := ""
			switch {
			case cl.IsCompactSummary:
				meta = "compact_summary"
			case cl.IsMeta:
				meta = "meta"
			case cl.IsVisibleInTranscriptOnly:
				meta = "transcript_only"
			}
			prompt := false
			if text != nil {
				if meta != "" {
					event(abi.KindSystem, textPayload{Text: *text, Meta: meta})
				} else {
					turns[sess]++
					prompt = true
					event(abi.KindUserMessage, textPayload{Text: *text})
				}
			}
			agent := subagentOf(cl.ToolUseResult)
			for _, bl := range blocks {
				switch bl.Type {
				case "text", "image":
					if meta == "" && !prompt {
						turns[sess]++
						prompt = true
					}
					kind := abi.KindUserMessage
					if meta != "" {
						kind = abi.KindSystem
					}
					if bl.Type == "text" {
						event(kind, textPayload{Text: bl.Text, Meta: meta})
					} else {
						event(kind, imagePayload{Image: mediaType(bl)})
					}
				case "tool_result":
					if bl.ToolUseID == "" {
						return b.lineErr(l, "tool_result without a tool_use_id")
					}
					p := toolResultPayload{ToolUseID: bl.ToolUseID, Content: bl.Content, IsError: bl.IsError}
					if agent != "" {
						p.AgentSession = SubagentSession(abi.SessionID(cl.SessionID), agent)
					}
					event(abi.KindToolResult, p)
					batch.Outcomes = append(batch.Outcomes, ccOutcome(sess, bl, ts))
				}
			}
			if batch.Empty() {
				b.stats.Ignored++
			}
			b.add(batch)
			continue
		}
		// An assistant line: one content block of a response.
		if text != nil {
			event(abi.KindAssistantMessage, textPayload{Text: *text})
		}
		kind := abi.KindAssistantMessage
		if cl.IsAPIErrorMessage {
			kind = abi.KindError
		}
		// Other blocks (redacted_thinking, server tool blocks) hold nothing
		// a reader of the session can use.
		for _, bl := range blocks {
			switch bl.Type {
			case "text":
				event(kind, textPayload{Text: bl.Text})
			case "thinking":
				// The signature is an opaque blob for the API; not kept.
				event(KindThinking, textPayload{Text: bl.Thinking})
			case "tool_use":
				if bl.ID == "" || bl.Name == "" {
					return b.lineErr(l, "tool_use without an id or name")
				}
				input := bl.Input
				if len(input) == 0 {
					input = json.RawMessage("{}")
				}
				event(abi.KindToolCall, toolCallPayload{ID: bl.ID, Name: bl.Name, Input: input})
				batch.Intents = append(batch.Intents, abi.ToolIntent{Session: sess, Turn: turns[sess], CallID: bl.ID,
					Tool: bl.Name, ArgsHash: hashArgs(input), Args: input, StartedAt: ts})
			}
		}
		b.add(batch)
		if m.Model == "" || m.Model == "<synthetic>" || cl.IsAPIErrorMessage {
			// Written by Claude Code itself, not by an API response.
			continue
		}
		if len(m.Model) > abi.MaxAttemptString || len(cl.RequestID) > abi.MaxAttemptString {
			return b.lineErr(l, "model or request ID longer than %d bytes", abi.MaxAttemptString)
		}
		rkey := "line:" + id
		if m.ID != "" {
			rkey = m.ID + ":" + cl.RequestID
		}
		r := byKey[rkey]
		if r == nil {
			r = &response{key: batchKey(FormatClaudeCode, "response", rkey), firstLine: l.n, attempt: abi.ProviderAttempt{
				Session: string(sess), Turn: turns[sess], Provider: ClaudeCodeProvider, Model: m.Model,
				RequestID: cl.RequestID, StartedAt: ts, TerminatedReason: abi.AttemptComplete,
			}}
			byKey[rkey] = r
			responses = append(responses, r)
		}
		if ts.After(r.attempt.EndedAt) {
			r.attempt.EndedAt = ts
		}
		if ts.Before(r.attempt.StartedAt) {
			r.attempt.StartedAt = ts
		}
		if u := m.Usage; u != nil {
			// The last line of a response carries its final counts.
			if err := setClaudeUsage(&r.attempt, u); err != nil {
				return b.lineErr(l, "usage: %v", err)
			}
			r.usage = true
		}
	}
	if b.recent && len(responses) > 0 {
		// The response begun last may still be streaming: its lines
		// carry no completion marker (stop_reason is null on every one),
		// and lines of other kinds (tool results, progress) come between
		// its lines while it streams. Its events are final line by line;
		// its usage is not, so its attempt waits for a later import.
		responses = responses[:len(responses)-1]
		b.stats.Deferred++
	}
	for _, r := range responses {
		if r.attempt.EndedAt.Before(r.attempt.StartedAt) {
			r.attempt.EndedAt = r.attempt.StartedAt
		}
		b.attempt(r.key, r.attempt, r.usage)
	}
	return nil
}

// setClaudeUsage sets a's token counts from Anthropic's usage u: the
// 5-minute and 1-hour cache writes apart when u breaks them down.
func setClaudeUsage(a *abi.ProviderAttempt, u *ccUsage) error {
	for _, n := range []int{u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens} {
		if n < 0 {
			return errString("negative token count")
		}
	}
	a.InputTokens, a.OutputTokens, a.CacheReadTokens = u.InputTokens, u.OutputTokens, u.CacheReadInputTokens
	a.CacheWriteTokens, a.CacheWrite1hTokens = u.CacheCreationInputTokens, 0
	if c := u.CacheCreation; c != nil && c.Ephemeral5m >= 0 && c.Ephemeral1h >= 0 &&
		c.Ephemeral5m+c.Ephemeral1h == u.CacheCreationInputTokens {
		a.CacheWriteTokens, a.CacheWrite1hTokens = c.Ephemeral5m, c.Ephemeral1h
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// contentBlocks decodes a message's content: a string (returned as text)
// or a list of blocks.
func contentBlocks(raw json.RawMessage) ([]ccBlock, *string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, nil, err
		}
		return nil, &s, nil
	}
	var blocks []ccBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, nil, err
	}
	return blocks, nil, nil
}

// ccOutcome is the outcome of a tool call from its tool_result block.
func ccOutcome(sess abi.SessionID, bl ccBlock, ts time.Time) abi.ToolOutcome {
	o := abi.ToolOutcome{Session: sess, CallID: bl.ToolUseID, Status: abi.StatusOK, Result: bl.Content, EndedAt: ts}
	if !bl.IsError {
		return o
	}
	text := resultText(bl.Content)
	switch {
	case strings.HasPrefix(text, ccRejected):
		o.Status = abi.StatusDenied
	case strings.HasPrefix(text, ccInterrupted):
		o.Status = abi.StatusCanceled
	default:
		o.Status = abi.StatusError
	}
	o.Error = firstLine(text, 200)
	if o.Error == "" {
		o.Error = o.Status
	}
	return o
}

// resultText is the text of a tool result's content: a string, or the
// text blocks of a list.
func resultText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []ccBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	var parts []string
	for _, b := range blocks {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// firstLine returns the first non-empty line of s, cut to n runes.
func firstLine(s string, n int) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if utf8.RuneCountInString(l) > n {
				l = string([]rune(l)[:n]) + "…"
			}
			return l
		}
	}
	return ""
}

// subagentOf returns the agent ID a Task tool result names (Claude Code's
// toolUseResult.agentId), or "".
func subagentOf(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var r struct {
		AgentID string `json:"agentId"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return ""
	}
	return r.AgentID
}

func mediaType(bl ccBlock) string {
	if bl.Source != nil && bl.Source.MediaType != "" {
		return bl.Source.MediaType
	}
	return "unknown"
}

// ccEnvelope are the fields every Claude Code line repeats; a system
// event's payload is the line without them.
var ccEnvelope = []string{"parentUuid", "logicalParentUuid", "isSidechain", "userType", "cwd", "sessionId",
	"version", "gitBranch", "slug", "type", "uuid", "timestamp", "agentId"}

func systemPayload(text []byte) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(text, &m); err != nil {
		return nil, err
	}
	for _, k := range ccEnvelope {
		delete(m, k)
	}
	return json.Marshal(m)
}

// jsonReason says why a line did not decode, without quoting it.
func jsonReason(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return "invalid JSON at byte " + strconv.FormatInt(e.Offset, 10) + " (a truncated or damaged line)"
	case *json.UnmarshalTypeError:
		return "field " + e.Field + " has the wrong type (" + e.Value + ")"
	}
	if strings.Contains(err.Error(), "unexpected end of JSON input") {
		return "invalid JSON: unexpected end of line (a truncated line)"
	}
	return "invalid JSON"
}
