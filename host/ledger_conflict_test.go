package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

// recreateStore fills a store at path with attempts of session sess
// (n of them, each costing usd dollars), after removing any store there.
func recreateStore(tb testing.TB, path, sess string, n int, usd float64) {
	tb.Helper()
	for _, suf := range append(storeFileSuffixes, ".lock") {
		if err := os.Remove(path + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
	}
	s, err := host.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	for i := range n {
		a := syncAttempt(sess, i)
		a.EstimatedUSD = usd
		mustRecord(tb, s, a)
	}
}

// TestLedgerAttemptConflict: two handles on one ledger; the second
// records, under the source and attempt ID of an entry the first
// recorded, an attempt that differs in one of the fields that identify
// it. Each fails with ErrAttemptConflict (not ErrInvalidArgument),
// naming the source and the ID but no value of either attempt, and the
// ledger keeps the first entry alone; the same attempt again is still
// idempotent through either handle.
func TestLedgerAttemptConflict(t *testing.T) {
	ctx := context.Background()
	path := tempLedgerPath(t)
	l1 := openLedger(t, path, host.NewConfig())
	l2 := openLedger(t, path, host.NewConfig())
	a := syncAttempt("sess-8d1f3a", 5)
	a.ID = 42
	id, err := l1.RecordAttempt(ctx, "store-A", a)
	if err != nil {
		t.Fatal(err)
	}
	before := ledgerRows(t, l1)
	cases := []struct {
		field string
		f     func(*abi.ProviderAttempt)
	}{
		{"session", func(a *abi.ProviderAttempt) { a.Session = "sess-77c0e2" }},
		{"provider", func(a *abi.ProviderAttempt) { a.Provider = "prov-b4e1" }},
		{"model", func(a *abi.ProviderAttempt) { a.Model = "model-c9f2" }},
		{"start time", func(a *abi.ProviderAttempt) { a.StartedAt = a.StartedAt.Add(time.Nanosecond) }},
		{"cost", func(a *abi.ProviderAttempt) { a.EstimatedUSD += 1e-9 }},
		{"token counts", func(a *abi.ProviderAttempt) { a.InputTokens++ }},
		{"token counts", func(a *abi.ProviderAttempt) { a.CacheWrite1hTokens++ }},
	}
	for _, c := range cases {
		b := a
		c.f(&b)
		got, err := l2.RecordAttempt(ctx, "store-A", b)
		if !errors.Is(err, host.ErrAttemptConflict) || errors.Is(err, host.ErrInvalidArgument) || got != 0 {
			t.Errorf("%s differs: RecordAttempt = %d, %v; want ErrAttemptConflict only", c.field, got, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"store-A"`) || !strings.Contains(msg, "attempt 42") || !strings.Contains(msg, c.field) {
			t.Errorf("%s differs: error %q does not name the source, the attempt and the field", c.field, msg)
		}
		for _, v := range []string{"sess-8d1f3a", "sess-77c0e2", "prov-b4e1", "model-c9f2"} {
			if strings.Contains(msg, v) {
				t.Errorf("%s differs: error %q holds the value %q", c.field, msg, v)
			}
		}
	}
	for _, l := range []*host.CostLedger{l1, l2} {
		if got, err := l.RecordAttempt(ctx, "store-A", a); err != nil || got != id {
			t.Errorf("the same attempt again = %d, %v; want %d", got, err, id)
		}
	}
	if after := ledgerRows(t, l2); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("conflicts changed the ledger: %+v, was %+v", after, before)
	}
	checkLedger(t, l2)
}

// TestLedgerSyncReusedSource: a store removed and created again at the
// path that names it in the ledger. Before, its attempts 1..3 were
// skipped silently (the sync started after the old store's last
// attempt); now the sync, and RecordAttempt of its first attempt, fail
// with ErrAttemptConflict and add nothing, and the store synced under a
// new name reaches the ledger in full, the old store's entries intact.
func TestLedgerSyncReusedSource(t *testing.T) {
	ctx := context.Background()
	storePath := tempStorePath(t)
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	recreateStore(t, storePath, "old", 3, 1)
	sync1 := func(source string) (int, error) {
		s, err := host.Open(storePath)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return l.SyncAttempts(ctx, source, s)
	}
	if n, err := sync1(storePath); err != nil || n != 3 {
		t.Fatalf("sync of the old store = %d, %v; want 3", n, err)
	}
	recreateStore(t, storePath, "new", 4, 10)
	s, err := host.Open(storePath)
	if err != nil {
		t.Fatal(err)
	}
	first := allAttempts(t, s)[0]
	s.Close()
	if _, err := l.RecordAttempt(ctx, storePath, first); !errors.Is(err, host.ErrAttemptConflict) {
		t.Fatalf("RecordAttempt of the new store's attempt 1 = %v, want ErrAttemptConflict", err)
	}
	for range 2 {
		n, err := sync1(storePath)
		if !errors.Is(err, host.ErrAttemptConflict) || n != 0 || !strings.Contains(err.Error(), "attempt 3") {
			t.Fatalf("sync of the new store under the old name = %d, %v; want 0, ErrAttemptConflict naming attempt 3", n, err)
		}
	}
	if n, err := sync1(storePath + "#2"); err != nil || n != 4 {
		t.Fatalf("sync of the new store under a new name = %d, %v; want 4", n, err)
	}
	totals, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if totals["old"] != 3e9 || totals["new"] != 40e9 || len(totals) != 2 {
		t.Errorf("session totals %v, want old 3e9 and new 40e9", totals)
	}
	checkLedger(t, l)
}

// ledgerSyncOnceArgs are the arguments of the ledger-sync-once child.
type ledgerSyncOnceArgs struct{ StorePath, LedgerPath, Source string }

// ledger-sync-once syncs the plaintext ledger from the plaintext store
// once and prints "added <n>", or "conflict" for ErrAttemptConflict.
var _ = proc.Role("ledger-sync-once", func() int {
	proc.ExitWithParent(time.Minute)
	var a ledgerSyncOnceArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.Open(a.StorePath)
	if err != nil {
		proc.Fail("open store: %v", err)
	}
	l, err := host.OpenCostLedger(a.LedgerPath)
	if err != nil {
		proc.Fail("open ledger: %v", err)
	}
	n, err := l.SyncAttempts(context.Background(), a.Source, s)
	switch {
	case errors.Is(err, host.ErrAttemptConflict):
		fmt.Println("conflict")
	case err != nil:
		proc.Fail("sync: %v", err)
	default:
		fmt.Printf("added %d\n", n)
	}
	if err := l.Close(); err != nil {
		proc.Fail("close ledger: %v", err)
	}
	if err := s.Close(); err != nil {
		proc.Fail("close store: %v", err)
	}
	return 0
})

// TestLedgerSyncReusedSourceProcesses is TestLedgerSyncReusedSource with
// the syncs in other OS processes: the parent synced the old store; a
// child syncing the recreated store under the same name reports the
// conflict, one syncing it under a new name adds all its attempts.
func TestLedgerSyncReusedSourceProcesses(t *testing.T) {
	proc.Skip(t)
	ctx := context.Background()
	storePath, ledgerPath := tempStorePath(t), tempLedgerPath(t)
	recreateStore(t, storePath, "old", 3, 1)
	l := openLedger(t, ledgerPath, host.NewConfig())
	s, err := host.Open(storePath)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.SyncAttempts(ctx, storePath, s); err != nil || n != 3 {
		t.Fatalf("sync of the old store = %d, %v; want 3", n, err)
	}
	s.Close()
	recreateStore(t, storePath, "new", 4, 10)
	env := childEnv(childCacheDir(t))
	for _, c := range []struct{ source, want string }{{storePath, "conflict"}, {storePath + "#2", "added 4"}} {
		p := proc.Start(t, proc.Spec{Role: "ledger-sync-once", Env: env, Args: ledgerSyncOnceArgs{
			StorePath: storePath, LedgerPath: ledgerPath, Source: c.source,
		}})
		var lines []string
		p.Lines(func(line string) { lines = append(lines, line) })
		if err := p.Wait(); err != nil {
			t.Fatalf("child: %v: %s", err, p.Stderr())
		}
		if len(lines) != 1 || lines[0] != c.want {
			t.Fatalf("child syncing as %s printed %q, want %q", c.source, lines, c.want)
		}
	}
	totals, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if totals["old"] != 3e9 || totals["new"] != 40e9 || len(totals) != 2 {
		t.Errorf("session totals %v, want old 3e9 and new 40e9", totals)
	}
	checkLedger(t, l)
}

// TestLedgerSyncLongSession: a store takes session IDs longer than
// MaxAttemptString; the ledger takes them too, through RecordAttempt
// and SyncAttempts (a sync used to stop for good at the first one).
func TestLedgerSyncLongSession(t *testing.T) {
	ctx := context.Background()
	s, storePath := openPlainStore(t)
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	long := strings.Repeat("s", 10*host.MaxAttemptString)
	for i, sess := range []string{"before", long, "after"} {
		a := syncAttempt(sess, i)
		a.RequestID = fmt.Sprint("req_", i)
		mustRecord(t, s, a)
	}
	as := allAttempts(t, s)
	if _, err := l.RecordAttempt(ctx, storePath, as[1]); err != nil {
		t.Fatalf("RecordAttempt of a long session ID: %v", err)
	}
	if n := mustSync(t, l, storePath, s); n != 2 {
		t.Fatalf("sync added %d, want 2", n)
	}
	sameAsStore(t, l, storePath, s)
	totals, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(totals) != 3 || totals[long] == 0 {
		t.Errorf("session totals %v, want the long session among three", totals)
	}
}

// TestLedgerSyncOverflow: the store takes two attempts of one session
// whose sum is beyond int64 nano-dollars; the ledger refuses the second
// with ErrCostOverflow (and ErrInvalidArgument) naming it. Every attempt
// before it is recorded and confirmed (a sync used to store none of its
// page), a sync again stops at it again, and the attempts after it can
// still be recorded by hand.
func TestLedgerSyncOverflow(t *testing.T) {
	ctx := context.Background()
	s, storePath := openPlainStore(t)
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	for i, sess := range []string{"normal", "big", "big", "after"} {
		a := syncAttempt(sess, i)
		a.StartedAt = a.StartedAt.Add(time.Duration(i) * time.Hour) // distinct hours: only the session total overflows
		a.EndedAt = a.StartedAt.Add(time.Second)
		if sess == "big" {
			a.EstimatedUSD = 5e9
		}
		mustRecord(t, s, a)
	}
	as := allAttempts(t, s)
	for try := range 2 {
		n, err := l.SyncAttempts(ctx, storePath, s)
		if !errors.Is(err, host.ErrCostOverflow) || !errors.Is(err, host.ErrInvalidArgument) || !strings.Contains(err.Error(), "attempt 3") {
			t.Fatalf("sync %d = %d, %v; want ErrCostOverflow naming attempt 3", try, n, err)
		}
		if want := []int{2, 0}[try]; n != want {
			t.Fatalf("sync %d added %d, want %d", try, n, want)
		}
		rows := ledgerRows(t, l)
		if len(rows) != 2 || !rows[0].Synced || !rows[1].Synced || rows[0].AttemptID != 1 || rows[1].AttemptID != 2 {
			t.Fatalf("sync %d: rows %+v, want attempts 1 and 2 synced", try, rows)
		}
	}
	if _, err := l.RecordAttempt(ctx, storePath, as[2]); !errors.Is(err, host.ErrCostOverflow) {
		t.Fatalf("RecordAttempt of attempt 3 = %v, want ErrCostOverflow", err)
	}
	if _, err := l.RecordAttempt(ctx, storePath, as[3]); err != nil {
		t.Fatalf("RecordAttempt of attempt 4: %v", err)
	}
	checkLedger(t, l)
}
