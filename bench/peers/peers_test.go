package peers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gofastr/store/bench/peers"
)

// envChild makes the test binary serve StorePlain as a remote peer
// (TestRemote starts it so).
const envChild = "GOFASTR_PEERS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		var cfg peers.Config
		if len(os.Args) != 3 || os.Args[1] != "-config" || json.Unmarshal([]byte(os.Args[2]), &cfg) != nil {
			fmt.Fprintln(os.Stderr, "child: bad arguments", os.Args[1:])
			os.Exit(2)
		}
		if err := peers.Serve(context.Background(), peers.StorePlain, cfg, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var inProcess = []peers.Opener{peers.StoreEncrypted, peers.StorePlain, peers.Modernc, peers.Adiantum}

// TestCheck checks every in-process peer: what is appended reads back,
// after a reopen too, and the encrypted ones leave no plaintext.
func TestCheck(t *testing.T) {
	for _, o := range inProcess {
		t.Run(o.Name, func(t *testing.T) {
			if err := peers.Check(context.Background(), o, t.TempDir()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSmoke runs every workload on every in-process peer at tiny size and
// the summary on the results.
func TestSmoke(t *testing.T) {
	ctx := context.Background()
	cfg := peers.Tiny
	cfg.Dir = t.TempDir()
	var benches []peers.Bench
	for _, o := range inProcess {
		l, err := peers.NewLocal(ctx, o, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		benches = append(benches, l)
	}
	var log strings.Builder
	results, err := peers.Run(ctx, benches, cfg, &log)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(inProcess) * len(peers.Workloads) * cfg.Rounds; len(results) != want {
		t.Fatalf("%d results, want %d", len(results), want)
	}
	wantOps := map[string]int{peers.Append1: cfg.Append1, peers.AppendN: cfg.AppendN,
		peers.Session: cfg.SessionReads * cfg.PerSession, peers.Point: cfg.PointReads}
	for _, r := range results {
		if r.Ops != wantOps[r.Workload] || r.Seconds <= 0 {
			t.Errorf("%s %s: %d ops in %gs, want %d", r.Peer, r.Workload, r.Ops, r.Seconds, wantOps[r.Workload])
		}
	}
	s := peers.Summarize(results, peers.StoreEncrypted.Name)
	var table strings.Builder
	names := []string{}
	for _, o := range inProcess {
		names = append(names, o.Name)
	}
	peers.WriteTable(&table, s, names, peers.StoreEncrypted.Name, cfg)
	if got := s.Ratio[[2]string{peers.StoreEncrypted.Name, peers.Append1}]; got != 1 {
		t.Errorf("ratio of the base to itself %g, want 1", got)
	}
	for _, n := range names {
		if !strings.Contains(table.String(), "| "+n+" |") {
			t.Errorf("table lacks %s:\n%s", n, table.String())
		}
	}
	t.Logf("\n%s%s", log.String(), table.String())
}

// TestRemote runs a peer in a child process (this test binary) through the
// protocol cmd/peers uses for SQLCipher.
func TestRemote(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envChild, "1")
	cfg := peers.Tiny
	cfg.Dir = t.TempDir()
	r, err := peers.NewRemote(exe, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name() != peers.StorePlain.Name {
		t.Errorf("remote name %q", r.Name())
	}
	res, err := r.Run(context.Background(), peers.Point, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != cfg.PointReads || res.Peer != peers.StorePlain.Name {
		t.Errorf("remote result %+v", res)
	}
	if _, err := r.Run(context.Background(), "nosuch", 1); err == nil {
		t.Error("unknown workload: no error")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTargets(t *testing.T) {
	s := peers.Summarize([]peers.Result{
		{Round: 1, Peer: "store-enc", Workload: peers.AppendN, Ops: 100, Seconds: 1},
		{Round: 1, Peer: "mattn", Workload: peers.AppendN, Ops: 50, Seconds: 1},
		{Round: 1, Peer: "store-enc", Workload: peers.Append1, Ops: 60, Seconds: 1},
		{Round: 1, Peer: "mattn", Workload: peers.Append1, Ops: 100, Seconds: 1},
	}, "store-enc")
	var out strings.Builder
	if peers.WriteTargets(&out, s, "store-enc") {
		t.Errorf("0.6× single caller reported as met:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "2.00×") || !strings.Contains(out.String(), "0.60×") || !strings.Contains(out.String(), "MISSED") {
		t.Errorf("targets:\n%s", out.String())
	}
}
