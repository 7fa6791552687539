//go:build wasip1

// Command replay is an example guest: it walks every session the run
// grants, checks the invariants of a recording and prints a deterministic
// summary. Invariants: event IDs strictly increase, turns never decrease,
// every tool call has a tool result or is an orphaned intent (a call whose
// outcome was never recorded), and every tool result answers an earlier
// call. It exits with status 1 if any invariant fails.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/guest"
)

// call is the part of tool_call and tool_result payloads the checks read.
type call struct {
	CallID string `json:"call_id"`
}

func main() {
	sessions, err := guest.Sessions(0)
	if err != nil {
		fmt.Printf("list sessions: %v\n", err)
		os.Exit(2)
	}
	slices.SortFunc(sessions, func(a, b abi.PastSession) int { return strings.Compare(string(a.ID), string(b.ID)) })
	failed := 0
	for _, s := range sessions {
		failed += check(s)
	}
	fmt.Printf("%d sessions, %d failed checks\n", len(sessions), failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// check walks one session, prints its summary and returns the number of
// failed checks.
func check(s abi.PastSession) int {
	var (
		problems   []string
		kinds      = map[string]int{}
		n          int
		lastID     uint64
		lastTurn   = -1
		firstTurn  int
		maxTurn    int
		first, end time.Time
		calls      []string // call IDs in order
		answered   = map[string]bool{}
		called     = map[string]bool{}
		dropped    int
	)
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for e, err := range guest.Events(s.ID, 0) {
		if err != nil {
			fail("read events: %v", err)
			break
		}
		if n > 0 && e.ID <= lastID {
			fail("event %d: ID does not increase", n)
		}
		if e.Turn < lastTurn {
			fail("event %d: turn %d after turn %d", n, e.Turn, lastTurn)
		}
		if n == 0 {
			first, firstTurn, maxTurn = e.TS, e.Turn, e.Turn
		}
		maxTurn = max(maxTurn, e.Turn)
		end = e.TS
		lastID, lastTurn = e.ID, e.Turn
		kinds[e.Kind]++
		if e.Payload == nil {
			dropped++
		}
		switch e.Kind {
		case abi.KindToolCall, abi.KindToolResult:
			var c call
			if e.Payload == nil {
				break // dropped by retention: nothing to check
			}
			if err := json.Unmarshal(e.Payload, &c); err != nil || c.CallID == "" {
				fail("event %d: %s without a call_id", n, e.Kind)
				break
			}
			if e.Kind == abi.KindToolCall {
				if called[c.CallID] {
					fail("event %d: call %s issued twice", n, c.CallID)
				}
				called[c.CallID] = true
				calls = append(calls, c.CallID)
			} else {
				if !called[c.CallID] {
					fail("event %d: result for call %s, which was not issued before", n, c.CallID)
				}
				answered[c.CallID] = true
			}
		}
		n++
	}
	orphans, err := guest.OrphanIntents(s.ID)
	if err != nil {
		fail("orphan intents: %v", err)
	}
	orphaned := map[string]bool{}
	for _, o := range orphans {
		orphaned[o.CallID] = true
	}
	var orphanIDs []string
	for _, c := range calls {
		switch {
		case answered[c]:
		case orphaned[c]:
			orphanIDs = append(orphanIDs, c)
		default:
			fail("call %s has no result and is not an orphaned intent", c)
		}
	}
	fmt.Printf("session %s\n", s.ID)
	fmt.Printf("  events %d, turns %d..%d, pinned %v\n", n, firstTurn, maxTurn, s.Pinned)
	if n > 0 {
		fmt.Printf("  from %s to %s (%s)\n", first.UTC().Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339Nano), end.Sub(first))
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	for _, k := range ks {
		fmt.Printf("  %-18s %d\n", k, kinds[k])
	}
	if dropped > 0 {
		fmt.Printf("  payloads dropped by retention: %d\n", dropped)
	}
	unanswered := len(calls) - len(orphanIDs)
	for _, c := range calls {
		if answered[c] {
			unanswered--
		}
	}
	fmt.Printf("  tool calls %d: answered %d, orphaned %d %v, neither %d\n", len(calls), len(calls)-len(orphanIDs)-unanswered, len(orphanIDs), orphanIDs, unanswered)
	if s.Events != n || s.ToolCalls != kinds[abi.KindToolCall] || s.LastTurn != maxTurn {
		fail("summary says %d events, %d tool calls, last turn %d", s.Events, s.ToolCalls, s.LastTurn)
	}
	for _, p := range problems {
		fmt.Printf("  FAIL %s\n", p)
	}
	if len(problems) == 0 {
		fmt.Println("  ok")
	}
	return len(problems)
}
