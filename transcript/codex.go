package transcript

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofastr/store/abi"
)

// CodexDefaultProvider is the provider of a rollout whose session_meta
// names none.
const CodexDefaultProvider = "openai"

// CodexUnknownModel is the model recorded for token counts reported before
// any turn_context named the model; such attempts are unpriced.
const CodexUnknownModel = "unknown"

type cxLine struct {
	Timestamp string          `json:"timestamp"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
}

type cxPayload struct {
	Type          string          `json:"type"`
	ID            string          `json:"id"`
	ModelProvider string          `json:"model_provider"`
	Model         string          `json:"model"`
	Role          string          `json:"role"`
	Content       json.RawMessage `json:"content"`
	Summary       json.RawMessage `json:"summary"` // a list of parts in reasoning items
	Name          string          `json:"name"`
	Arguments     string          `json:"arguments"`
	Input         string          `json:"input"`
	CallID        string          `json:"call_id"`
	Output        json.RawMessage `json:"output"`
	Message       string          `json:"message"`
	Images        []any           `json:"images"`
	Info          *struct {
		Total *cxUsage `json:"total_token_usage"`
		Last  *cxUsage `json:"last_token_usage"`
	} `json:"info"`
	ExitCode *int            `json:"exit_code"`
	Success  *bool           `json:"success"`
	Query    string          `json:"query"`
	Action   json.RawMessage `json:"action"`
	Reason   string          `json:"reason"`
}

type cxUsage struct {
	InputTokens           int64 `json:"input_tokens"`
	CachedInputTokens     int64 `json:"cached_input_tokens"`
	OutputTokens          int64 `json:"output_tokens"`
	ReasoningOutputTokens int64 `json:"reasoning_output_tokens"`
	TotalTokens           int64 `json:"total_tokens"`
}

type (
	cxToolCallPayload struct {
		CallID    string          `json:"call_id"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments,omitempty"`
	}
	cxToolResultPayload struct {
		CallID string          `json:"call_id"`
		Output json.RawMessage `json:"output,omitempty"`
	}
	cxEventPayload struct {
		Type    string `json:"type"`
		Message string `json:"message,omitempty"`
		Reason  string `json:"reason,omitempty"`
	}
)

// rolloutID finds the session ID in a rollout file's name
// (rollout-YYYY-MM-DDThh-mm-ss-<id>.jsonl).
var rolloutID = regexp.MustCompile(`([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$`)

// cxDropped are session_meta fields not kept in its event: the agent's
// built-in instructions and tool definitions, the same in every session.
var cxDropped = []string{"base_instructions", "instructions", "dynamic_tools"}

func parseCodex(ctx context.Context, b *builder, lines []line) error {
	type parsed struct {
		l  line
		cl cxLine
		p  cxPayload
		ts time.Time
	}
	// First pass: decode every line; learn the typed user messages (the
	// same text also arrives as a response item) and how commands ended.
	all := make([]parsed, 0, len(lines))
	typed := make(map[string]bool)
	failed := make(map[string]string)
	seen := make(map[string]bool)
	for i, l := range lines {
		if i%4096 == 4095 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		h := lineHash(l.text)
		if seen[h] {
			b.stats.Duplicates++
			continue
		}
		seen[h] = true
		var x parsed
		x.l = l
		if err := json.Unmarshal(l.text, &x.cl); err != nil {
			return b.lineErr(l, "%s", jsonReason(err))
		}
		if len(x.cl.Payload) > 0 && x.cl.Payload[0] == '{' {
			if err := json.Unmarshal(x.cl.Payload, &x.p); err != nil {
				return b.lineErr(l, "payload: %s", jsonReason(err))
			}
		}
		var err error
		if x.ts, err = time.Parse(time.RFC3339Nano, x.cl.Timestamp); err != nil && x.cl.Type != "" {
			return b.lineErr(l, "line without a valid timestamp")
		}
		if x.cl.Type == "event_msg" {
			switch x.p.Type {
			case "user_message":
				typed[strings.TrimSpace(x.p.Message)] = true
			case "exec_command_end":
				if x.p.ExitCode != nil && *x.p.ExitCode != 0 {
					failed[x.p.CallID] = "exit code " + strconv.Itoa(*x.p.ExitCode)
				}
			case "patch_apply_end":
				if x.p.Success != nil && !*x.p.Success {
					failed[x.p.CallID] = "patch not applied"
				}
			}
		}
		all = append(all, x)
	}

	var sess abi.SessionID
	if m := rolloutID.FindStringSubmatch(filepath.Base(b.path)); m != nil {
		sess = abi.SessionID(m[1])
	}
	provider, model := CodexDefaultProvider, CodexUnknownModel
	turns := make(map[abi.SessionID]int)
	lastTotal := make(map[abi.SessionID]cxUsage)
	for _, x := range all {
		l, p, ts := x.l, x.p, x.ts
		if x.cl.Type == "session_meta" {
			if p.ID == "" {
				return b.lineErr(l, "session_meta without an id")
			}
			sess = abi.SessionID(p.ID)
			provider = CodexDefaultProvider
			if p.ModelProvider != "" {
				provider = p.ModelProvider
			}
			if p.Model != "" {
				model = p.Model
			}
			if len(provider) > abi.MaxAttemptString {
				return b.lineErr(l, "model provider longer than %d bytes", abi.MaxAttemptString)
			}
		}
		if sess == "" {
			return b.lineErr(l, "a line before any session_meta, in a file not named rollout-…-<id>.jsonl")
		}
		batch := abi.Batch{Key: batchKey(FormatCodex, string(sess), lineHash(l.text))}
		event := func(kind string, v any) {
			raw, ok := v.(json.RawMessage)
			if !ok {
				raw, _ = json.Marshal(v) // payload types marshal without error
			}
			batch.Events = append(batch.Events, abi.EventEnvelope{Session: sess, Turn: turns[sess], Kind: kind, TS: ts, Payload: raw})
		}
		switch x.cl.Type + "/" + p.Type {
		case "session_meta/":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(x.cl.Payload, &m); err != nil {
				return b.lineErr(l, "session_meta: %s", jsonReason(err))
			}
			for _, k := range cxDropped {
				delete(m, k)
			}
			raw, err := json.Marshal(map[string]any{"session_meta": m})
			if err != nil {
				return b.lineErr(l, "session_meta: %s", jsonReason(err))
			}
			event(abi.KindSystem, json.RawMessage(raw))
		case "turn_context/":
			if p.Model != "" {
				if len(p.Model) > abi.MaxAttemptString {
					return b.lineErr(l, "model longer than %d bytes", abi.MaxAttemptString)
				}
				model = p.Model
			}
			b.stats.Ignored++
		case "event_msg/user_message":
			turns[sess]++
			event(abi.KindUserMessage, textPayload{Text: p.Message})
		case "event_msg/error", "event_msg/stream_error":
			event(abi.KindError, cxEventPayload{Type: p.Type, Message: p.Message})
		case "event_msg/turn_aborted":
			event(abi.KindSystem, cxEventPayload{Type: p.Type, Reason: p.Reason})
		case "event_msg/web_search_end":
			if p.CallID == "" {
				b.stats.Ignored++
				break
			}
			args := p.Action
			if len(args) == 0 {
				args, _ = json.Marshal(map[string]string{"query": p.Query})
			}
			event(abi.KindToolCall, cxToolCallPayload{CallID: p.CallID, Name: "web_search", Arguments: args})
			batch.Intents = append(batch.Intents, abi.ToolIntent{Session: sess, Turn: turns[sess], CallID: p.CallID,
				Tool: "web_search", ArgsHash: hashArgs(args), Args: args, StartedAt: ts})
			batch.Outcomes = append(batch.Outcomes, abi.ToolOutcome{Session: sess, CallID: p.CallID, Status: abi.StatusOK, EndedAt: ts})
		case "event_msg/token_count":
			if p.Info == nil || p.Info.Total == nil {
				b.stats.Ignored++ // rate limits only
				break
			}
			prev := lastTotal[sess]
			if *p.Info.Total == prev {
				b.stats.Ignored++ // repeated after a rate-limit update
				break
			}
			lastTotal[sess] = *p.Info.Total
			u := p.Info.Last
			if u == nil {
				u = &cxUsage{InputTokens: p.Info.Total.InputTokens - prev.InputTokens,
					CachedInputTokens: p.Info.Total.CachedInputTokens - prev.CachedInputTokens,
					OutputTokens:      p.Info.Total.OutputTokens - prev.OutputTokens}
			}
			a, err := codexAttempt(sess, turns[sess], provider, model, ts, u)
			if err != nil {
				return b.lineErr(l, "token_count: %v", err)
			}
			b.add(batch)
			b.attempt(batchKey(FormatCodex, string(sess), "usage", strconv.FormatInt(p.Info.Total.TotalTokens, 10), x.cl.Timestamp), a, true)
			continue
		case "response_item/message":
			text, err := cxText(p.Content)
			if err != nil {
				return b.lineErr(l, "message content: %s", jsonReason(err))
			}
			switch p.Role {
			case "assistant":
				event(abi.KindAssistantMessage, textPayload{Text: text})
			case "user":
				if typed[strings.TrimSpace(text)] {
					b.stats.Ignored++ // recorded from its user_message event
					break
				}
				event(abi.KindSystem, textPayload{Text: text, Meta: "user"})
			default:
				event(abi.KindSystem, textPayload{Text: text, Meta: p.Role})
			}
		case "response_item/reasoning":
			text, err := cxText(p.Summary)
			if err != nil {
				return b.lineErr(l, "reasoning summary: %s", jsonReason(err))
			}
			if text == "" {
				b.stats.Ignored++ // encrypted reasoning only: not kept
				break
			}
			event(KindThinking, textPayload{Text: text})
		case "response_item/function_call", "response_item/custom_tool_call":
			if p.CallID == "" || p.Name == "" {
				return b.lineErr(l, "%s without a call_id or name", p.Type)
			}
			given := p.Arguments
			if p.Type == "custom_tool_call" {
				given = p.Input
			}
			args := json.RawMessage(given)
			if !json.Valid(args) {
				args, _ = json.Marshal(given)
			}
			event(abi.KindToolCall, cxToolCallPayload{CallID: p.CallID, Name: p.Name, Arguments: args})
			batch.Intents = append(batch.Intents, abi.ToolIntent{Session: sess, Turn: turns[sess], CallID: p.CallID,
				Tool: p.Name, ArgsHash: hashArgs([]byte(given)), Args: args, StartedAt: ts})
		case "response_item/function_call_output", "response_item/custom_tool_call_output":
			if p.CallID == "" {
				return b.lineErr(l, "%s without a call_id", p.Type)
			}
			event(abi.KindToolResult, cxToolResultPayload{CallID: p.CallID, Output: p.Output})
			batch.Outcomes = append(batch.Outcomes, codexOutcome(sess, p, failed[p.CallID], ts))
		case "compacted/":
			event(abi.KindSystem, textPayload{Text: p.Message, Meta: "compacted"})
		default:
			// task_started, task_complete, agent_message (the text of an
			// assistant message item), exec_command_end and the like (the
			// state of a call whose output is recorded), web_search_call
			// (recorded from web_search_end), and kinds unknown here.
			b.stats.Ignored++
		}
		b.add(batch)
	}
	return nil
}

// codexAttempt is the attempt of one token_count: Codex's input_tokens
// include cached_input_tokens, which are cache reads; its output_tokens
// include the reasoning tokens.
func codexAttempt(sess abi.SessionID, turn int, provider, model string, ts time.Time, u *cxUsage) (abi.ProviderAttempt, error) {
	if u.InputTokens < 0 || u.CachedInputTokens < 0 || u.OutputTokens < 0 || u.CachedInputTokens > u.InputTokens {
		return abi.ProviderAttempt{}, fmt.Errorf("impossible counts (input %d, cached %d, output %d)", u.InputTokens, u.CachedInputTokens, u.OutputTokens)
	}
	const maxInt = int64(^uint32(0) >> 1)
	if u.InputTokens > maxInt || u.OutputTokens > maxInt {
		return abi.ProviderAttempt{}, fmt.Errorf("token counts beyond %d", maxInt)
	}
	return abi.ProviderAttempt{
		Session: string(sess), Turn: turn, Provider: provider, Model: model,
		StartedAt: ts, EndedAt: ts, TerminatedReason: abi.AttemptComplete,
		InputTokens:     int(u.InputTokens - u.CachedInputTokens),
		CacheReadTokens: int(u.CachedInputTokens),
		OutputTokens:    int(u.OutputTokens),
	}, nil
}

// codexOutcome is the outcome of a call from its output item and the
// failure its command's end event reported ("" when none).
func codexOutcome(sess abi.SessionID, p cxPayload, failure string, ts time.Time) abi.ToolOutcome {
	o := abi.ToolOutcome{Session: sess, CallID: p.CallID, Status: abi.StatusOK, Result: p.Output, EndedAt: ts}
	// Some outputs are JSON text with metadata.exit_code, some objects
	// with success.
	var out struct {
		Success  *bool `json:"success"`
		Metadata *struct {
			ExitCode *int `json:"exit_code"`
		} `json:"metadata"`
	}
	var s string
	if json.Unmarshal(p.Output, &s) == nil {
		_ = json.Unmarshal([]byte(s), &out)
	} else {
		_ = json.Unmarshal(p.Output, &out)
	}
	switch {
	case failure != "":
		o.Status, o.Error = abi.StatusError, failure
	case out.Success != nil && !*out.Success:
		o.Status, o.Error = abi.StatusError, "failed"
	case out.Metadata != nil && out.Metadata.ExitCode != nil && *out.Metadata.ExitCode != 0:
		o.Status, o.Error = abi.StatusError, "exit code "+strconv.Itoa(*out.Metadata.ExitCode)
	}
	return o
}

// cxText joins the text parts of a message item's content.
func cxText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", err
	}
	var texts []string
	for _, p := range parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}
