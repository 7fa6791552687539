// Package sandbox runs guests of the gofastr store: WebAssembly modules
// (Go programs built with GOOS=wasip1 GOARCH=wasm against package guest)
// that read, check and replay recorded sessions through the host functions
// of the versioned ABI in package abi, in wazero, with no access to
// anything the caller does not grant.
//
//	rt, err := sandbox.NewRuntime(ctx, sandbox.NewRuntimeConfig())
//	...
//	defer rt.Close(ctx)
//	g, err := rt.Compile(ctx, wasm) // once per guest
//	...
//	res, err := g.Run(ctx, sandbox.NewRunConfig().
//		WithSource(store).
//		WithSessions(id).
//		WithOutput(os.Stdout).
//		WithDeadline(10*time.Second))
//
// # Compiling and running
//
// [Runtime.Compile] checks that the module is a guest of this ABI (its
// marker export, its exported memory, its imports: functions only; see
// [ErrNotGuest] and [ErrABIVersion]) and
// compiles it once, through the compilation cache the runtime shares with
// the SQLite engine; compiling the same bytes later, in any process on the
// machine, loads the cached code. Compilation is serialized within the
// process. [Guest.Run] instantiates the compiled module afresh, runs its
// main function to the end and closes the instance, so nothing survives
// from one run to the next; runs of one guest may proceed concurrently.
//
// [Guest.Close] and [Runtime.Close] never wait for runs in flight, so
// they may be called from anywhere, even from a run's own output writer
// or [Source] method: they stop the runs in flight, which return
// [ErrClosed] (never success, even with the output complete), and the
// compiled module is released when the last of its runs returns.
//
// By default the compiled code checks at every loop header whether its
// run was stopped, so a deadline or a canceled context stops any guest.
// Go's WebAssembly code passes a loop header at every function call and
// every taken branch, and each check leaves the guest's compiled code, so
// CPU-bound Go guest code runs several times slower. The SDK's reading
// path is written to pass few of them (package abi decodes an event batch
// in one loop iteration per event), so a guest reading a session through
// guest.Events is slowed far less (docs/BENCHMARKS.md, section "Guests",
// has the figures). [RuntimeConfig.WithCooperativeDeadlines] leaves the
// checks out for trusted guests, whose deadlines are then checked only
// when they call the host. The compilation cache keys code by whether it
// has the checks, and the runtime keeps code without them in a cache
// directory of its own as well, so neither kind is ever served to the other.
//
// # Capabilities
//
// A [RunConfig] grants, per run: the [Source] to read and which of its
// sessions (others are refused with abi.ErrnoDenied and never listed);
// whether and where appends go ([RunConfig.WithWrite]: the source itself
// or a scratch store; without it appends are refused with
// abi.ErrnoDenied); a memory limit; a deadline; caps on standard output
// and on the log; an input; the clock and the random seed; and the
// recorded session to replay. The zero RunConfig grants nothing.
//
// The memory limit is enforced per run, although wazero caps memory per
// runtime: each instance's linear memory comes from an allocator of the
// run that refuses to grow it past the run's limit (wazero's
// experimental.MemoryAllocator), under the runtime's ceiling
// ([RuntimeConfig.WithMaxMemory]). A guest that allocates past its limit
// sees memory.grow fail; the Go runtime then aborts the guest, and Run
// returns [ErrMemoryLimit]. A module whose initial memory is already over
// the limit is not started.
//
// # Determinism
//
// A guest sees no environment, no arguments but its name ("guest"), no
// files and no network; its standard input is empty. Its wall clock is
// fixed at the run's clock ([RunConfig.WithClock]) and moves only when it
// sleeps, and sleeping takes no real time; its monotonic clock advances by
// a microsecond per reading; its random bytes (WASI random_get, behind
// crypto/rand, math/rand and map iteration order) come from a ChaCha8
// stream seeded with the run's seed. The Go runtime of a wasip1 guest is
// single-threaded, so goroutine scheduling is deterministic too. The same
// guest given the same recording, input, clock and seed writes the same
// bytes on every run, machine and GOMAXPROCS of the host.
//
// # Replay
//
// With [RunConfig.WithReplay] the run serves a recorded session as the
// guest's environment. The host reads the session's events at the start
// of the run and keeps two positions in them: a cursor for what it serves
// and the next event it expects the guest to emit.
//
//   - replay_user returns the next user_message after the cursor and moves
//     the cursor past it; abi.ErrnoEOF at the end of the recording.
//   - replay_model skips tool_result events at the cursor and returns the
//     consecutive events of one turn that follow and are neither user
//     messages nor tool results (assistant messages, tool calls, system
//     notices, errors), with the provider attempts of that turn on the
//     turn's first step (read with Source.AttemptsForTurn);
//     abi.ErrnoEOF when the next event is a user_message or there is none.
//   - replay_tool returns the outcome of a call recorded in the session's
//     tool_result event for that call ID: the tool_result payload's
//     "call_id" (or "tool_use_id", or "id") names the call; its "status"
//     (abi.StatusOK when absent, abi.StatusError when only "is_error" is
//     true), "result" (else "content") and "error" fill the
//     abi.ToolOutcome, whose EndedAt is the event's time (the tool_result
//     event is what the model saw). For a call without a tool_result event,
//     a Source that also has a method ToolOutcomes(ctx, session)
//     ([]abi.ToolOutcome, error) supplies the recorded outcome; a call
//     with neither is orphaned: abi.ErrnoNotFound.
//   - replay_emit compares the guest's event with the next expected one:
//     kind, turn and payload as compacted JSON (a recorded payload dropped
//     by retention matches any); ID and timestamp are ignored. The first
//     difference becomes the run's [Divergence], and every later emit
//     fails with abi.ErrnoDiverged.
//
// At the end of the run, a recorded event never emitted is a divergence
// too ("guest stopped before event N"). Run then returns the *Divergence
// as its error (it wraps [ErrDiverged]) and in Result.Divergence.
//
// # Threat model
//
// The guest is untrusted code. It can: compute; use the memory its run
// allows; read the sessions its run grants, through the host functions;
// append events to granted sessions when the run grants writes, into the
// sink the caller chose; write to standard output and the log up to their
// caps; read the run's input; and run until its deadline. It cannot:
// reach files, sockets, the environment, the real clock, real randomness
// or other processes (WASI is instantiated without any of them); read or
// learn of sessions the run does not grant; reach keys (the host
// functions serve decrypted, redacted data only, and their error messages
// hold no secrets); keep or pass state between runs (every run is a fresh
// instance, and a memory buffer recycled from an earlier run is zeroed
// before the guest can read it); or crash the host: every host function bounds-checks every
// pointer and length against the guest's memory and returns a status
// (abi.ErrnoFault for an out-of-range buffer, never a trap), copies
// request bytes out before acting and keeps no pointer into guest memory;
// requests over abi.MaxRequest are refused with abi.ErrnoTooBig; and host
// functions never panic. A guest that loops forever is stopped at its
// deadline ([ErrDeadline]) — except under cooperative deadlines, which
// are for trusted guests only; one that runs out of memory, traps or
// panics ends its own run ([ErrMemoryLimit], [ErrGuestFailed]) and nothing
// else.
//
// Not protected: the host's CPU time up to the deadline and memory up to
// the limit, per concurrent run; what a guest writes, within the grants,
// to a sink that is the real store; and the host process itself against
// defects in wazero.
package sandbox
