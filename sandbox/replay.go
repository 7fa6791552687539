package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gofastr/store/abi"
)

// Divergence is the first difference between a replayed recording and the
// events a guest emitted. It is an error wrapping ErrDiverged.
type Divergence struct {
	// Turn is the turn of the expected event (of the emitted one when
	// the recording had no more events).
	Turn int
	// Index is the position of the expected event in the recording,
	// counted from 0 over all its events.
	Index int
	// ExpectedID is the store ID of the expected event; 0 when the
	// recording had no more events.
	ExpectedID uint64
	// Expected is the recorded event, nil when the guest emitted more
	// events than were recorded.
	Expected *abi.EventEnvelope
	// Got is the event the guest emitted, nil when the guest stopped
	// before emitting the expected event.
	Got *abi.EventEnvelope
	// Reason says what differs, such as "payload differs" or "guest
	// stopped before event 12".
	Reason string
}

// Error describes the divergence: where, why, and the two events.
func (d *Divergence) Error() string {
	return fmt.Sprintf("sandbox: replay diverged at event %d (turn %d): %s; expected %s, got %s",
		d.Index, d.Turn, d.Reason, describe(d.Expected), describe(d.Got))
}

// Unwrap returns ErrDiverged.
func (d *Divergence) Unwrap() error { return ErrDiverged }

// describe formats an event for a divergence message, its payload cut
// to 120 bytes.
func describe(e *abi.EventEnvelope) string {
	if e == nil {
		return "nothing"
	}
	p := string(e.Payload)
	if e.Payload == nil {
		p = "(no payload)"
	} else if len(p) > 120 {
		// Cut at a rune boundary.
		n := 120
		for n > 0 && !utf8.RuneStart(p[n]) {
			n--
		}
		p = p[:n] + "…"
	}
	// The message is valid UTF-8 whatever the payload holds.
	p = strings.ToValidUTF8(p, "\uFFFD")
	return fmt.Sprintf("%s (turn %d) %s", e.Kind, e.Turn, p)
}

// replayState serves a recorded session to a guest and compares what the
// guest emits with it.
type replayState struct {
	src    Source
	sess   abi.SessionID
	events []abi.EventEnvelope
	// results maps a call ID to the outcome its tool_result event
	// records.
	results map[string]abi.ToolOutcome
	// outcomes holds the recorded outcomes of calls without a tool_result
	// event, when the source can list them (see outcomeSource).
	outcomes map[string]abi.ToolOutcome
	// cursor is the index of the next recorded event replay_user and
	// replay_model look at.
	cursor int
	// emit is the index of the next event the guest should emit.
	emit int
	div  *Divergence
	// attempted records the turns whose attempts were served.
	attempted map[int]bool
}

// outcomeSource is a Source that can also list the recorded outcomes of a
// session's tool calls (as *host.Store does with ToolOutcomes). A replay
// falls back on them for calls that have no tool_result event.
type outcomeSource interface {
	ToolOutcomes(ctx context.Context, sess abi.SessionID) ([]abi.ToolOutcome, error)
}

// replayPage is how many events loadReplay reads from the source at once.
const replayPage = 4096

// loadReplay reads the recording the run replays: all its events, and
// the tool results by call ID. The provider attempts of a turn are read
// when the guest first asks for the turn's model output.
func (st *runState) loadReplay(ctx context.Context) error {
	id := st.cfg.replay
	src := st.cfg.source
	if src == nil {
		return errorf(ErrNotGranted, "sandbox: run: replay of session %q needs a source", id)
	}
	if !st.cfg.granted(id) {
		return errorf(ErrNotGranted, "sandbox: run: replay of session %q, which the run does not grant", id)
	}
	r := &replayState{src: src, sess: id, results: map[string]abi.ToolOutcome{}, attempted: map[int]bool{}}
	var after uint64
	for {
		page, err := src.EventsSince(ctx, id, after, replayPage)
		if err != nil {
			return errorf(ErrSource, "sandbox: run: read the recording of session %q: %v", id, err)
		}
		r.events = append(r.events, page...)
		if len(page) < replayPage {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(r.events) == 0 {
		return errorf(ErrSource, "sandbox: run: session %q has no recorded events to replay", id)
	}
	for i := range r.events {
		e := &r.events[i]
		if e.Kind != abi.KindToolResult {
			continue
		}
		if out, ok := outcome(id, e); ok {
			if _, dup := r.results[out.CallID]; !dup {
				r.results[out.CallID] = out
			}
		}
	}
	if oss, ok := src.(outcomeSource); ok {
		outs, err := oss.ToolOutcomes(ctx, id)
		if err != nil {
			return errorf(ErrSource, "sandbox: run: read the tool outcomes of session %q: %v", id, err)
		}
		for _, o := range outs {
			if _, ok := r.results[o.CallID]; !ok && o.CallID != "" {
				if r.outcomes == nil {
					r.outcomes = map[string]abi.ToolOutcome{}
				}
				r.outcomes[o.CallID] = o
			}
		}
	}
	st.replay = r
	return nil
}

// toolResult is what a tool_result payload says: the call it answers
// ("call_id", else "tool_use_id", else "id") and its outcome.
type toolResult struct {
	CallID    string          `json:"call_id"`
	ToolUseID string          `json:"tool_use_id"`
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	IsError   bool            `json:"is_error"`
	Result    json.RawMessage `json:"result"`
	Content   json.RawMessage `json:"content"`
	Error     string          `json:"error"`
}

// outcome returns the ToolOutcome recorded in tool_result event e, and
// false when its payload names no call.
func outcome(sess abi.SessionID, e *abi.EventEnvelope) (abi.ToolOutcome, bool) {
	var tr toolResult
	if e.Payload == nil || json.Unmarshal(e.Payload, &tr) != nil {
		return abi.ToolOutcome{}, false
	}
	call := tr.CallID
	switch {
	case call == "" && tr.ToolUseID != "":
		call = tr.ToolUseID
	case call == "":
		call = tr.ID
	}
	if call == "" {
		return abi.ToolOutcome{}, false
	}
	out := abi.ToolOutcome{Session: sess, CallID: call, Status: tr.Status, Result: tr.Result, Error: tr.Error, EndedAt: e.TS}
	if out.Result == nil {
		out.Result = tr.Content
	}
	if out.Status == "" {
		out.Status = abi.StatusOK
		if tr.IsError {
			out.Status = abi.StatusError
		}
	}
	return out, true
}

// replaying returns the run's replay, or the status for a run without.
func (st *runState) replaying() (*replayState, abi.Errno, string) {
	if st.replay == nil {
		return nil, abi.ErrnoUnsupported, "the run serves no recording"
	}
	return st.replay, abi.ErrnoOK, ""
}

func opReplayUser(_ context.Context, st *runState, _ []byte) ([]byte, abi.Errno, string) {
	r, errno, msg := st.replaying()
	if r == nil {
		return nil, errno, msg
	}
	for r.cursor < len(r.events) {
		e := &r.events[r.cursor]
		r.cursor++
		if e.Kind == abi.KindUserMessage {
			return st.encode(e)
		}
	}
	return nil, abi.ErrnoEOF, "no more user messages in the recording"
}

// isModelOutput reports whether an event of this kind is model output:
// anything but a user message or a tool result.
func isModelOutput(kind string) bool {
	return kind != abi.KindUserMessage && kind != abi.KindToolResult
}

func opReplayModel(ctx context.Context, st *runState, _ []byte) ([]byte, abi.Errno, string) {
	r, errno, msg := st.replaying()
	if r == nil {
		return nil, errno, msg
	}
	i := r.cursor
	for i < len(r.events) && r.events[i].Kind == abi.KindToolResult {
		i++ // results the guest took with replay_tool
	}
	if i == len(r.events) || r.events[i].Kind == abi.KindUserMessage {
		r.cursor = i
		return nil, abi.ErrnoEOF, "no more model output before the next user message"
	}
	turn := r.events[i].Turn
	j := i
	for j < len(r.events) && isModelOutput(r.events[j].Kind) && r.events[j].Turn == turn {
		j++
	}
	step := abi.ModelStep{Turn: int64(turn), Events: r.events[i:j]}
	if !r.attempted[turn] {
		at, err := r.src.AttemptsForTurn(ctx, string(r.sess), turn)
		if err != nil {
			errno, msg := sourceFailed(err)
			return nil, errno, msg
		}
		r.attempted[turn] = true
		step.Attempts = at
	}
	r.cursor = j
	return st.encode(&step)
}

func opReplayTool(_ context.Context, st *runState, b []byte) ([]byte, abi.Errno, string) {
	r, errno, msg := st.replaying()
	if r == nil {
		return nil, errno, msg
	}
	var c abi.ToolCall
	if errno, msg := decode(b, &c); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	if c.CallID == "" {
		return nil, abi.ErrnoInval, "empty call ID"
	}
	out, ok := r.results[c.CallID]
	if !ok {
		if out, ok = r.outcomes[c.CallID]; !ok {
			return nil, abi.ErrnoNotFound, "no outcome recorded (orphaned call)"
		}
	}
	return st.encode(&out)
}

func opReplayEmit(_ context.Context, st *runState, b []byte) ([]byte, abi.Errno, string) {
	r, errno, msg := st.replaying()
	if r == nil {
		return nil, errno, msg
	}
	var got abi.EventEnvelope
	if errno, msg := decode(b, &got); errno != abi.ErrnoOK {
		return nil, errno, msg
	}
	if r.div != nil {
		return nil, abi.ErrnoDiverged, fmt.Sprintf("the replay already diverged at event %d", r.div.Index)
	}
	got.Payload = bytes.Clone(got.Payload)
	if r.emit >= len(r.events) {
		r.div = &Divergence{Turn: got.Turn, Index: r.emit, Got: &got, Reason: "guest emitted more events than recorded"}
		return nil, abi.ErrnoDiverged, r.div.Error()
	}
	want := r.events[r.emit]
	if reason := compareEvents(&want, &got); reason != "" {
		r.div = &Divergence{Turn: want.Turn, Index: r.emit, ExpectedID: want.ID, Expected: &want, Got: &got, Reason: reason}
		return nil, abi.ErrnoDiverged, r.div.Error()
	}
	r.emit++
	st.emitted++
	return nil, abi.ErrnoOK, ""
}

// compareEvents returns why got differs from the recorded event want, or
// "" when they match: same kind, same turn, and payloads equal as
// compacted JSON. A recorded payload dropped by retention matches any.
func compareEvents(want, got *abi.EventEnvelope) string {
	switch {
	case got.Kind != want.Kind:
		return fmt.Sprintf("kind %q, expected %q", got.Kind, want.Kind)
	case got.Turn != want.Turn:
		return fmt.Sprintf("turn %d, expected %d", got.Turn, want.Turn)
	case want.Payload == nil:
		return ""
	}
	var w, g bytes.Buffer
	if err := json.Compact(&g, got.Payload); err != nil {
		return "payload is not valid JSON"
	}
	if err := json.Compact(&w, want.Payload); err != nil {
		if bytes.Equal(want.Payload, got.Payload) {
			return ""
		}
		return "payload differs"
	}
	if !bytes.Equal(w.Bytes(), g.Bytes()) {
		return "payload differs"
	}
	return ""
}

// finish returns the replay's divergence at the end of the run: the first
// difference found, or the first recorded event never emitted.
func (r *replayState) finish() *Divergence {
	if r.div == nil && r.emit < len(r.events) {
		want := r.events[r.emit]
		r.div = &Divergence{Turn: want.Turn, Index: r.emit, ExpectedID: want.ID, Expected: &want,
			Reason: fmt.Sprintf("guest stopped before event %d", r.emit)}
	}
	return r.div
}
