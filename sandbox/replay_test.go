package sandbox_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/sandbox"
)

func replayConfig(t *testing.T, src sandbox.Source, diverge string) sandbox.RunConfig {
	in := probeInput(t, map[string]any{"mode": "agent", "diverge": diverge})
	return sandbox.NewRunConfig().WithSource(src).WithSessions(sessA).WithReplay(sessA).WithInput(in)
}

// TestReplay serves session A to the probe's agent loop, which emits
// every event a harness would record: no divergence.
func TestReplay(t *testing.T) {
	g := probeGuest(t)
	s, _ := fixtureStore(t)
	res, out, log, err := run(t, g, replayConfig(t, s, ""))
	if err != nil {
		t.Fatalf("Run: %v\noutput:\n%s\nlog: %s", err, out, log)
	}
	want := "turn 1: 3 events, 2 attempts\n" +
		"turn 2: 1 events, 0 attempts\n" +
		"turn 3: 2 events, 0 attempts\n" +
		"tool c3: orphaned\n" +
		"agent done\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if res.Divergence != nil || res.Emitted != len(recording()) {
		t.Errorf("Divergence %v, Emitted %d (want %d)", res.Divergence, res.Emitted, len(recording()))
	}
}

func TestReplayDiverges(t *testing.T) {
	g := probeGuest(t)
	s, _ := fixtureStore(t)
	rec := recording()
	for _, tc := range []struct {
		diverge string
		index   int
		reason  string
		got     string // kind of the emitted event, "" for none
		out     string // the guest's last line
	}{
		// The first assistant message carries another text.
		{"payload", 1, "payload differs", abi.KindAssistantMessage, "emit assistant_message turn 1: ErrnoDiverged\n"},
		// The first tool result is never emitted: the second comes in
		// its place.
		{"skip-tool", 4, "payload differs", abi.KindToolResult, "emit tool_result turn 1: ErrnoDiverged\n"},
		// The loop stops after the first user message.
		{"stop", 1, "guest stopped before event 1", "", "stopping early\n"},
	} {
		t.Run(tc.diverge, func(t *testing.T) {
			res, out, _, err := run(t, g, replayConfig(t, s, tc.diverge))
			var d *sandbox.Divergence
			if !errors.As(err, &d) || !errors.Is(err, sandbox.ErrDiverged) {
				t.Fatalf("Run: %v, want a *Divergence wrapping ErrDiverged; output:\n%s", err, out)
			}
			if res.Divergence != d {
				t.Errorf("Result.Divergence %v, error %v", res.Divergence, d)
			}
			if !strings.HasSuffix(out, tc.out) {
				t.Errorf("output:\n%s\nwant it to end with %q", out, tc.out)
			}
			want := rec[tc.index]
			if d.Index != tc.index || d.Turn != want.Turn || d.Reason != tc.reason {
				t.Errorf("divergence at %d, turn %d, %q; want %d, %d, %q", d.Index, d.Turn, d.Reason, tc.index, want.Turn, tc.reason)
			}
			if d.Expected == nil || d.Expected.Kind != want.Kind || string(d.Expected.Payload) != string(want.Payload) || d.ExpectedID != d.Expected.ID || d.ExpectedID == 0 {
				t.Errorf("Expected %+v (ID %d), want %+v", d.Expected, d.ExpectedID, want)
			}
			switch {
			case tc.got == "" && d.Got != nil:
				t.Errorf("Got %+v, want nil", d.Got)
			case tc.got != "" && (d.Got == nil || d.Got.Kind != tc.got):
				t.Errorf("Got %+v, want a %s", d.Got, tc.got)
			}
			if res.Emitted != tc.index {
				t.Errorf("Emitted %d, want %d", res.Emitted, tc.index)
			}
			t.Logf("%v", err)
		})
	}
}

func TestReplayUnsupported(t *testing.T) {
	g := probeGuest(t)
	s, _ := fixtureStore(t)
	in := probeInput(t, map[string]any{"mode": "replay-unsupported"})
	_, out, _, err := run(t, g, sandbox.NewRunConfig().WithSource(s).WithSessions(sessA).WithInput(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := "next user: ErrnoUnsupported\nemit: ErrnoUnsupported\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}
