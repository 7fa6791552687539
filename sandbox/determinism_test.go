package sandbox_test

import (
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/sandbox"
)

// detConfig is the run of the determinism tests: the probe prints its
// clock, random numbers, map and goroutine orders, and session A.
func detConfig(t *testing.T, src sandbox.Source) sandbox.RunConfig {
	return sandbox.NewRunConfig().WithSource(src).WithSessions(sessA).
		WithInput(probeInput(t, map[string]any{"mode": "det", "session": sessA})).WithSeed(42)
}

func TestDeterministicOutput(t *testing.T) {
	g := probeGuest(t)
	s, _ := fixtureStore(t)
	_, first, _, err := run(t, g, detConfig(t, s))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		_, again, _, err := run(t, g, detConfig(t, s))
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Fatalf("run %d differs:\n%s\nfirst:\n%s", i+2, again, first)
		}
	}
	if !strings.HasPrefix(first, "now 2026-01-01T00:00:00Z\n") {
		t.Errorf("the default clock: output begins %q", first[:min(len(first), 40)])
	}
	if !strings.Contains(first, "10 events\n") {
		t.Errorf("output lacks the session's events:\n%s", first)
	}
	// Another seed gives other random numbers, another clock another time.
	_, other, _, err := run(t, g, detConfig(t, s).WithSeed(43).WithClock(time.Date(2030, 5, 6, 7, 8, 9, 10, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	line := func(out, prefix string) string {
		for l := range strings.Lines(out) {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		return ""
	}
	if line(other, "rand ") == line(first, "rand ") || line(other, "crypto/rand ") == line(first, "crypto/rand ") {
		t.Errorf("seeds 42 and 43 gave the same random numbers:\n%s", other)
	}
	if got := line(other, "now "); got != "now 2030-05-06T07:08:09.00000001Z\n" {
		t.Errorf("WithClock: %q", got)
	}
	t.Logf("output:\n%s", first)
}

type detArgs struct {
	Wasm  string // path of the probe guest
	Store string // path of the fixture store
}

var _ = proc.Role("det", detChild)

// detChild runs the probe's determinism run on the store and prints the
// output, base64 on one line.
func detChild() int {
	var a detArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	wasm, err := os.ReadFile(a.Wasm)
	if err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenEncrypted(a.Store, host.EncryptionAtRest, testKey)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	rt, err := sandbox.NewRuntime(ctx, sandbox.NewRuntimeConfig())
	if err != nil {
		proc.Fail("%v", err)
	}
	defer rt.Close(ctx)
	g, err := rt.Compile(ctx, wasm)
	if err != nil {
		proc.Fail("%v", err)
	}
	var out strings.Builder
	in := `{"mode":"det","session":"` + string(sessA) + `"}`
	cfg := sandbox.NewRunConfig().WithSource(s).WithSessions(sessA).WithInput([]byte(in)).WithSeed(42).WithOutput(&out)
	if _, err := g.Run(ctx, cfg); err != nil {
		proc.Fail("run: %v", err)
	}
	os.Stdout.WriteString(strconv.Itoa(runtime.GOMAXPROCS(0)) + " " + base64.StdEncoding.EncodeToString([]byte(out.String())) + "\n")
	return 0
}

// TestDeterministicAcrossProcs runs the determinism run in child
// processes under GOMAXPROCS=1 and 4: the output is byte-identical to
// this process's.
func TestDeterministicAcrossProcs(t *testing.T) {
	proc.Skip(t)
	g := probeGuest(t)
	s, path := fixtureStore(t)
	_, want, _, err := run(t, g, detConfig(t, s))
	if err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(t.TempDir(), "probe.wasm")
	if err := os.WriteFile(wasm, buildGuest(t, "probe"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, procs := range []int{1, 4} {
		p := proc.Start(t, proc.Spec{Role: "det", Args: detArgs{Wasm: wasm, Store: path},
			Env: []string{"GOMAXPROCS=" + strconv.Itoa(procs), engine.EnvCacheDir + "=" + cacheDir}})
		line, err := io.ReadAll(p.Stdout())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		n, enc, ok := strings.Cut(strings.TrimSpace(string(line)), " ")
		if !ok || n != strconv.Itoa(procs) {
			t.Fatalf("child with GOMAXPROCS=%d printed %q", procs, line)
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("GOMAXPROCS=%d: output differs:\n%s\nwant:\n%s", procs, got, want)
		}
	}
}
