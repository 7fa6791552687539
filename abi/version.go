package abi

import "strconv"

// The ABI version this package describes. A guest declares the version it
// was built for with its marker export (see [MarkerExport]); a host accepts
// a guest of the same major version and a minor version not above its own.
// Within one major version, a minor version only adds host functions, error
// codes and wire fields; nothing is removed or changes meaning.
const (
	// Major is the ABI major version. It is part of [HostModule].
	Major = 1
	// Minor is the ABI minor version.
	Minor = 0
)

// Version returns the ABI version as "major.minor", for example "1.0".
func Version() string {
	return strconv.Itoa(Major) + "." + strconv.Itoa(Minor)
}

// PackVersion returns major and minor packed as the host function
// [FuncABIVersion] returns them: major<<16 | minor. Both must be in
// 0..65535; other values are masked to 16 bits.
func PackVersion(major, minor int) uint32 {
	return uint32(major&0xffff)<<16 | uint32(minor&0xffff)
}

// UnpackVersion splits a version packed by [PackVersion].
func UnpackVersion(v uint32) (major, minor int) {
	return int(v >> 16), int(v & 0xffff)
}

// Module names a guest imports from.
const (
	// HostModule is the import module of the host functions of this
	// major version. A later major version uses another module name.
	HostModule = "gofastr_store_v1"
	// WASIModule is the WASI preview 1 module, the only other module a
	// guest may import from.
	WASIModule = "wasi_snapshot_preview1"
)

// MaxRequest is the largest request, in bytes, a host function accepts;
// a longer one fails with [ErrnoTooBig].
const MaxRequest = 4 << 20

// Host functions of [HostModule]. Every operation has the WebAssembly
// signature (req_ptr, req_len, out_ptr, out_cap i32) -> i64 and returns
// a result built by [Result]; the exceptions are noted. The request and
// response types of each are named in its comment.
const (
	// FuncABIVersion () -> i32 returns the host's ABI version packed by
	// [PackVersion].
	FuncABIVersion = "abi_version"
	// FuncEventsSince reads a batch of a session's events: request
	// [EventsRequest], response [EventBatch].
	FuncEventsSince = "events_since"
	// FuncListSessions lists the sessions the run grants: request
	// [SessionsRequest], response [SessionList].
	FuncListSessions = "list_sessions"
	// FuncOrphanIntents lists a session's tool intents that have no
	// outcome: request [SessionRequest], response [IntentList].
	FuncOrphanIntents = "orphan_intents"
	// FuncAttemptsForTurn lists the provider attempts of one turn: request
	// [TurnRequest], response [AttemptList].
	FuncAttemptsForTurn = "attempts_for_turn"
	// FuncAppendEvent appends an event, when the run grants writes:
	// request [EventEnvelope], response [AppendResult].
	FuncAppendEvent = "append_event"
	// FuncLog (ptr, len i32) -> i64 writes raw UTF-8 bytes to the run's
	// log writer. It has no response; past the log cap it fails with
	// [ErrnoTooBig].
	FuncLog = "log"
	// FuncInput returns the run's input as raw bytes (empty when the run
	// has none). It takes no request.
	FuncInput = "input"
	// FuncTakeResult (out_ptr, out_cap i32) -> i64 copies out the pending
	// result of the last operation, whose response did not fit its
	// buffer.
	FuncTakeResult = "take_result"
	// FuncReplayUser returns the next recorded user message of the
	// replayed session, an [EventEnvelope]; [ErrnoEOF] at the end. It
	// takes no request.
	FuncReplayUser = "replay_user"
	// FuncReplayModel returns the recorded model output that follows the
	// replay cursor, a [ModelStep]; [ErrnoEOF] when the next recorded
	// event is a user message or there is none. It takes no request.
	FuncReplayModel = "replay_model"
	// FuncReplayTool returns the recorded outcome of a tool call: request
	// [ToolCall], response [ToolOutcome]; [ErrnoNotFound] when no outcome
	// was recorded.
	FuncReplayTool = "replay_tool"
	// FuncReplayEmit compares an event the guest emits, an
	// [EventEnvelope], with the next recorded one; it fails with
	// [ErrnoDiverged] when they differ. It has no response.
	FuncReplayEmit = "replay_emit"
)

// funcs lists the host functions of ABI v1.0, in the order of the
// constants above.
var funcs = [...]string{
	FuncABIVersion, FuncEventsSince, FuncListSessions, FuncOrphanIntents,
	FuncAttemptsForTurn, FuncAppendEvent, FuncLog, FuncInput, FuncTakeResult,
	FuncReplayUser, FuncReplayModel, FuncReplayTool, FuncReplayEmit,
}

// Funcs returns the names of the host functions of this ABI version, in a
// new slice the caller may modify. A host provides all of them; a guest
// may import any subset.
func Funcs() []string {
	return append([]string(nil), funcs[:]...)
}

// IsFunc reports whether name is a host function of this ABI version.
func IsFunc(name string) bool {
	for _, f := range funcs {
		if f == name {
			return true
		}
	}
	return false
}

// markerPrefix begins the name of every guest marker export.
const markerPrefix = "gofastr_abi_v"

// MarkerExport returns the name of the marker a guest built for ABI
// major.minor exports: "gofastr_abi_v<major>_<minor>", for example
// "gofastr_abi_v1_0". The marker is a function with no parameters and no
// results; a host looks for it among a module's exports to recognise a
// guest and its version.
func MarkerExport(major, minor int) string {
	return markerPrefix + strconv.Itoa(major) + "_" + strconv.Itoa(minor)
}

// ParseMarker parses a marker export name made by [MarkerExport]. It
// reports ok false for any other name, including numbers with a sign,
// leading zeros or a value above 65535.
func ParseMarker(name string) (major, minor int, ok bool) {
	rest, found := cutPrefix(name, markerPrefix)
	if !found {
		return 0, 0, false
	}
	i := 0
	for i < len(rest) && rest[i] != '_' {
		i++
	}
	if i == len(rest) {
		return 0, 0, false
	}
	major, ok1 := parseVersionNumber(rest[:i])
	minor, ok2 := parseVersionNumber(rest[i+1:])
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return major, minor, true
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return s, false
	}
	return s[len(prefix):], true
}

// parseVersionNumber parses a decimal number in 0..65535 written without
// sign or leading zeros.
func parseVersionNumber(s string) (int, bool) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 0xffff {
		return 0, false
	}
	return n, true
}
