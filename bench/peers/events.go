package peers

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

var (
	words = strings.Fields(`the a parser test file function error return value build run go module package
import fix failing case handle trailing comma regression suite check output input request response
model tool call result read write edit path line column struct field method interface slice map
channel context deadline timeout retry cache index query table row page commit transaction lock`)
	paths = []string{"internal/parser/parser.go", "internal/parser/parser_test.go", "cmd/app/main.go",
		"pkg/store/store.go", "README.md", "go.mod", "pkg/http/client.go", "docs/DESIGN.md"}
	tools = []string{"read", "edit", "bash", "grep", "write"}
	kinds = []string{"assistant_message", "tool_call", "tool_result", "user_message"}
	t0    = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
)

// text returns about n bytes of words.
func text(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.String()
}

// Events returns n events of session sess, generated from seed: an agent's
// turns (assistant messages, tool calls and results, now and then a user
// message) as realistic JSON payloads of 300 to 1,000 bytes.
func Events(seed uint64, sess string, n int) []Event {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	evs := make([]Event, n)
	for i := range evs {
		kind := kinds[i%3]
		if i%20 == 19 {
			kind = kinds[3]
		}
		size := 300 + r.IntN(701)
		var v any
		switch kind {
		case "assistant_message":
			v = map[string]any{"role": "assistant", "model": "claude-sonnet-4-5",
				"content": []any{map[string]any{"type": "text", "text": text(r, size-110)}}}
		case "tool_call":
			v = map[string]any{"call_id": fmt.Sprintf("toolu_%016x", r.Uint64()), "tool": tools[r.IntN(len(tools))],
				"args": map[string]any{"path": paths[r.IntN(len(paths))], "offset": r.IntN(400), "limit": 80,
					"note": text(r, size-150)}}
		case "tool_result":
			v = map[string]any{"call_id": fmt.Sprintf("toolu_%016x", r.Uint64()), "status": "ok",
				"result": "func handle(ctx context.Context) error {\n\t" + text(r, size-130) + "\n}\n"}
		default:
			v = map[string]any{"role": "user", "text": text(r, size-40)}
		}
		p, _ := json.Marshal(v) // maps of strings, ints and slices of them always marshal
		evs[i] = Event{Session: sess, Turn: i / 3, Kind: kind, TS: t0.Add(time.Duration(i) * time.Second).UnixNano(), Payload: p}
	}
	return evs
}
