package examples_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
	"github.com/gofastr/store/sandbox"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The example guests, by directory.
var guests = []string{"replay", "costaudit", "agentloop"}

var (
	sessionsDir = filepath.Join("..", "..", "testdata", "sessions")
	pricingJSON = filepath.Join("..", "..", "pricing", "data", "genai-prices.json")
	goldenDir   = filepath.Join("testdata", "golden")
)

// testKey is the data key of the test store; a test constant, not a
// secret.
var testKey = bytes.Repeat([]byte{0x47}, 32)

var (
	buildOnce sync.Once
	built     map[string][]byte
	buildErr  error
)

// build compiles every example guest once per test binary with
// GOOS=wasip1 GOARCH=wasm and returns their modules by name. It skips the
// test, saying why, when no go command is available.
func build(t *testing.T) map[string][]byte {
	t.Helper()
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		if goCmd, err = exec.LookPath("go"); err != nil {
			t.Skip("skipping: no go command to build the wasip1 guests")
		}
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gofastr-guests-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		built = map[string][]byte{}
		for _, g := range guests {
			out := filepath.Join(dir, g+".wasm")
			cmd := exec.Command(goCmd, "build", "-trimpath", "-o", out, "./"+g)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if msg, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", g, err, msg)
				return
			}
			if built[g], err = os.ReadFile(out); err != nil {
				buildErr = err
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// sessions imports testdata/sessions, in file name order, into a fresh
// encrypted store and returns it with the session IDs.
func sessions(t *testing.T) (*host.Store, []abi.SessionID) {
	t.Helper()
	s, err := host.OpenEncrypted(filepath.Join(t.TempDir(), "sessions.db"), host.EncryptionAtRest, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	files, err := filepath.Glob(filepath.Join(sessionsDir, "*.jsonl"))
	if err != nil || len(files) < 3 {
		t.Fatalf("recorded sessions in %s: %d files, %v", sessionsDir, len(files), err)
	}
	slices.Sort(files)
	var ids []abi.SessionID
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = jsonl.Import(context.Background(), s, r)
		r.Close()
		if err != nil {
			t.Fatalf("import %s: %v", f, err)
		}
		ids = append(ids, abi.SessionID(strings.TrimSuffix(filepath.Base(f), ".jsonl")))
	}
	return s, ids
}

// run runs a compiled guest with cfg and returns its output followed by
// lines the test writes about the run's result (exit status, events
// emitted, the divergence if any), the result and Run's error.
func run(t *testing.T, g *sandbox.Guest, cfg sandbox.RunConfig) (string, sandbox.Result, error) {
	t.Helper()
	var out, log bytes.Buffer
	res, err := g.Run(context.Background(), cfg.WithOutput(&out).WithLog(&log).
		WithDeadline(time.Minute).WithMaxOutput(1<<20))
	fmt.Fprintf(&out, "--\nexit %d, emitted %d\n", res.ExitCode, res.Emitted)
	var div *sandbox.Divergence
	if errors.As(err, &div) {
		fmt.Fprintf(&out, "divergence: turn %d, index %d, reason %s\n  expected: %s\n  got:      %s\n",
			div.Turn, div.Index, div.Reason, event(div.Expected), event(div.Got))
	}
	if log.Len() > 0 {
		t.Logf("guest log:\n%s", log.String())
	}
	return out.String(), res, err
}

// event formats an event of a divergence without its store ID and time,
// which the comparison ignores.
func event(e *abi.EventEnvelope) string {
	if e == nil {
		return "nothing"
	}
	p := string(e.Payload)
	if e.Payload == nil {
		p = "(no payload)"
	}
	return fmt.Sprintf("%s turn %d %s", e.Kind, e.Turn, p)
}

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./guest/examples -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestExamples runs every example guest on the recorded sessions and
// compares its output with the golden files. Each run is repeated under
// GOMAXPROCS 1 and 4, twice, and must give the same bytes every time.
func TestExamples(t *testing.T) {
	mods := build(t)
	store, ids := sessions(t)
	table, err := os.ReadFile(pricingJSON)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt, err := sandbox.NewRuntime(ctx, sandbox.NewRuntimeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	compiled := map[string]*sandbox.Guest{}
	for name, wasm := range mods {
		g, err := rt.Compile(ctx, wasm)
		if err != nil {
			t.Fatalf("compile %s: %v", name, err)
		}
		compiled[name] = g
	}
	all := sandbox.NewRunConfig().WithSource(store).WithAllSessions()
	ok := func(t *testing.T, res sandbox.Result, err error) {
		if err != nil || res.ExitCode != 0 || res.Divergence != nil {
			t.Fatalf("run: exit %d, divergence %v, error %v", res.ExitCode, res.Divergence, err)
		}
	}
	type job struct {
		golden string
		guest  string
		cfg    sandbox.RunConfig
		check  func(t *testing.T, res sandbox.Result, err error)
	}
	jobs := []job{
		{"replay.txt", "replay", all, ok},
		{"costaudit.txt", "costaudit", all.WithInput(table), ok},
	}
	for _, id := range ids {
		evs, err := store.EventsSince(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{"agentloop-" + string(id) + ".txt", "agentloop", all.WithReplay(id), func(t *testing.T, res sandbox.Result, err error) {
			ok(t, res, err)
			if res.Emitted != len(evs) {
				t.Errorf("the loop emitted %d events, the recording has %d", res.Emitted, len(evs))
			}
		}})
	}
	// The loop skips the first tool call (Grep, the 5th event): the
	// host expects its result and gets the next step's assistant message.
	jobs = append(jobs, job{"agentloop-diverge.txt", "agentloop", all.WithReplay("sess-refactor-retry").WithInput([]byte("diverge")),
		func(t *testing.T, res sandbox.Result, err error) {
			var div *sandbox.Divergence
			if !errors.As(err, &div) || !errors.Is(err, sandbox.ErrDiverged) || res.Divergence == nil {
				t.Fatalf("run: %v, want a divergence", err)
			}
			if div.Turn != 1 || div.Index != 4 || div.Expected == nil || div.Expected.Kind != abi.KindToolResult ||
				div.Got == nil || div.Got.Kind != abi.KindAssistantMessage || res.Emitted != 4 {
				t.Errorf("divergence %+v after %d events, want turn 1, index 4, a tool_result expected and an assistant_message got after 4", div, res.Emitted)
			}
		}})
	broken := brokenStore(t)
	jobs = append(jobs, job{"replay-broken.txt", "replay", sandbox.NewRunConfig().WithSource(broken).WithAllSessions(),
		func(t *testing.T, res sandbox.Result, err error) {
			if !errors.Is(err, sandbox.ErrGuestFailed) || res.ExitCode != 1 {
				t.Fatalf("run: exit %d, %v; want exit 1 (ErrGuestFailed)", res.ExitCode, err)
			}
		}})

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, j := range jobs {
		t.Run(strings.TrimSuffix(j.golden, ".txt"), func(t *testing.T) {
			var first string
			for _, procs := range []int{1, 4} {
				runtime.GOMAXPROCS(procs)
				for round := range 2 {
					got, res, err := run(t, compiled[j.guest], j.cfg)
					j.check(t, res, err)
					if first == "" {
						first = got
						golden(t, j.golden, got)
						continue
					}
					if got != first {
						t.Fatalf("GOMAXPROCS=%d run %d differs from the first run:\n%s\n--- first\n%s", procs, round+1, got, first)
					}
				}
			}
		})
	}
}

// brokenStore returns a store holding a session that breaks every
// invariant the replay guest checks: a tool call without a result that is
// not an orphaned intent, a result for a call never issued, a turn that
// goes back.
func brokenStore(t *testing.T) *host.Store {
	t.Helper()
	const file = `{"type":"header","format":"gofastr-jsonl","version":1}
{"type":"event","event":{"id":1,"session":"broken","turn":1,"kind":"user_message","ts":"2026-11-02T09:00:00Z","payload":{"text":"go"}}}
{"type":"event","event":{"id":2,"session":"broken","turn":1,"kind":"tool_call","ts":"2026-11-02T09:00:01Z","payload":{"call_id":"a","tool":"Bash","args":{}}}}
{"type":"event","event":{"id":3,"session":"broken","turn":2,"kind":"tool_result","ts":"2026-11-02T09:00:02Z","payload":{"call_id":"b","status":"ok"}}}
{"type":"event","event":{"id":4,"session":"broken","turn":1,"kind":"assistant_message","ts":"2026-11-02T09:00:03Z","payload":{"text":"done"}}}
`
	s, err := host.OpenEncrypted(filepath.Join(t.TempDir(), "broken.db"), host.EncryptionAtRest, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := jsonl.Import(context.Background(), s, strings.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	return s
}
