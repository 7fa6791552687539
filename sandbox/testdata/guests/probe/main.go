//go:build wasip1

// Command probe is the sandbox tests' guest: its input (a JSON object)
// says what to do, and it prints what it saw in a deterministic form.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/guest"
)

type input struct {
	Mode    string        `json:"mode"`
	Session abi.SessionID `json:"session"`
	Other   abi.SessionID `json:"other"`
	After   uint64        `json:"after"`
	Turn    int           `json:"turn"`
	MiB     int           `json:"mib"`
	Bytes   int           `json:"bytes"`
	Count   int           `json:"count"`
	Diverge string        `json:"diverge"`
	Payload string        `json:"payload"`
}

func main() {
	raw, err := guest.Input()
	if err != nil {
		fail("input", err)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("decode input", err)
	}
	switch in.Mode {
	case "version":
		major, minor := guest.HostVersion()
		fmt.Printf("host ABI %d.%d\n", major, minor)
	case "det":
		deterministic(in)
	case "events":
		printEvents(in.Session, in.After)
	case "count":
		n := 0
		for _, err := range guest.Events(in.Session, 0) {
			if err != nil {
				fail("events", err)
			}
			n++
		}
		fmt.Printf("events %d\n", n)
	case "all":
		roundTrip(in)
	case "append":
		for i := range max(in.Count, 1) {
			id, err := guest.Append(abi.EventEnvelope{Session: in.Session, Turn: i, Kind: abi.KindSystem,
				TS: time.Unix(1700000000, int64(i)), Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
			fmt.Printf("append %d: id>0=%v %s\n", i, id > 0, status(err))
		}
	case "read-other":
		_, err := guest.OrphanIntents(in.Other)
		fmt.Printf("orphans of other: %s\n", status(err))
		for _, err := range guest.Events(in.Other, 0) {
			fmt.Printf("events of other: %s\n", status(err))
			break
		}
		_, err = guest.AttemptsForTurn(in.Other, 1)
		fmt.Printf("attempts of other: %s\n", status(err))
	case "spin":
		fmt.Println("spinning")
		for i := 0; ; i++ {
			if i < 0 {
				break
			}
		}
	case "print-loop":
		// Prints a line per iteration, Count lines, then DONE: a run
		// stopped part way never prints DONE.
		for i := range in.Count {
			fmt.Println("line", i)
		}
		fmt.Println("DONE")
	case "spin-clock":
		fmt.Println("spinning")
		for time.Now().Year() > 0 {
		}
	case "alloc":
		var keep [][]byte
		for i := range in.MiB {
			b := make([]byte, 1<<20)
			b[i%len(b)] = 1
			keep = append(keep, b)
		}
		fmt.Printf("allocated %d MiB\n", len(keep))
	case "panic":
		panic("probe panics on purpose")
	case "exit":
		os.Exit(3)
	case "print":
		os.Stdout.Write([]byte(strings.Repeat("x", in.Bytes)))
	case "log":
		for i := range max(in.Count, 1) {
			guest.Logf("log line %d", i)
		}
		fmt.Fprintln(os.Stderr, "to stderr")
	case "sleep":
		t0 := time.Now()
		time.Sleep(time.Hour)
		fmt.Printf("slept %v, wall advanced %v\n", time.Since(t0).Round(time.Minute), time.Now().Sub(t0).Round(time.Minute))
	case "agent":
		agent(in)
	case "replay-unsupported":
		_, err := guest.NextUser()
		fmt.Printf("next user: %s\n", status(err))
		fmt.Printf("emit: %s\n", status(guest.Emit(abi.EventEnvelope{Session: "x", Kind: "y"})))
	default:
		fail("mode", fmt.Errorf("unknown mode %q", in.Mode))
	}
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "probe: %s: %v\n", what, err)
	os.Exit(1)
}

// status names err's errno, "ok" for nil, "EOF" for io.EOF.
func status(err error) string {
	var ge *guest.Error
	switch {
	case err == nil:
		return "ok"
	case err == io.EOF:
		return "EOF"
	case errors.As(err, &ge):
		return ge.Errno.String()
	}
	return "error " + err.Error()
}

func deterministic(in input) {
	now := time.Now()
	fmt.Println("now", now.UTC().Format(time.RFC3339Nano))
	fmt.Println("rand", mrand.Uint64(), mrand.Uint64(), mrand.IntN(1000))
	b := make([]byte, 16)
	rand.Read(b)
	fmt.Println("crypto/rand", hex.EncodeToString(b))
	m := map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}
	order := ""
	for k := range m {
		order += k
	}
	fmt.Println("map order", order)
	ch := make(chan int)
	for i := range 4 {
		go func() { ch <- i }()
	}
	got := ""
	for range 4 {
		got += fmt.Sprint(<-ch)
	}
	fmt.Println("goroutine order", got)
	if in.Session != "" {
		printEvents(in.Session, 0)
	}
}

func printEvents(s abi.SessionID, after uint64) {
	n := 0
	for e, err := range guest.Events(s, after) {
		if err != nil {
			fail("events", err)
		}
		n++
		fmt.Printf("event %d turn %d %s %s %s\n", e.ID, e.Turn, e.Kind, e.TS.UTC().Format(time.RFC3339Nano), e.Payload)
	}
	fmt.Printf("%d events\n", n)
}

func roundTrip(in input) {
	major, minor := guest.HostVersion()
	fmt.Printf("abi_version %d.%d\n", major, minor)
	ss, err := guest.Sessions(0)
	fmt.Printf("list_sessions %s\n", status(err))
	for _, s := range ss {
		fmt.Printf("  session %s events %d last_turn %d tool_calls %d first %q\n", s.ID, s.Events, s.LastTurn, s.ToolCalls, s.FirstUserMessage)
	}
	or, err := guest.OrphanIntents(in.Session)
	fmt.Printf("orphan_intents %s\n", status(err))
	for _, o := range or {
		fmt.Printf("  orphan %s %s turn %d args %s\n", o.CallID, o.Tool, o.Turn, o.Args)
	}
	at, err := guest.AttemptsForTurn(in.Session, in.Turn)
	fmt.Printf("attempts_for_turn %s\n", status(err))
	for _, a := range at {
		fmt.Printf("  attempt %s %s %s in %d out %d cr %d cw %d cw1h %d usd %.9f\n", a.Provider, a.Model, a.TerminatedReason,
			a.InputTokens, a.OutputTokens, a.CacheReadTokens, a.CacheWriteTokens, a.CacheWrite1hTokens, a.EstimatedUSD)
	}
	printEvents(in.Session, 0)
	id, err := guest.Append(abi.EventEnvelope{Session: in.Session, Turn: 9, Kind: abi.KindSystem, TS: time.Unix(1700000000, 0),
		Payload: json.RawMessage(`{"from":"guest"}`)})
	fmt.Printf("append_event %s id>0=%v\n", status(err), id > 0)
	guest.Log("hello log")
	raw, err := guest.Input()
	fmt.Printf("input %s %d bytes\n", status(err), len(raw))
	_, err = guest.NextUser()
	fmt.Printf("replay_user %s\n", status(err))
	_, err = guest.Model()
	fmt.Printf("replay_model %s\n", status(err))
	_, err = guest.Tool(abi.ToolCall{CallID: "c1", Tool: "read"})
	fmt.Printf("replay_tool %s\n", status(err))
	err = guest.Emit(abi.EventEnvelope{Session: in.Session, Kind: abi.KindSystem})
	fmt.Printf("replay_emit %s\n", status(err))
	// A response bigger than the SDK's 64 KiB scratch buffer goes
	// through take_result.
	if in.Payload != "" {
		n := 0
		for e, err := range guest.Events(in.Session, 0) {
			if err != nil {
				fail("events", err)
			}
			if len(e.Payload) > 64<<10 {
				n++
			}
		}
		fmt.Printf("big events %d\n", n)
	}
}

// agent is a minimal agent loop replayed against the recording: it emits
// what a harness would record, in order. in.Diverge alters its behaviour:
// "payload" changes the first assistant message, "skip-tool" skips the
// first tool call's result, "stop" stops after the first user message.
func agent(in input) {
	altered := false
	for {
		u, err := guest.NextUser()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("next user", err)
		}
		emit(u)
		if in.Diverge == "stop" {
			fmt.Println("stopping early")
			return
		}
		for {
			step, err := guest.Model()
			if err == io.EOF {
				break
			}
			if err != nil {
				fail("model", err)
			}
			fmt.Printf("turn %d: %d events, %d attempts\n", step.Turn, len(step.Events), len(step.Attempts))
			var results []abi.EventEnvelope
			for _, e := range step.Events {
				if e.Kind == abi.KindAssistantMessage && in.Diverge == "payload" && !altered {
					altered = true
					e.Payload = json.RawMessage(`{"text":"something else"}`)
				}
				emit(e)
				if e.Kind != abi.KindToolCall {
					continue
				}
				var call struct {
					CallID string          `json:"call_id"`
					Tool   string          `json:"tool"`
					Args   json.RawMessage `json:"args"`
				}
				json.Unmarshal(e.Payload, &call)
				out, err := guest.Tool(abi.ToolCall{CallID: call.CallID, Tool: call.Tool, Args: call.Args})
				if errors.Is(err, guest.ErrNotFound) {
					fmt.Printf("tool %s: orphaned\n", call.CallID)
					continue
				}
				if err != nil {
					fail("tool", err)
				}
				if in.Diverge == "skip-tool" && !altered {
					altered = true
					continue
				}
				p, _ := json.Marshal(struct {
					CallID string          `json:"call_id"`
					Status string          `json:"status"`
					Result json.RawMessage `json:"result,omitempty"`
				}{out.CallID, out.Status, out.Result})
				results = append(results, abi.EventEnvelope{Session: e.Session, Turn: e.Turn, Kind: abi.KindToolResult, Payload: p})
			}
			for _, r := range results {
				emit(r)
			}
		}
	}
	fmt.Println("agent done")
}

func emit(e abi.EventEnvelope) {
	if err := guest.Emit(e); err != nil {
		fmt.Printf("emit %s turn %d: %s\n", e.Kind, e.Turn, status(err))
		os.Exit(0)
	}
}
