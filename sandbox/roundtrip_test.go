package sandbox_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/sandbox"
)

func TestGuestABI(t *testing.T) {
	g := probeGuest(t)
	if major, minor := g.ABI(); major != abi.Major || minor != abi.Minor {
		t.Errorf("ABI() = %d.%d, want %s", major, minor, abi.Version())
	}
	imports := g.Imports()
	for _, name := range imports {
		if !abi.IsFunc(name) {
			t.Errorf("Imports() lists %q, not a host function", name)
		}
	}
	// The probe calls every host function.
	want := abi.Funcs()
	slices.Sort(want)
	if !slices.Equal(imports, want) {
		t.Errorf("Imports() = %v, want %v", imports, want)
	}
	res, out, _, err := run(t, g, sandbox.NewRunConfig().WithInput(probeInput(t, map[string]any{"mode": "version"})))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run: %v (exit %d)", err, res.ExitCode)
	}
	if want := "host ABI " + abi.Version() + "\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// TestRoundTrip calls every host function from a guest against an
// encrypted store and checks what the guest printed.
func TestRoundTrip(t *testing.T) {
	g := probeGuest(t)
	s, _ := fixtureStore(t)
	in := probeInput(t, map[string]any{"mode": "all", "session": sessA, "turn": 1})
	cfg := sandbox.NewRunConfig().WithSource(s).WithSessions(sessA).WithWrite(s).WithInput(in)
	res, out, log, err := run(t, g, cfg)
	if err != nil {
		t.Fatalf("Run: %v\nlog: %s", err, log)
	}
	t.Logf("output:\n%s", out)
	for _, want := range []string{
		"abi_version 1.0\n",
		"list_sessions ok\n  session sess-a events 10 last_turn 3 tool_calls 3 first \"list the files and read go.mod\"\n",
		"orphan_intents ok\n  orphan c3 bash turn 1 args {}\n",
		"attempts_for_turn ok\n  attempt anthropic claude-sonnet-4-5 http_error in 1200 out 0 cr 300 cw 40 cw1h 10 usd 0.012300000\n" +
			"  attempt anthropic claude-sonnet-4-5 complete in 1200 out 80 cr 300 cw 40 cw1h 10 usd 0.012300000\n",
		`turn 1 tool_call 2026-03-14T09:26:55Z {"call_id":"c1","tool":"bash","args":{"cmd":"ls"}}` + "\n",
		"10 events\n",
		"append_event ok id>0=true\n",
		"input ok ",
		"replay_user ErrnoUnsupported\nreplay_model ErrnoUnsupported\nreplay_tool ErrnoUnsupported\nreplay_emit ErrnoUnsupported\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "sess-b") {
		t.Errorf("output lists the ungranted session sess-b")
	}
	if log != "hello log" {
		t.Errorf("log %q, want %q", log, "hello log")
	}
	if res.Appended != 1 {
		t.Errorf("Result.Appended = %d, want 1", res.Appended)
	}
	evs, err := s.EventsSince(context.Background(), sessA, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if len(evs) != 11 || last.Kind != abi.KindSystem || last.Turn != 9 || string(last.Payload) != `{"from":"guest"}` {
		t.Errorf("after the guest's append the store holds %d events, the last %+v", len(evs), last)
	}
}

// TestDenied checks the capabilities: an ungranted session is denied for
// every read, and an append without WithWrite is denied and stores
// nothing.
func TestDenied(t *testing.T) {
	g := probeGuest(t)
	s, _ := fixtureStore(t)
	ctx := context.Background()
	before, err := s.EventsSince(ctx, sessA, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := probeInput(t, map[string]any{"mode": "read-other", "other": sessB})
	_, out, _, err := run(t, g, sandbox.NewRunConfig().WithSource(s).WithSessions(sessA).WithInput(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "orphans of other: ErrnoDenied\nevents of other: ErrnoDenied\nattempts of other: ErrnoDenied\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}

	in = probeInput(t, map[string]any{"mode": "append", "session": sessA, "count": 2})
	res, out, _, err := run(t, g, sandbox.NewRunConfig().WithSource(s).WithSessions(sessA).WithInput(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := "append 0: id>0=false ErrnoDenied\nappend 1: id>0=false ErrnoDenied\n"; out != want {
		t.Errorf("append without WithWrite: output %q, want %q", out, want)
	}
	if res.Appended != 0 {
		t.Errorf("Result.Appended = %d", res.Appended)
	}
	// With writes but not the session: denied too.
	in = probeInput(t, map[string]any{"mode": "append", "session": sessB})
	_, out, _, err = run(t, g, sandbox.NewRunConfig().WithSource(s).WithSessions(sessA).WithWrite(s).WithInput(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := "append 0: id>0=false ErrnoDenied\n"; out != want {
		t.Errorf("append to an ungranted session: output %q, want %q", out, want)
	}
	for _, sess := range []abi.SessionID{sessA, sessB} {
		after, err := s.EventsSince(ctx, sess, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if sess == sessA && len(after) != len(before) || sess == sessB && len(after) != 3 {
			t.Errorf("session %s has %d events after denied appends", sess, len(after))
		}
	}
	// Nothing granted at all: no source.
	in = probeInput(t, map[string]any{"mode": "read-other", "other": sessA})
	_, out, _, err = run(t, g, sandbox.NewRunConfig().WithInput(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := "orphans of other: ErrnoUnsupported\nevents of other: ErrnoUnsupported\nattempts of other: ErrnoUnsupported\n"; out != want {
		t.Errorf("zero RunConfig: output %q, want %q", out, want)
	}
}

func TestReplayNotGranted(t *testing.T) {
	g := probeGuest(t)
	s, _ := fixtureStore(t)
	_, err := g.Run(context.Background(), sandbox.NewRunConfig().WithSource(s).WithSessions(sessA).WithReplay(sessB))
	if !errors.Is(err, sandbox.ErrNotGranted) {
		t.Errorf("replay of an ungranted session: %v, want ErrNotGranted", err)
	}
	_, err = g.Run(context.Background(), sandbox.NewRunConfig().WithSessions(sessA).WithReplay(sessA))
	if !errors.Is(err, sandbox.ErrNotGranted) {
		t.Errorf("replay without a source: %v, want ErrNotGranted", err)
	}
}

// TestDocExample runs the example guest of package guest's documentation
// (testdata/guests/count).
func TestDocExample(t *testing.T) {
	s, _ := fixtureStore(t)
	rt := newRuntime(t, sandbox.NewRuntimeConfig())
	g, err := rt.Compile(context.Background(), buildGuest(t, "count"))
	if err != nil {
		t.Fatal(err)
	}
	_, out, log, err := run(t, g, sandbox.NewRunConfig().WithSource(s).WithSessions(sessA).WithInput([]byte(sessA)))
	if err != nil {
		t.Fatalf("Run: %v\nlog: %s", err, log)
	}
	want := "assistant_message 2\nsystem 1\ntool_call 3\ntool_result 2\nuser_message 2\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	// Without the grant it fails, saying why.
	res, _, log, err := run(t, g, sandbox.NewRunConfig().WithSource(s).WithInput([]byte(sessA)))
	if !errors.Is(err, sandbox.ErrGuestFailed) || res.ExitCode != 1 || !strings.Contains(log, "ErrnoDenied") {
		t.Errorf("ungranted: %v, exit %d, log %q", err, res.ExitCode, log)
	}
}
