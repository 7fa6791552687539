package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// demoArgsEnv carries the arguments of the demo that TestDemoProcess runs.
const demoArgsEnv = "GOFASTR_TEST_DEMO_ARGS"

// TestDemoProcess is the demo run as a process of its own by runDemo (SQLite
// and the compilation cache are set up once per process, and the other
// tests of this package set them up their own way). It does nothing in a
// normal test run.
func TestDemoProcess(t *testing.T) {
	args := os.Getenv(demoArgsEnv)
	if args == "" {
		t.Skip("the demo's process for TestDemo: runs only when TestDemo starts it")
	}
	a := newApp(strings.NewReader(""), os.Stdout, os.Stderr, os.Getenv)
	os.Exit(a.main(context.Background(), strings.Split(args, "\x1f")))
}

// runDemo runs "runner demo ARGS..." in a child process with its own
// state directory (where the demo keeps its key) and returns its stdout,
// its stderr and its exit status.
func runDemo(t *testing.T, state string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDemoProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), demoArgsEnv+"="+strings.Join(append([]string{"demo"}, args...), "\x1f"),
		"XDG_STATE_HOME="+state, "GOFASTR_KEK=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestDemo runs the demo end to end, as "make demo" does, twice on the same
// kept directory (a rerun replaces the first run's store), and checks its
// report: the recorded sessions' figures, the guests' results (when the go
// command is there to build them), the reconciliation against
// testdata/billing and the marker scan.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: the demo builds and runs three wasip1 guests (make test runs it without -short)")
	}
	state := t.TempDir()
	dir := filepath.Join(t.TempDir(), "demo")
	_, noGo := exec.LookPath("go")
	for round := range 2 {
		stdout, stderr, code := runDemo(t, state, "--dir", dir, "--json")
		if code != 0 {
			t.Fatalf("round %d: demo exited with %d\nstderr:\n%s\nstdout:\n%s", round, code, stderr, stdout)
		}
		var rep demoReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("round %d: the report is not JSON: %v\n%s", round, err, stdout)
		}
		t.Logf("round %d: demo done in %s; steps %v", round, rep.Elapsed, rep.Steps)

		kek := filepath.Join(state, "gofastr", "demo", "kek")
		if rep.KEKPath != kek || rep.KEKMade != (round == 0) {
			t.Errorf("round %d: KEK %q created %v, want %q created %v", round, rep.KEKPath, rep.KEKMade, kek, round == 0)
		}
		if fi, err := os.Stat(kek); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("round %d: the demo's key file: %v, %v; want mode 0600", round, fi, err)
		}
		if !rep.Kept || rep.Store != filepath.Join(dir, "sessions.db") {
			t.Errorf("round %d: store %s kept %v, want %s kept", round, rep.Store, rep.Kept, filepath.Join(dir, "sessions.db"))
		}
		im := rep.Imported
		if im.Files != 3 || im.Events != 52 || im.Intents != 17 || im.Outcomes != 16 || im.Attempts != 22 || im.Pins != 1 || rep.LedgerSynced != 22 {
			t.Errorf("round %d: imported %+v, ledger %d; want 3 files, 52 events, 17 intents, 16 outcomes, 22 attempts, 1 pin, 22 ledger entries", round, im, rep.LedgerSynced)
		}
		wantSessions := []demoSession{
			{ID: "sess-changelog-audit", Events: 13, ToolCalls: 4, Attempts: 7, Unpriced: 1, CostNanos: 79659000, Pinned: true},
			{ID: "sess-flaky-test-orphan", Events: 18, ToolCalls: 6, Orphans: 1, Attempts: 7, CostNanos: 31924750},
			{ID: "sess-refactor-retry", Events: 21, ToolCalls: 7, Attempts: 8, CostNanos: 135703500},
		}
		if !slices.Equal(rep.Sessions, wantSessions) {
			t.Errorf("round %d: sessions\n%+v\nwant\n%+v", round, rep.Sessions, wantSessions)
		}
		if len(rep.Orphans) != 1 || rep.Orphans[0].CallID != "call_Xp4JtC6vL2eN" {
			t.Errorf("round %d: orphans %+v, want call_Xp4JtC6vL2eN", round, rep.Orphans)
		}
		wantProviders := []demoProviderCost{
			{Provider: "anthropic", Attempts: 14, CostNanos: 215362500},
			{Provider: "openai", Attempts: 7, CostNanos: 31924750},
			{Provider: "ollama", Attempts: 1, Unpriced: 1},
		}
		if !slices.Equal(rep.ByProvider, wantProviders) {
			t.Errorf("round %d: cost by provider %+v, want %+v", round, rep.ByProvider, wantProviders)
		}
		variance := map[string]int64{}
		for _, r := range rep.Reconciled {
			variance[r.Provider] = r.VarianceNanos
			if r.PeriodStart.Format("2006-01-02") != "2026-10-01" || r.PeriodEnd.Format("2006-01-02") != "2026-11-01" {
				t.Errorf("round %d: %s reconciled over %s .. %s, want October 2026", round, r.Provider, r.PeriodStart, r.PeriodEnd)
			}
		}
		if len(rep.Reconciled) != 2 || variance["anthropic"] != -26460000 || variance["openai"] != 12500000 ||
			!slices.Equal(rep.NotReconciled, []string{"ollama"}) {
			t.Errorf("round %d: reconciled %+v, not %v; want anthropic -26460000, openai +12500000 nano-USD, ollama not", round, rep.Reconciled, rep.NotReconciled)
		}
		if len(rep.MarkerScan.Hits) != 0 || rep.MarkerScan.Needles < 5 {
			t.Errorf("round %d: marker scan %+v, want no hits of at least 5 strings", round, rep.MarkerScan)
		}
		for _, f := range []string{"sessions.db", "sessions.db-wal", "sessions.db-shm", "sessions.db.dek", "costs.db", "costs.db.dek"} {
			if !slices.Contains(rep.MarkerScan.Files, f) {
				t.Errorf("round %d: the marker scan did not read %s (read %v)", round, f, rep.MarkerScan.Files)
			}
		}

		if noGo != nil {
			if rep.Guests.Skipped == "" {
				t.Errorf("round %d: no go command, yet the guests section is not skipped", round)
			}
			t.Logf("the guests were skipped: %s", rep.Guests.Skipped)
			continue
		}
		if rep.Guests.Skipped != "" || len(rep.Guests.Runs) != 5 {
			t.Fatalf("round %d: guests %+v, want 5 runs", round, rep.Guests)
		}
		if round == 1 && !rep.Guests.Cached && newApp(nil, nil, nil, os.Getenv).guestCacheDir() != "" {
			t.Errorf("round 1: the guests were built again, want them from the cache")
		}
		for _, r := range rep.Guests.Runs {
			if r.ExitCode != 0 || r.Divergence != nil {
				t.Errorf("round %d: guest %s %s: exit %d, divergence %+v", round, r.Guest, r.Session, r.ExitCode, r.Divergence)
			}
			want := map[string]string{
				"replay":    "3 sessions, 0 failed checks",
				"costaudit": "all 3 sessions: attempts 22, unpriced 1, recorded 247287250, recomputed 220827250, drift -26460000 nano-USD, 1 attempts drifted",
				"agentloop": "replay matched the recording",
			}[r.Guest]
			if r.Summary != want {
				t.Errorf("round %d: guest %s %s says %q, want %q", round, r.Guest, r.Session, r.Summary, want)
			}
		}
	}
}

// TestDemoText checks the text report's sections once, in a temporary
// directory that is gone afterwards, with the guests from TestDemo's cache.
func TestDemoText(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: the demo builds and runs three wasip1 guests (make test runs it without -short)")
	}
	state := t.TempDir()
	out, stderr, code := runDemo(t, state)
	if code != 0 {
		t.Fatalf("demo exited with %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"KEK     demo machine key " + filepath.Join(state, "gofastr", "demo", "kek") + " (created now",
		"removed at exit",
		"  3 sessions              52      17          1         22        1         $0.247287",
		"  sess-flaky-test-orphan turn 1: Bash call_Xp4JtC6vL2eN",
		"  anthropic  $0.215362  14 attempts",
		"  anthropic  2026-10-01 .. 2026-11-01  $0.188902  $0.215362  -$0.026460  0",
		"  openai     2026-10-01 .. 2026-11-01  $0.044424  $0.031924  +$0.012500  0",
		"  ollama: no billing API, not reconciled",
		"  ok: no file contains the marker",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	// The temporary directory is gone.
	dir := strings.TrimSuffix(strings.Fields(strings.SplitN(out, "Store   ", 2)[1])[0], "/sessions.db")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the demo's temporary directory %s is still there: %v", dir, err)
	}
}
