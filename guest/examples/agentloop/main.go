//go:build wasip1

// Command agentloop is an example guest: a minimal agent loop replayed
// against the recorded session the run serves. Where a live loop would
// call a model, it takes the recorded model step (guest.Model); where it
// would wait for the user, the recorded user message (guest.NextUser);
// where it would run a tool, the recorded outcome (guest.Tool). It emits
// every event a live loop would write (guest.Emit), and the host compares
// each with the recording: the first difference is a divergence.
//
// With the input "diverge" the loop skips the first tool call it is asked
// to make, as a regression would, and the host reports where the replay
// diverged.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/guest"
)

// toolCall and toolResult are the payloads of tool_call and tool_result
// events, in the field order the recordings use.
type toolCall struct {
	CallID string          `json:"call_id"`
	Tool   string          `json:"tool"`
	Args   json.RawMessage `json:"args"`
}

type toolResult struct {
	CallID string          `json:"call_id"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

type loop struct {
	diverge                    bool
	skipped                    bool
	users, steps, tools, orphs int
	emitted                    int
	attempts                   int
}

func main() {
	in, err := guest.Input()
	if err != nil {
		fmt.Printf("input: %v\n", err)
		os.Exit(2)
	}
	l := &loop{diverge: string(in) == "diverge"}
	err = l.run()
	fmt.Printf("users %d, model steps %d, attempts %d, tools run %d, orphaned calls %d, events emitted %d\n",
		l.users, l.steps, l.attempts, l.tools, l.orphs, l.emitted)
	switch {
	case errors.Is(err, guest.ErrDiverged):
		fmt.Printf("diverged: %v\n", err)
	case err != nil:
		fmt.Printf("error: %v\n", err)
		os.Exit(1)
	default:
		fmt.Println("replay matched the recording")
	}
}

func (l *loop) emit(e abi.EventEnvelope) error {
	if err := guest.Emit(e); err != nil {
		return err
	}
	l.emitted++
	return nil
}

// run drives the loop to the end of the recording: model output first (a
// session may open with a system prompt), then the next user message when
// the model has nothing more to say.
func (l *loop) run() error {
	for {
		step, err := guest.Model()
		if errors.Is(err, io.EOF) {
			u, err := guest.NextUser()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("next user: %w", err)
			}
			l.users++
			if err := l.emit(u); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("model: %w", err)
		}
		l.steps++
		l.attempts += len(step.Attempts)
		for _, e := range step.Events {
			if err := l.emit(e); err != nil {
				return err
			}
		}
		for _, e := range step.Events {
			if e.Kind != abi.KindToolCall {
				continue
			}
			if err := l.runTool(e); err != nil {
				return err
			}
		}
	}
}

// runTool runs one requested call against the recording and emits its
// result; an orphaned call has no recorded outcome and no result.
func (l *loop) runTool(e abi.EventEnvelope) error {
	var c toolCall
	if err := json.Unmarshal(e.Payload, &c); err != nil {
		return fmt.Errorf("tool call payload: %w", err)
	}
	if l.diverge && !l.skipped {
		l.skipped = true // the regression: this call is never made
		return nil
	}
	out, err := guest.Tool(abi.ToolCall{CallID: c.CallID, Tool: c.Tool, Args: c.Args})
	if errors.Is(err, guest.ErrNotFound) {
		l.orphs++
		return nil
	}
	if err != nil {
		return fmt.Errorf("tool %s: %w", c.CallID, err)
	}
	l.tools++
	p, err := json.Marshal(toolResult{CallID: c.CallID, Status: out.Status, Result: out.Result, Error: out.Error})
	if err != nil {
		return err
	}
	return l.emit(abi.EventEnvelope{Session: e.Session, Turn: e.Turn, Kind: abi.KindToolResult, TS: out.EndedAt, Payload: p})
}
