package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/sandbox"
)

func init() { proc.Dispatch() }

// cacheDir is the compilation cache of this test binary (and its
// children), a temporary directory so that tests do not fill $HOME.
var cacheDir string

func TestMain(m *testing.M) {
	dir := os.Getenv(engine.EnvCacheDir)
	tmp := ""
	if dir == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "sandbox-test-cache"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		dir = tmp
	}
	cacheDir = dir
	if err := engine.Configure(engine.Config{CacheDir: dir}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	builds.cleanup()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

// builds holds the test guests built with the go tool, once per test
// binary.
var builds = struct {
	mu      sync.Mutex
	dir     string
	wasm    map[string][]byte
	errs    map[string]error
	cleanup func()
}{wasm: map[string][]byte{}, errs: map[string]error{}, cleanup: func() {}}

// buildGuest builds testdata/guests/<name> with GOOS=wasip1 GOARCH=wasm
// (once per test binary) and returns its bytes. It skips the test, saying
// why, when no go tool is available.
func buildGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if b, ok := builds.wasm[name]; ok {
		return b
	}
	if err, ok := builds.errs[name]; ok {
		tb.Fatalf("build guest %s: %v", name, err)
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			tb.Skipf("skipping: no go tool to build the test guest %s: %v", name, err)
		}
	}
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "sandbox-test-guests")
		if err != nil {
			tb.Fatal(err)
		}
		builds.dir = d
		builds.cleanup = func() { os.RemoveAll(d) }
	}
	out := filepath.Join(builds.dir, name+".wasm")
	cmd := exec.Command(goTool, "build", "-o", out, "./testdata/guests/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		builds.errs[name] = fmt.Errorf("%v\n%s", err, msg)
		tb.Fatalf("build guest %s: %v\n%s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	builds.wasm[name] = b
	return b
}

// newRuntime returns a runtime closed when the test ends.
func newRuntime(tb testing.TB, cfg sandbox.RuntimeConfig) *sandbox.Runtime {
	tb.Helper()
	rt, err := sandbox.NewRuntime(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("NewRuntime: %v", err)
	}
	tb.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// shared is one runtime and the compiled probe guest, for the tests that
// need nothing special.
var shared struct {
	once  sync.Once
	rt    *sandbox.Runtime
	probe *sandbox.Guest
	err   error
}

// probeGuest returns the compiled probe guest on a runtime shared by the
// tests of this binary.
func probeGuest(tb testing.TB) *sandbox.Guest {
	tb.Helper()
	wasm := buildGuest(tb, "probe")
	shared.once.Do(func() {
		ctx := context.Background()
		shared.rt, shared.err = sandbox.NewRuntime(ctx, sandbox.NewRuntimeConfig())
		if shared.err == nil {
			shared.probe, shared.err = shared.rt.Compile(ctx, wasm)
		}
	})
	if shared.err != nil {
		tb.Fatalf("probe guest: %v", shared.err)
	}
	return shared.probe
}

// probeInput encodes the probe guest's input.
func probeInput(tb testing.TB, v map[string]any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// run runs g with cfg and returns its output and log.
func run(tb testing.TB, g *sandbox.Guest, cfg sandbox.RunConfig) (sandbox.Result, string, string, error) {
	tb.Helper()
	var out, log bytes.Buffer
	res, err := g.Run(context.Background(), cfg.WithOutput(&out).WithLog(&log))
	return res, out.String(), log.String(), err
}

// testKey is the fixed data key of the encrypted test stores; a test
// constant, not a secret.
var testKey = bytes.Repeat([]byte{0x5a}, 32)

// openStore opens (creating) the encrypted store at path, closed when the
// test ends.
func openStore(tb testing.TB, path string) *host.Store {
	tb.Helper()
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, testKey)
	if err != nil {
		tb.Fatalf("OpenEncrypted(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// The recorded sessions of the fixture store.
const (
	sessA abi.SessionID = "sess-a" // the recording: tool calls, a retry, an orphan
	sessB abi.SessionID = "sess-b" // another session, not granted in most tests
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// recording is session A as recorded: two user turns, tool calls with
// results, and an orphaned call in the last turn.
func recording() []abi.EventEnvelope {
	ev := func(turn int, kind, payload string) abi.EventEnvelope {
		return abi.EventEnvelope{Session: sessA, Turn: turn, Kind: kind, Payload: json.RawMessage(payload)}
	}
	evs := []abi.EventEnvelope{
		ev(1, abi.KindUserMessage, `{"text":"list the files and read go.mod"}`),
		ev(1, abi.KindAssistantMessage, `{"text":"Listing the files first."}`),
		ev(1, abi.KindToolCall, `{"call_id":"c1","tool":"bash","args":{"cmd":"ls"}}`),
		ev(1, abi.KindToolCall, `{"call_id":"c2","tool":"read","args":{"path":"go.mod"}}`),
		ev(1, abi.KindToolResult, `{"call_id":"c1","status":"ok","result":"go.mod\nmain.go\n"}`),
		ev(1, abi.KindToolResult, `{"call_id":"c2","status":"ok","result":"module example.com/x\n"}`),
		ev(2, abi.KindAssistantMessage, `{"text":"The module is example.com/x."}`),
		ev(3, abi.KindUserMessage, `{"text":"now run the tests"}`),
		ev(3, abi.KindSystem, `{"text":"sandbox: network off"}`),
		ev(3, abi.KindToolCall, `{"call_id":"c3","tool":"bash","args":{"cmd":"go test ./..."}}`),
	}
	for i := range evs {
		evs[i].TS = t0.Add(time.Duration(i) * time.Second)
	}
	return evs
}

// fixtureStore creates an encrypted store holding session A (recording,
// attempts of turn 1 retried once, an orphaned intent) and session B, and
// returns it with its path.
func fixtureStore(tb testing.TB) (*host.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "sessions.db")
	s := openStore(tb, path)
	ctx := context.Background()
	for _, e := range recording() {
		if _, err := s.Append(ctx, e); err != nil {
			tb.Fatal(err)
		}
	}
	for i := range 3 {
		e := abi.EventEnvelope{Session: sessB, Turn: i, Kind: abi.KindUserMessage, TS: t0.Add(time.Duration(i) * time.Minute),
			Payload: json.RawMessage(fmt.Sprintf(`{"text":"secret plan %d"}`, i))}
		if _, err := s.Append(ctx, e); err != nil {
			tb.Fatal(err)
		}
	}
	usd := 0.0123
	for i, reason := range []string{abi.AttemptHTTPError, abi.AttemptComplete} {
		a := abi.ProviderAttempt{Session: string(sessA), Turn: 1, Provider: "anthropic", Model: "claude-sonnet-4-5",
			StartedAt: t0.Add(time.Duration(i) * time.Second), EndedAt: t0.Add(time.Duration(i)*time.Second + 500*time.Millisecond),
			TerminatedReason: reason, InputTokens: 1200, OutputTokens: 80 * i, CacheReadTokens: 300, CacheWriteTokens: 40,
			CacheWrite1hTokens: 10, EstimatedUSD: usd}
		if _, err := s.RecordAttempt(ctx, a); err != nil {
			tb.Fatal(err)
		}
	}
	for _, c := range []struct{ id, tool string }{{"c1", "bash"}, {"c2", "read"}, {"c3", "bash"}} {
		in := abi.ToolIntent{Session: sessA, Turn: 1, CallID: c.id, Tool: c.tool, ArgsHash: host.HashArgs([]byte(`{}`)),
			Args: json.RawMessage(`{}`), StartedAt: t0}
		if err := s.RecordToolIntent(ctx, in); err != nil {
			tb.Fatal(err)
		}
		if c.id == "c3" {
			continue
		}
		if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: sessA, CallID: c.id, Status: abi.StatusOK, EndedAt: t0}); err != nil {
			tb.Fatal(err)
		}
	}
	return s, path
}
