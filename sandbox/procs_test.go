package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/sandbox"
)

const appendSess abi.SessionID = "sess-append"

// tailUntil reads session appendSess through s, following it, until it has
// n events or the time runs out, and returns how many it saw and whether
// they were the guest's, in order.
func tailUntil(ctx context.Context, s *host.Store, n int, limit time.Duration) (int, error) {
	deadline := time.Now().Add(limit)
	var after uint64
	seen := 0
	for seen < n && time.Now().Before(deadline) {
		evs, err := s.EventsSince(ctx, appendSess, after, 0)
		if err != nil {
			return seen, err
		}
		for _, e := range evs {
			var p struct{ N int }
			if err := json.Unmarshal(e.Payload, &p); err != nil || p.N != seen || e.Turn != seen {
				return seen, fmt.Errorf("event %d: turn %d payload %s", seen, e.Turn, e.Payload)
			}
			seen++
			after = e.ID
		}
		if len(evs) == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return seen, nil
}

// TestAppendTwoHandles: a guest run with WithWrite appends through one
// handle while a second handle on the same file tails the session and
// sees every event, in order.
func TestAppendTwoHandles(t *testing.T) {
	g := probeGuest(t)
	path := filepath.Join(t.TempDir(), "sessions.db")
	w := openStore(t, path)
	r := openStore(t, path)
	const n = 40
	ctx := context.Background()
	done := make(chan error, 1)
	var seen int
	go func() {
		var err error
		seen, err = tailUntil(ctx, r, n, time.Minute)
		done <- err
	}()
	in := probeInput(t, map[string]any{"mode": "append", "session": appendSess, "count": n})
	res, out, _, err := run(t, g, sandbox.NewRunConfig().WithSource(w).WithSessions(appendSess).WithWrite(w).WithInput(in))
	if err != nil {
		t.Fatal(err)
	}
	if res.Appended != n || strings.Count(out, " ok\n") != n {
		t.Fatalf("Appended %d, output:\n%s", res.Appended, out)
	}
	if err := <-done; err != nil || seen != n {
		t.Fatalf("the second handle saw %d of %d events: %v", seen, n, err)
	}
}

// TestAppendScratchStore: appends go to the sink the run names (a scratch
// store), not to the source.
func TestAppendScratchStore(t *testing.T) {
	g := probeGuest(t)
	src, path := fixtureStore(t)
	scratch := openStore(t, filepath.Join(t.TempDir(), "scratch.db"))
	dir := filepath.Dir(path)
	before := storefiles.Take(t, dir)
	in := probeInput(t, map[string]any{"mode": "append", "session": sessA, "count": 3})
	res, _, _, err := run(t, g, sandbox.NewRunConfig().WithSource(src).WithSessions(sessA).WithWrite(scratch).WithInput(in))
	if err != nil || res.Appended != 3 {
		t.Fatalf("Run: %v, %d appended", err, res.Appended)
	}
	storefiles.Unchanged(t, dir, before)
	evs, err := scratch.EventsSince(context.Background(), sessA, 0, 0)
	if err != nil || len(evs) != 3 {
		t.Errorf("scratch store: %d events, %v", len(evs), err)
	}
	// And a denied append reaches no file either.
	in = probeInput(t, map[string]any{"mode": "append", "session": sessA, "count": 3})
	if _, _, _, err := run(t, g, sandbox.NewRunConfig().WithSource(src).WithSessions(sessA).WithInput(in)); err != nil {
		t.Fatal(err)
	}
	storefiles.Unchanged(t, dir, before)
}

type tailArgs struct {
	Store string
	N     int
}

var _ = proc.Role("tail", tailChild)

// tailChild opens the store, prints "ready", tails appendSess until it
// has seen N events and prints "seen N".
func tailChild() int {
	var a tailArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	proc.ExitWithParent(2 * time.Minute)
	s, err := host.OpenEncrypted(a.Store, host.EncryptionAtRest, testKey)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	defer s.Close()
	fmt.Println("ready")
	seen, err := tailUntil(context.Background(), s, a.N, time.Minute)
	if err != nil {
		proc.Fail("tail: %v", err)
	}
	fmt.Printf("seen %d\n", seen)
	return 0
}

// TestAppendOtherProcess: another OS process tails the file while a guest
// appends to it and sees every event.
func TestAppendOtherProcess(t *testing.T) {
	proc.Skip(t)
	g := probeGuest(t)
	path := filepath.Join(t.TempDir(), "sessions.db")
	w := openStore(t, path)
	const n = 100
	p := proc.Start(t, proc.Spec{Role: "tail", Args: tailArgs{Store: path, N: n}, Env: []string{engine.EnvCacheDir + "=" + cacheDir}})
	lines := make(chan string, 4)
	go func() {
		p.Lines(func(l string) { lines <- l })
		close(lines)
	}()
	select {
	case l := <-lines:
		if l != "ready" {
			t.Fatalf("child: %q", l)
		}
	case <-time.After(time.Minute):
		t.Fatal("child not ready")
	}
	in := probeInput(t, map[string]any{"mode": "append", "session": appendSess, "count": n})
	res, _, _, err := run(t, g, sandbox.NewRunConfig().WithSessions(appendSess).WithWrite(w).WithInput(in))
	if err != nil || res.Appended != n {
		t.Fatalf("Run: %v, %d appended", err, res.Appended)
	}
	got := <-lines
	for range lines { // to the child's exit: Wait closes its stdin
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got != "seen "+strconv.Itoa(n) {
		t.Errorf("child: %q, want %q", got, "seen "+strconv.Itoa(n))
	}
}
