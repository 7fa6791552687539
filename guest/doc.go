// Package guest is the SDK for guests of the gofastr store: WebAssembly
// modules, built from Go with GOOS=wasip1 GOARCH=wasm, that a host runs in
// a sandbox (package sandbox) to read, check and replay recorded agent
// sessions. A guest sees only what the host grants its run: the sessions
// it may read, whether it may append, an input, a log, standard output,
// a fixed clock and a seeded random source. It has no files, network,
// environment or keys.
//
// A guest is an ordinary Go command: main runs when the host starts the
// guest, and the guest ends when main returns (exit status 0) or calls
// os.Exit. Importing this package is what makes a module a guest: it
// exports the ABI marker (gofastr_abi_v1_0 for ABI v1.0) by which the host
// recognises the module and its ABI version, and it imports the host
// functions of module gofastr_store_v1 that the guest uses.
//
// The functions of this package exist only when building for wasip1. They
// are safe for use by several goroutines, one host call at a time.
//
// # Errors
//
// A failed host call returns an *Error holding the host's status
// (an abi.Errno), the operation and the host's message. Match it with
// errors.Is against the sentinels (ErrDenied, ErrNotFound, ErrDiverged,
// ...) or against the abi.Errno values. The replay calls that reach the
// end of the recording return io.EOF itself.
//
// # Reading sessions
//
// [Events] iterates over a session's events, fetching them from the host
// in batches of at most 256 KiB (a larger event comes alone in its own
// batch). [Sessions], [OrphanIntents] and [AttemptsForTurn] return the
// session summaries, unresolved tool calls and provider attempts.
// [Append] writes an event, when the run grants writes.
//
// # Replay
//
// A host can serve a recorded session as the guest's environment: the
// guest, typically an agent loop, takes the next user message with
// [NextUser], the model's output with [Model] (assistant messages and
// tool calls, with the provider attempts of the turn), and the result of
// each tool call with [Tool]; it reports every event it would record with
// [Emit], in order: the user message, the model's events, the tool
// results. The host compares each emitted event with the recording (kind,
// turn and payload) and reports the first difference, and also a guest
// that stops before the recording ends.
//
// A tool_call event's payload names its call with "call_id" (or
// "tool_use_id" or "id"), and a tool_result event's payload carries the
// same "call_id" with the outcome: "status" (abi.StatusOK when absent),
// "result" and "error". [Tool] returns the outcome recorded in that
// tool_result event.
//
// # Example
//
// A guest that counts the events of each kind in the session named by its
// input and prints the counts:
//
//	//go:build wasip1
//
//	package main
//
//	import (
//		"fmt"
//		"os"
//		"slices"
//
//		"github.com/gofastr/store/abi"
//		"github.com/gofastr/store/guest"
//	)
//
//	func main() {
//		in, err := guest.Input()
//		if err != nil {
//			guest.Logf("input: %v", err)
//			os.Exit(1)
//		}
//		counts := map[string]int{}
//		for e, err := range guest.Events(abi.SessionID(in), 0) {
//			if err != nil {
//				guest.Logf("events: %v", err)
//				os.Exit(1)
//			}
//			counts[e.Kind]++
//		}
//		kinds := make([]string, 0, len(counts))
//		for k := range counts {
//			kinds = append(kinds, k)
//		}
//		slices.Sort(kinds)
//		for _, k := range kinds {
//			fmt.Printf("%s %d\n", k, counts[k])
//		}
//	}
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -o count.wasm .
//
// and run it with sandbox.Runtime.Compile and sandbox.Guest.Run, granting
// the session and passing its ID as input.
package guest
