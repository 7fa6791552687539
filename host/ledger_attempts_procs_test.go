package host_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// ledgerSyncArgs are the arguments of the ledger-sync child.
type ledgerSyncArgs struct {
	StorePath  string
	LedgerPath string
	KEK        []byte // the ledger's KEK
	Source     string
	Session    string
	N          int    // attempts to record; 0: until killed
	Manual     bool   // also record about half the attempts in the ledger by hand
	Seed       uint64 // of the choices
}

// ledger-sync records attempts in the plaintext store, one at a time;
// after each it prints "attempt <id>", with Manual records about half of
// them in the encrypted ledger by hand, and every few attempts syncs the
// ledger from the store and prints "added <n>". With N attempts it syncs
// once more at the end, prints "added <n>" and "done".
var _ = proc.Role("ledger-sync", func() int {
	proc.ExitWithParent(5 * time.Minute)
	var a ledgerSyncArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	ctx := context.Background()
	s, err := host.Open(a.StorePath)
	if err != nil {
		proc.Fail("open store: %v", err)
	}
	l, err := host.OpenCostLedgerWithConfig(a.LedgerPath, host.NewConfig().WithKEKSource(keyring.RawKEK(a.KEK)))
	if err != nil {
		proc.Fail("open ledger: %v", err)
	}
	rng := rand.New(rand.NewPCG(a.Seed, 1))
	syncNow := func() {
		n, err := l.SyncAttempts(ctx, a.Source, s)
		if err != nil {
			proc.Fail("sync: %v", err)
		}
		fmt.Printf("added %d\n", n)
	}
	for i := 0; a.N == 0 || i < a.N; i++ {
		at := syncAttempt(a.Session, i)
		id, err := s.RecordAttempt(ctx, at)
		if err != nil {
			proc.Fail("record attempt %d: %v", i, err)
		}
		fmt.Printf("attempt %d\n", id)
		if a.Manual && rng.IntN(2) == 0 {
			at.ID = id
			if _, err := l.RecordAttempt(ctx, a.Source, at); err != nil {
				proc.Fail("record attempt %d in the ledger: %v", id, err)
			}
		}
		if rng.IntN(5) == 0 {
			syncNow()
		}
	}
	syncNow()
	if err := l.Close(); err != nil {
		proc.Fail("close ledger: %v", err)
	}
	if err := s.Close(); err != nil {
		proc.Fail("close store: %v", err)
	}
	fmt.Println("done")
	return 0
})

// parseAdded returns the count of an "added" line.
func parseAdded(line string) (n int, ok bool, err error) {
	rest, ok := strings.CutPrefix(line, "added ")
	if !ok {
		return 0, false, nil
	}
	n, err = strconv.Atoi(rest)
	return n, true, err
}

// TestLedgerSyncTwoProcesses has two processes record attempts into one
// store and sync it into one ledger at once, after the parent filled the
// store with more than a page: the children's syncs and a last one in
// the parent add every attempt exactly once between them, and the
// ledger equals the store.
func TestLedgerSyncTwoProcesses(t *testing.T) {
	proc.Skip(t)
	s, storePath := openPlainStore(t)
	ledgerPath := tempLedgerPath(t)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(encKEK))
	openLedger(t, ledgerPath, cfg).Close()
	const pre, per = 600, 300
	recordAttempts(t, s, "pre", pre)
	env := childEnv(childCacheDir(t))
	seed := proc.Seed(t)
	var (
		mu    sync.Mutex
		added int
		wg    sync.WaitGroup
		procs []*proc.Proc
	)
	for c := range 2 {
		p := proc.Start(t, proc.Spec{Role: "ledger-sync", Env: env, Args: ledgerSyncArgs{
			StorePath: storePath, LedgerPath: ledgerPath, KEK: encKEK, Source: storePath,
			Session: fmt.Sprint("c", c), N: per, Seed: seed + uint64(c),
		}})
		procs = append(procs, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Lines(func(line string) {
				n, ok, err := parseAdded(line)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
				}
				if ok {
					added += n
				}
			})
		}()
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("child: %v: %s", err, p.Stderr())
		}
	}
	l := openLedger(t, ledgerPath, cfg)
	last := mustSync(t, l, storePath, s)
	if last != 0 {
		t.Errorf("the parent's sync added %d: each child's last sync came after its last attempt", last)
	}
	if got := added + last; got != pre+2*per {
		t.Errorf("syncs added %d, want %d", got, pre+2*per)
	}
	if got := sameAsStore(t, l, storePath, s); got != pre+2*per {
		t.Errorf("%d attempts, want %d", got, pre+2*per)
	}
}

// TestLedgerSyncCrash kills, with SIGKILL at random moments, a process
// that records attempts in a store, records about half of them in the
// ledger by hand and syncs now and then; after each kill a sync in the
// parent makes the ledger exactly the store's attempts: none missing,
// none twice, totals equal, hourly totals consistent.
func TestLedgerSyncCrash(t *testing.T) {
	proc.Skip(t)
	storePath := tempStorePath(t)
	s, err := host.Open(storePath)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ledgerPath := tempLedgerPath(t)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(encKEK))
	openLedger(t, ledgerPath, cfg).Close()
	env := childEnv(childCacheDir(t))
	acked, total := 0, 0
	rounds := proc.Loop(t, 20, 4, func(rng *rand.Rand, round int) {
		p := proc.Start(t, proc.Spec{Role: "ledger-sync", Env: env, Args: ledgerSyncArgs{
			StorePath: storePath, LedgerPath: ledgerPath, KEK: encKEK, Source: "sessions",
			Session: fmt.Sprint("r", round), Manual: true, Seed: rng.Uint64(),
		}})
		var (
			n     int
			first = make(chan struct{})
			done  = make(chan struct{})
			once  sync.Once
		)
		go func() {
			defer close(done)
			p.Lines(func(line string) {
				if strings.HasPrefix(line, "attempt ") {
					n++
					once.Do(func() { close(first) })
				}
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
				t.Fatalf("round %d: no attempt recorded in a minute", round)
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
		acked += n

		s, err := host.Open(storePath)
		if err != nil {
			t.Fatalf("round %d: reopen store: %v", round, err)
		}
		defer s.Close()
		l, err := host.OpenCostLedgerWithConfig(ledgerPath, cfg)
		if err != nil {
			t.Fatalf("round %d: reopen ledger: %v", round, err)
		}
		defer l.Close()
		mustSync(t, l, "sessions", s)
		total = sameAsStore(t, l, "sessions", s)
		if total < acked {
			t.Fatalf("round %d: the store has %d attempts, %d were acknowledged", round, total, acked)
		}
	})
	if acked == 0 {
		t.Fatal("no attempt was acknowledged in any round: the test proved nothing")
	}
	t.Logf("%d attempts (%d acknowledged) reached the ledger exactly once through %d kills", total, acked, rounds)
}
