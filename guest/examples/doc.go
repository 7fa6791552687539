// Package examples holds no code of its own: its directories are example
// guests, Go command modules built with GOOS=wasip1 GOARCH=wasm and run by
// package sandbox against recorded sessions (make guests builds them into
// build/guests):
//
//   - replay walks every session the run grants and checks the
//     invariants of a recording: every tool call has a result or is an
//     orphaned intent, turns never decrease, IDs strictly increase. It
//     prints a deterministic summary and exits with status 1 when an
//     invariant fails.
//   - costaudit recomputes the cost of every attempt of every granted
//     session with the pricing table the run passes as its input (a
//     genai-prices data.json) and prints the drift from the recorded
//     estimates in nano-dollars, per attempt, per session and in total.
//   - agentloop is a minimal agent loop replayed against the recording
//     the run serves: it takes each recorded model step and user message,
//     runs the recorded tools, and emits the events a live loop would
//     write, which the host compares with the recording. With the input
//     "diverge" it skips the first tool call, and the host reports the
//     divergence.
//
// The test of this package builds each guest, imports testdata/sessions
// into an encrypted store, runs the guests through package sandbox and
// compares their output with the golden files in testdata/golden
// (go test ./guest/examples -update rewrites them).
package examples
