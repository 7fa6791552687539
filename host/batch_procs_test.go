package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// sharedBatch is batch i of a set that several writers offer at once:
// session "set-<prefix>-<i>", keyed "<prefix>/<i>", its records those of
// testBatch (turn i) with a payload of pad bytes more.
func sharedBatch(prefix string, i, pad int) abi.Batch {
	sess := abi.SessionID(fmt.Sprintf("set-%s-%d", prefix, i))
	b := testBatch(fmt.Sprintf("%s/%d", prefix, i), sess, i)
	b.Pins = nil
	if pad > 0 {
		b.Events[1].Payload = json.RawMessage(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, incompressible(uint64(i)+1, pad)))
	}
	return b
}

// writeShared offers batches 0..n-1 of the set prefix to s in calls of
// per batches, in an order shuffled by rng, and returns how many it wrote.
func writeShared(ctx context.Context, s interface {
	WriteBatches(context.Context, ...abi.Batch) (int, error)
}, prefix string, n, per, pad int, rng *rand.Rand) (int, error) {
	order := rng.Perm(n)
	written := 0
	for len(order) > 0 {
		k := min(per, len(order))
		call := make([]abi.Batch, k)
		for j, i := range order[:k] {
			call[j] = sharedBatch(prefix, i, pad)
		}
		order = order[k:]
		w, err := s.WriteBatches(ctx, call...)
		if err != nil {
			return written, err
		}
		written += w
	}
	return written, nil
}

// checkShared fails t unless the store holds batch i of the set, whole,
// exactly once for each i in 0..n-1 with want(i), and nothing of it for
// the others.
func checkShared(t *testing.T, s *host.Store, prefix string, n int, want func(i int) bool, what string) {
	t.Helper()
	for i := range n {
		sess := abi.SessionID(fmt.Sprintf("set-%s-%d", prefix, i))
		got := countTurns(t, s, sess, i, i+1)
		whole := batchCounts{2, 1, 1, 1}
		switch {
		case want(i) && got != whole:
			t.Fatalf("%s: batch %d: store holds %+v, want it once, whole", what, i, got)
		case !want(i) && got != (batchCounts{}):
			t.Fatalf("%s: batch %d: store holds %+v, want none", what, i, got)
		}
	}
}

// TestWriteBatchesTwoHandles: eight writers on two Stores of one file
// offer the same keyed batches at once, each in its own order: every batch
// is written once, and the writers' counts add up to the number of
// batches.
func TestWriteBatchesTwoHandles(t *testing.T) {
	path := tempStorePath(t)
	var handles []*host.Store
	for range 2 {
		s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		handles = append(handles, s)
	}
	const writers, n, per = 8, 120, 7
	seed := proc.Seed(t)
	var total atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			k, err := writeShared(context.Background(), handles[w%2], "h", n, per, 0, rng)
			if err != nil {
				t.Errorf("writer %d: %v", w, err)
			}
			total.Add(int64(k))
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if total.Load() != n {
		t.Fatalf("writers wrote %d batches in all, want %d", total.Load(), n)
	}
	checkShared(t, handles[1], "h", n, func(int) bool { return true }, "two handles")
}

// batchWriterArgs are the arguments of the batch-writer child.
type batchWriterArgs struct {
	Path   string
	Prefix string
	N, Per int
	Pad    int
	Seed   uint64
	Stream uint64
	Loop   bool // write the set again and again until killed
}

var _ = proc.Role("batch-writer", batchWriterChild)

// batchWriterChild offers a shared set of batches (writeShared) to the
// encrypted store at Path, printing "ack FIRST..." lines: after each call
// that returned, "ack" and the indexes of its batches; at the end
// "written N". With Loop it starts over until killed.
func batchWriterChild() int {
	proc.ExitWithParent(5 * time.Minute)
	var a batchWriterArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenEncrypted(a.Path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	rng := rand.New(rand.NewPCG(a.Seed, a.Stream))
	ctx := context.Background()
	for {
		order := rng.Perm(a.N)
		written := 0
		for len(order) > 0 {
			k := min(a.Per, len(order))
			call := make([]abi.Batch, k)
			var line strings.Builder
			line.WriteString("ack")
			for j, i := range order[:k] {
				call[j] = sharedBatch(a.Prefix, i, a.Pad)
				fmt.Fprintf(&line, " %d", i)
			}
			order = order[k:]
			w, err := s.WriteBatches(ctx, call...)
			if err != nil {
				proc.Fail("write batches: %v", err)
			}
			written += w
			line.WriteString("\n")
			os.Stdout.WriteString(line.String()) // one write: whole or absent
		}
		os.Stdout.WriteString(fmt.Sprintf("written %d\n", written))
		if !a.Loop {
			break
		}
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
}

// childOutput is what a batch-writer child printed.
type childOutput struct {
	acked   map[int]bool
	written []int
}

func readChild(p *proc.Proc, out *childOutput, mu *sync.Mutex) {
	p.Lines(func(line string) {
		mu.Lock()
		defer mu.Unlock()
		if rest, ok := strings.CutPrefix(line, "ack"); ok {
			for _, f := range strings.Fields(rest) {
				i, err := strconv.Atoi(f)
				if err != nil {
					continue
				}
				out.acked[i] = true
			}
		} else if rest, ok := strings.CutPrefix(line, "written "); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				out.written = append(out.written, n)
			}
		}
	})
}

// TestWriteBatchesProcesses: two child processes and this one offer the
// same keyed batches to one encrypted store at once: every batch is
// written exactly once, and the three counts add up.
func TestWriteBatchesProcesses(t *testing.T) {
	proc.Skip(t)
	path, cacheDir := tempStorePath(t), childCacheDir(t)
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := proc.Rounds(t, 600, 200)
	const per = 9
	seed := proc.Seed(t)
	outs := make([]childOutput, 2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var procs []*proc.Proc
	for c := range 2 {
		outs[c].acked = map[int]bool{}
		p := proc.Start(t, proc.Spec{Role: "batch-writer", Env: childEnv(cacheDir),
			Args: batchWriterArgs{Path: path, Prefix: "p", N: n, Per: per, Seed: seed, Stream: uint64(c + 1)}})
		procs = append(procs, p)
		wg.Go(func() { readChild(p, &outs[c], &mu) })
	}
	mine, err := writeShared(context.Background(), s, "p", n, per, 0, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	total := mine
	for c, o := range outs {
		if len(o.written) != 1 {
			t.Fatalf("child %d reported %d totals, want 1", c+1, len(o.written))
		}
		total += o.written[0]
	}
	if total != n {
		t.Fatalf("processes wrote %d batches (this one %d), want %d", total, mine, n)
	}
	if mine == n || mine == 0 {
		t.Logf("this process wrote %d of %d batches: the writers barely overlapped", mine, n)
	}
	checkShared(t, s, "p", n, func(int) bool { return true }, "three processes")
}

// TestWriteBatchesCrash kills a process in the middle of large
// WriteBatches calls with SIGKILL, at random moments: after each kill,
// every batch of the set is in the store whole or not at all, every call
// the child saw return is there, and the store passes integrity_check;
// then a child run to its end completes the set, writing exactly the
// batches that were missing.
func TestWriteBatchesCrash(t *testing.T) {
	proc.Skip(t)
	path := tempStorePath(t)
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cacheDir := childCacheDir(t)
	const n, per, pad = 240, 40, 6000
	killed, partial := 0, 0
	rounds := proc.Loop(t, 8, 3, func(rng *rand.Rand, round int) {
		prefix := fmt.Sprint("c", round)
		var out childOutput
		out.acked = map[int]bool{}
		var mu sync.Mutex
		p := proc.Start(t, proc.Spec{Role: "batch-writer", Env: childEnv(cacheDir),
			Args: batchWriterArgs{Path: path, Prefix: prefix, N: n, Per: per, Pad: pad, Seed: rng.Uint64(), Loop: false}})
		done := make(chan struct{})
		go func() { readChild(p, &out, &mu); close(done) }()
		// Most rounds kill while calls are committing, after the first
		// acknowledgement; some at a random moment from the start, while
		// the child opens (and recovers) the store.
		wait := time.Duration(rng.IntN(150)) * time.Millisecond
		if round%5 == 4 {
			wait = time.Duration(rng.IntN(400)) * time.Millisecond
		} else {
			for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Millisecond) {
				mu.Lock()
				acked := len(out.acked)
				mu.Unlock()
				if acked > 0 || time.Now().After(deadline) {
					break
				}
				select {
				case <-done:
				default:
					continue
				}
				break
			}
		}
		select {
		case <-time.After(wait):
		case <-done:
		}
		p.Kill()
		<-done
		p.Wait()
		if !p.ExitedByItself() {
			killed++
		}

		s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		present := map[int]bool{}
		for i := range n {
			got := countTurns(t, s, abi.SessionID(fmt.Sprintf("set-%s-%d", prefix, i)), i, i+1)
			switch got {
			case batchCounts{2, 1, 1, 1}:
				present[i] = true
			case batchCounts{}:
				if out.acked[i] {
					t.Fatalf("round %d: acknowledged batch %d lost", round, i)
				}
			default:
				t.Fatalf("round %d: batch %d is partly written: %+v", round, i, got)
			}
		}
		// Re-run: the set completes, writing exactly the missing batches.
		k, err := writeShared(context.Background(), s, prefix, n, per, pad, rng)
		if err != nil {
			t.Fatalf("round %d: re-run: %v", round, err)
		}
		if k != n-len(present) {
			t.Fatalf("round %d: re-run wrote %d batches, want the %d missing", round, k, n-len(present))
		}
		checkShared(t, s, prefix, n, func(int) bool { return true }, fmt.Sprintf("round %d after the re-run", round))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkIntegrity(t, path, storeTestKey)
		if len(present) > 0 && len(present) < n {
			partial++
		}
		t.Logf("round %d: %d of %d batches survived the kill (%d acknowledged)", round, len(present), n, len(out.acked))
	})
	if killed == 0 || partial == 0 {
		t.Fatalf("of %d rounds, %d killed a child before it finished, %d with part of the set written: the test proved nothing", rounds, killed, partial)
	}
	t.Logf("%d rounds, %d kills before the end, %d with part of the set written", rounds, killed, partial)
}

// TestWriteBatchesKeysNotInFiles writes batches whose keys hold a marker
// to an encrypted store: no file of the store holds the marker in any
// form. The same writes to a plaintext store show it, so the scan can
// find keys.
func TestWriteBatchesKeysNotInFiles(t *testing.T) {
	for _, enc := range []bool{true, false} {
		t.Run(fmt.Sprint("encrypted=", enc), func(t *testing.T) {
			marker := storefiles.NewMarker()
			dir := t.TempDir()
			path := filepath.Join(dir, "sessions.db")
			var s *host.Store
			var err error
			if enc {
				s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
			} else {
				s, err = host.Open(path)
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var batches []abi.Batch
			for i := range 20 {
				// Keys only: the records hold no marker.
				batches = append(batches, testBatch(fmt.Sprintf("%s/%d", marker, i), "m", i))
			}
			if n, err := s.WriteBatches(ctx, batches...); err != nil || n != len(batches) {
				t.Fatalf("WriteBatches = %d, %v", n, err)
			}
			// Scanned while open (WAL) and after a close (checkpointed).
			hits, scanned := storefiles.Scan(t, marker, dir)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			h2, _ := storefiles.Scan(t, marker, dir)
			hits = append(hits, h2...)
			switch {
			case len(scanned) == 0:
				t.Fatal("no file scanned")
			case enc && len(hits) > 0:
				t.Fatalf("marker of the batch keys found in the encrypted store's files: %v", hits)
			case !enc && len(hits) == 0:
				t.Fatalf("marker of the batch keys not found in a plaintext store's files (%v): the scan cannot see keys", scanned)
			}
		})
	}
}
