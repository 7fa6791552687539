package host_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// ledgerChildArgs are the arguments of the ledger-record child.
type ledgerChildArgs struct {
	Path    string
	KEK     []byte // the ledger's KEK
	Prefix  string // session names: Prefix + "-" + goroutine
	Writers int    // recording goroutines
	N       int    // entries per goroutine; 0: until killed
}

// ledgerCost is the cost of entry i of a goroutine: distinct per entry,
// so a total tells which entries are stored.
func ledgerCost(i int) abi.NanoUSD { return abi.NanoUSD(i + 1) }

// ledger-record opens the encrypted ledger and records from Writers
// goroutines, each its own session, entry i costing ledgerCost(i); after
// each acknowledged entry it prints "ack <goroutine> <i> <id>". With N
// entries each it closes the ledger and prints "done".
var _ = proc.Role("ledger-record", func() int {
	proc.ExitWithParent(5 * time.Minute)
	var a ledgerChildArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	l, err := host.OpenCostLedgerWithConfig(a.Path, host.NewConfig().WithKEKSource(keyring.RawKEK(a.KEK)))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	var (
		wg  sync.WaitGroup
		out sync.Mutex
	)
	for g := range a.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; a.N == 0 || i < a.N; i++ {
				id, err := l.RecordEntry(context.Background(), host.LedgerEntry{
					Session: fmt.Sprintf("%s-%d", a.Prefix, g), Provider: fmt.Sprint("p", g%2), Model: "m",
					InputTokens: i, Cost: ledgerCost(i),
				})
				if err != nil {
					proc.Fail("record %d/%d: %v", g, i, err)
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d %d\n", g, i, id)
				out.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	fmt.Println("done")
	return 0
})

// ledgerAck is one acknowledged entry of a ledger-record child.
type ledgerAck struct {
	g, i int
	id   int64
}

// parseLedgerAck parses an "ack" line; ok is false for other lines.
func parseLedgerAck(line string) (a ledgerAck, ok bool, err error) {
	rest, ok := strings.CutPrefix(line, "ack ")
	if !ok {
		return a, false, nil
	}
	f := strings.Fields(rest)
	if len(f) != 3 {
		return a, true, fmt.Errorf("bad ack line %q", line)
	}
	if a.g, err = strconv.Atoi(f[0]); err == nil {
		if a.i, err = strconv.Atoi(f[1]); err == nil {
			a.id, err = strconv.ParseInt(f[2], 10, 64)
		}
	}
	return a, true, err
}

// triangle is the total of a goroutine's first n entries.
func triangle(n int) abi.NanoUSD { return abi.NanoUSD(n * (n + 1) / 2) }

// TestLedgerTwoProcesses has two processes create one new encrypted
// ledger and record into it at once, four goroutines each: both open it,
// every entry is stored, IDs are unique, and the totals are exact.
func TestLedgerTwoProcesses(t *testing.T) {
	proc.Skip(t)
	path := tempLedgerPath(t)
	kek := encKEK
	// A ledger elsewhere sets up the engine here, so that the children
	// share its cache; the children create this one at the same moment.
	openLedger(t, tempLedgerPath(t), host.NewConfig()).Close()
	const writers, n = 4, 150
	env := childEnv(childCacheDir(t))
	var (
		mu  sync.Mutex
		ids = map[int64]bool{}
		wg  sync.WaitGroup
	)
	var procs []*proc.Proc
	for c := range 2 {
		p := proc.Start(t, proc.Spec{Role: "ledger-record", Env: env,
			Args: ledgerChildArgs{Path: path, KEK: kek, Prefix: fmt.Sprint("c", c), Writers: writers, N: n}})
		procs = append(procs, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Lines(func(line string) {
				a, ok, err := parseLedgerAck(line)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Error(err)
				case ok && ids[a.id]:
					t.Errorf("ID %d acknowledged twice", a.id)
				case ok:
					ids[a.id] = true
				}
			})
		}()
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	if len(ids) != 2*writers*n {
		t.Fatalf("%d entries acknowledged, want %d", len(ids), 2*writers*n)
	}
	l := openLedger(t, path, host.NewConfig().WithKEKSource(keyring.RawKEK(kek)))
	got, err := l.CostBySessionNanos(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for c := range 2 {
		for g := range writers {
			sess := fmt.Sprintf("c%d-%d", c, g)
			if got[sess] != triangle(n) {
				t.Errorf("%s: %d, want %d", sess, got[sess], triangle(n))
			}
		}
	}
	byP, err := l.CostByProviderNanos(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := triangle(n) * 2 * writers / 2; byP["p0"] != want || byP["p1"] != want {
		t.Errorf("by provider: %v, want %d each", byP, want)
	}
	checkLedger(t, l)
}

// TestLedgerCrash kills a process that records into an encrypted ledger
// from four goroutines with SIGKILL at random moments and checks after
// each kill that every acknowledged entry is stored, that each goroutine's
// entries are a prefix of what it recorded (at most the one in flight
// beyond the acknowledged ones), and that the hourly totals agree with
// the entries.
func TestLedgerCrash(t *testing.T) {
	proc.Skip(t)
	path := tempLedgerPath(t)
	kek := encKEK
	l := openLedger(t, path, host.NewConfig().WithKEKSource(keyring.RawKEK(kek)))
	l.Close()
	env := childEnv(childCacheDir(t))
	const writers = 4
	total := 0
	rounds := proc.Loop(t, 20, 4, func(rng *rand.Rand, round int) {
		prefix := fmt.Sprint("r", round)
		p := proc.Start(t, proc.Spec{Role: "ledger-record", Env: env,
			Args: ledgerChildArgs{Path: path, KEK: kek, Prefix: prefix, Writers: writers}})
		var (
			mu    sync.Mutex
			last  = map[int]int{} // goroutine -> last acknowledged i
			first = make(chan struct{})
			done  = make(chan struct{})
			once  sync.Once
		)
		go func() {
			defer close(done)
			p.Lines(func(line string) {
				a, ok, err := parseLedgerAck(line)
				if err != nil {
					t.Error(err)
				}
				if !ok || err != nil {
					return
				}
				mu.Lock()
				last[a.g] = max(last[a.g], a.i+1)
				mu.Unlock()
				once.Do(func() { close(first) })
			})
		}()
		if round%5 == 4 {
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond) // while it opens
		} else {
			select {
			case <-first:
				time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond)
			case <-done:
			case <-time.After(time.Minute):
				t.Fatalf("round %d: nothing acknowledged in a minute", round)
			}
		}
		select {
		case <-done:
			t.Fatalf("round %d: child exited before the kill: %s", round, p.Stderr())
		default:
		}
		p.Kill()
		<-done
		p.Wait()

		l, err := host.OpenCostLedgerWithConfig(path, host.NewConfig().WithKEKSource(keyring.RawKEK(kek)))
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		defer l.Close()
		got, err := l.CostBySessionNanos(context.Background(), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for g := range writers {
			acked := last[g]
			total += acked
			sess := fmt.Sprintf("%s-%d", prefix, g)
			if v := got[sess]; v != triangle(acked) && v != triangle(acked+1) {
				t.Errorf("round %d: %s: total %d, want %d (%d acknowledged entries) or %d (one more in flight)",
					round, sess, v, triangle(acked), acked, triangle(acked+1))
			}
		}
		checkLedger(t, l)
	})
	if total == 0 {
		t.Fatal("no entry was acknowledged in any round: the test proved nothing")
	}
	t.Logf("%d acknowledged entries survived %d kills", total, rounds)
}
