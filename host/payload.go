package host

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gofastr/store/abi"
)

// MaxPayloadSize bounds an event payload, tool arguments and a tool result,
// in bytes of JSON as given: 16 MiB, the default of
// [Config.WithMaxPayloadSize] and its largest value. SQLite runs inside
// wazero with a bounded memory, and a write of a value many times this
// size runs it out of memory; larger content belongs in a file the payload
// refers to.
const MaxPayloadSize = 16 << 20

// redactJSON checks that p is JSON of at most the store's maximum payload
// size (MaxPayloadSize unless configured lower), runs the
// store's redactors on it and checks that the result is still JSON. A nil
// p is stored as JSON null.
func (s *Store) redactJSON(p json.RawMessage) ([]byte, error) {
	if p == nil {
		return []byte("null"), nil
	}
	if len(p) > s.maxPayload {
		return nil, fmt.Errorf("%w: %d bytes, the store takes at most %d", ErrPayloadTooLarge, len(p), s.maxPayload)
	}
	if !json.Valid(p) {
		return nil, ErrInvalidPayload
	}
	text := string(p)
	for _, r := range s.Redactors {
		text = r.Redact(text)
	}
	if !json.Valid([]byte(text)) {
		return nil, fmt.Errorf("%w: a redactor produced invalid JSON", ErrInvalidPayload)
	}
	return []byte(text), nil
}

// redactText runs the store's redactors on plain text.
func (s *Store) redactText(text string) string {
	for _, r := range s.Redactors {
		text = r.Redact(text)
	}
	return text
}

// previewText extracts the human-readable text of a message payload, cut
// to abi.PreviewMaxRunes runes. It understands a JSON string, an object
// with a "text", "content", "message" or "prompt" field, and content given
// as a list of blocks with "text" fields (the Anthropic and OpenAI message
// shapes); anything else is previewed as its JSON text.
func previewText(payload []byte) string {
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return ""
	}
	text := textOf(v, 0)
	if text == "" {
		text = string(payload)
	}
	return truncateRunes(strings.TrimSpace(text), abi.PreviewMaxRunes)
}

// textOf finds message text in a decoded JSON value.
func textOf(v any, depth int) string {
	if depth > 4 {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var parts []string
		for _, e := range v {
			if t := textOf(e, depth+1); t != "" {
				parts = append(parts, t)
			}
		}
		return strings.Join(parts, "\n")
	case map[string]any:
		for _, k := range []string{"text", "content", "message", "prompt"} {
			if t := textOf(v[k], depth+1); t != "" {
				return t
			}
		}
	}
	return ""
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
