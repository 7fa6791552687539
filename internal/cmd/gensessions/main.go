// Command gensessions writes the recorded sessions of testdata/sessions:
// three realistic agent sessions, recorded through the Store API into a
// scratch store (priced with the embedded pricing table) and exported in
// the JSONL interchange form (package jsonl). Run it from the module root:
//
//	go run ./internal/cmd/gensessions           # rewrite testdata/sessions/*.jsonl
//	go run ./internal/cmd/gensessions -check    # compare with the committed files
//
// The output depends only on this program, the store and the embedded
// pricing table, never on the clock or randomness. Its test fails when the
// committed files differ from what it writes.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
	"github.com/gofastr/store/pricing"
)

// ErrDrift reports generated sessions that differ from the committed ones.
var ErrDrift = errors.New("gensessions: generated sessions differ from the committed files")

func main() {
	out := flag.String("out", filepath.Join("testdata", "sessions"), "directory of the session files")
	check := flag.Bool("check", false, "compare with the files in -out instead of writing them")
	flag.Parse()
	files, err := generate(context.Background())
	if err == nil {
		if *check {
			err = compare(files, *out)
		} else {
			err = write(files, *out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// generate records every session into a scratch store and returns each
// session's export by file name.
func generate(ctx context.Context) (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "gensessions-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg := host.NewConfig().WithPricing(pricing.Default()).
		WithClock(func() time.Time { return time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC) })
	s, err := host.OpenWithConfig(filepath.Join(dir, "sessions.db"), cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	files := map[string][]byte{}
	for _, sc := range scripts {
		r := &recorder{ctx: ctx, s: s, sess: sc.session, now: sc.start}
		sc.play(r)
		if r.err != nil {
			return nil, fmt.Errorf("gensessions: %s: %w", sc.session, r.err)
		}
		var buf bytes.Buffer
		if _, err := jsonl.Export(ctx, s, &buf, sc.session); err != nil {
			return nil, err
		}
		files[string(sc.session)+".jsonl"] = buf.Bytes()
	}
	return files, nil
}

func write(files map[string][]byte, dir string) error {
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func compare(files map[string][]byte, dir string) error {
	var errs []error
	for name, b := range files {
		have, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !bytes.Equal(have, b) {
			errs = append(errs, fmt.Errorf("%w: %s", ErrDrift, name))
		}
	}
	return errors.Join(errs...)
}

// Event payloads. The example guests build the same structures (same
// field order) to compare what they emit with the recording.

// text is the payload of user, assistant, system and error events.
type text struct {
	Text string `json:"text"`
}

// toolCall is the payload of a tool_call event.
type toolCall struct {
	CallID string          `json:"call_id"`
	Tool   string          `json:"tool"`
	Args   json.RawMessage `json:"args"`
}

// toolResult is the payload of a tool_result event: the recorded outcome.
type toolResult struct {
	CallID string          `json:"call_id"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// recorder writes one session; the first error stops it.
type recorder struct {
	ctx  context.Context
	s    *host.Store
	sess abi.SessionID
	now  time.Time
	turn int
	err  error
}

func (r *recorder) tick(d time.Duration) time.Time {
	r.now = r.now.Add(d)
	return r.now
}

func (r *recorder) event(kind string, payload any, d time.Duration) {
	if r.err != nil {
		return
	}
	b, err := json.Marshal(payload)
	if err != nil {
		r.err = err
		return
	}
	_, r.err = r.s.Append(r.ctx, abi.EventEnvelope{Session: r.sess, Turn: r.turn, Kind: kind, TS: r.tick(d), Payload: b})
}

func (r *recorder) system(s string) { r.event(abi.KindSystem, text{s}, 200*time.Millisecond) }
func (r *recorder) assistant(s string) {
	r.event(abi.KindAssistantMessage, text{s}, 1200*time.Millisecond)
}
func (r *recorder) fail(s string) { r.event(abi.KindError, text{s}, 300*time.Millisecond) }

// user starts the next turn with a user message.
func (r *recorder) user(s string, think time.Duration) {
	r.turn++
	r.event(abi.KindUserMessage, text{s}, think)
}

// call records a tool call: its intent, then its tool_call event.
func (r *recorder) call(id, tool, args string) {
	if r.err != nil {
		return
	}
	r.err = r.s.RecordToolIntent(r.ctx, abi.ToolIntent{Session: r.sess, Turn: r.turn, CallID: id, Tool: tool,
		Args: json.RawMessage(args), StartedAt: r.tick(400 * time.Millisecond)})
	r.event(abi.KindToolCall, toolCall{CallID: id, Tool: tool, Args: json.RawMessage(args)}, 0)
}

// result records how a call ended: its outcome, then its tool_result
// event.
func (r *recorder) result(id, status, result, errText string, took time.Duration) {
	if r.err != nil {
		return
	}
	o := abi.ToolOutcome{Session: r.sess, CallID: id, Status: status, Error: errText, EndedAt: r.tick(took)}
	if result != "" {
		o.Result = json.RawMessage(result)
	}
	if r.err = r.s.RecordToolOutcome(r.ctx, o); r.err != nil {
		return
	}
	r.event(abi.KindToolResult, toolResult{CallID: id, Status: status, Result: o.Result, Error: errText}, 0)
}

// attempt records a provider attempt of the current turn that started d
// before now and ended now (the store prices it when it has no estimate).
func (r *recorder) attempt(a abi.ProviderAttempt, took time.Duration) {
	if r.err != nil {
		return
	}
	a.Session, a.Turn = string(r.sess), r.turn
	a.StartedAt = r.now
	a.EndedAt = r.tick(took)
	_, r.err = r.s.RecordAttempt(r.ctx, a)
}

func (r *recorder) pin() {
	if r.err == nil {
		r.err = r.s.Pin(r.ctx, r.sess)
	}
}
