package host_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// syncAttempt is attempt i of session sess: costs that differ per attempt
// (some that do not convert exactly to float64 dollars) and every kind of
// token, 1-hour cache writes included.
func syncAttempt(sess string, i int) abi.ProviderAttempt {
	a := testAttempt(sess, i, int64(i)*1_000_003+7, time.Duration(i)*time.Second)
	a.Provider = []string{"anthropic", "openai", "openrouter"}[i%3]
	a.RequestID = fmt.Sprintf("req_%s_%d", sess, i)
	a.CacheWrite1hTokens = i % 11
	return a
}

// recordAttempts records n attempts of session sess in s from 8
// goroutines, so that writes group-commit. It may run in a goroutine of
// its own: it reports errors with tb.Error.
func recordAttempts(tb testing.TB, s interface {
	RecordAttempt(context.Context, abi.ProviderAttempt) (int64, error)
}, sess string, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				if _, err := s.RecordAttempt(context.Background(), syncAttempt(sess, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Error(err)
	}
}

// allAttempts returns every attempt of src, in ID order.
func allAttempts(tb testing.TB, src host.AttemptSource) []abi.ProviderAttempt {
	tb.Helper()
	as, err := src.AttemptsSince(context.Background(), 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return as
}

// ledgerRows returns every entry of l.
func ledgerRows(tb testing.TB, l *host.CostLedger) []host.LedgerRow {
	tb.Helper()
	rows, err := host.LedgerRows(l)
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

// checkEntry fails tb unless r is the entry of attempt a: the attempt's
// fields, its start as the time, its cost in nano-dollars.
func checkEntry(tb testing.TB, r host.LedgerRow, a abi.ProviderAttempt) {
	tb.Helper()
	want := host.LedgerEntry{
		ID: r.ID, Time: a.StartedAt, Session: a.Session, Provider: a.Provider, Model: a.Model,
		RequestID: a.RequestID, AttemptID: a.ID,
		InputTokens: a.InputTokens, OutputTokens: a.OutputTokens, CacheReadTokens: a.CacheReadTokens,
		CacheWriteTokens: a.CacheWriteTokens, CacheWrite1hTokens: a.CacheWrite1hTokens,
		Cost: abi.NanoUSD(math.Round(a.EstimatedUSD * 1e9)),
	}
	got := r.LedgerEntry
	if !got.Time.Equal(want.Time) {
		tb.Errorf("attempt %d: entry time %v, want its start %v", a.ID, got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if got != want {
		tb.Errorf("attempt %d: entry\n%+v, want\n%+v", a.ID, got, want)
	}
}

// sameAsStore fails tb unless the entries of source in l are exactly the
// attempts of src, one each, and the totals per provider agree with the
// store's local costs; it returns the number of entries.
func sameAsStore(tb testing.TB, l *host.CostLedger, source string, src interface {
	host.AttemptSource
	LocalCostNanosInPeriod(context.Context, string, time.Time, time.Time) (abi.NanoUSD, error)
}) int {
	tb.Helper()
	ctx := context.Background()
	as := allAttempts(tb, src)
	byAttempt := map[int64]host.LedgerRow{}
	for _, r := range ledgerRows(tb, l) {
		if r.Source != source {
			continue
		}
		if _, dup := byAttempt[r.AttemptID]; dup {
			tb.Fatalf("attempt %d of %s recorded twice", r.AttemptID, source)
		}
		byAttempt[r.AttemptID] = r
	}
	if len(byAttempt) != len(as) {
		tb.Errorf("%d entries of %s, want %d (the store's attempts)", len(byAttempt), source, len(as))
	}
	for _, a := range as {
		r, ok := byAttempt[a.ID]
		if !ok {
			tb.Errorf("attempt %d missing from the ledger", a.ID)
			continue
		}
		checkEntry(tb, r, a)
	}
	start, end := utc(2020, time.January, 1, 0, 0), utc(2030, time.January, 1, 0, 0)
	for _, p := range []string{"anthropic", "openai", "openrouter"} {
		want, err := src.LocalCostNanosInPeriod(ctx, p, start, end)
		if err != nil {
			tb.Fatal(err)
		}
		got, err := l.CostInPeriod(ctx, p, start, end)
		if err != nil {
			tb.Fatal(err)
		}
		if got != want {
			tb.Errorf("%s: ledger total %d, store total %d", p, got, want)
		}
	}
	checkLedger(tb, l)
	return len(as)
}

func mustSync(tb testing.TB, l *host.CostLedger, source string, src host.AttemptSource) int {
	tb.Helper()
	n, err := l.SyncAttempts(context.Background(), source, src)
	if err != nil {
		tb.Fatalf("SyncAttempts(%s): %v", source, err)
	}
	return n
}

// TestStoreAttemptsSince pages through a store's attempts: ID order,
// every session, limits, and the fields AttemptsForTurn reads.
func TestStoreAttemptsSince(t *testing.T) {
	ctx := context.Background()
	s, _ := openPlainStore(t)
	if as, err := s.AttemptsSince(ctx, 0, 0); err != nil || len(as) != 0 {
		t.Fatalf("empty store: %v, %v", as, err)
	}
	var ids []int64
	for i := range 25 {
		a := syncAttempt(fmt.Sprint("s", i%3), i)
		if i%4 == 0 {
			a.EstimatedUSD, a.Price = 0, &abi.AttemptPrice{Source: "harness", Input: nano(3e9), CacheWrite1h: nano(6e9)}
		}
		ids = append(ids, mustRecord(t, s, a))
	}
	all := allAttempts(t, s)
	if len(all) != len(ids) {
		t.Fatalf("%d attempts, want %d", len(all), len(ids))
	}
	for i, a := range all {
		if a.ID != ids[i] {
			t.Fatalf("attempt %d: ID %d, want %d", i, a.ID, ids[i])
		}
		turn, err := s.AttemptsForTurn(ctx, a.Session, a.Turn)
		if err != nil || len(turn) != 1 || !sameAttempt(turn[0], a) || turn[0].ID != a.ID || turn[0].Session != a.Session || turn[0].Turn != a.Turn {
			t.Errorf("attempt %d: AttemptsSince %+v, AttemptsForTurn %+v (%v)", a.ID, a, turn, err)
		}
	}
	var paged []abi.ProviderAttempt
	for after := int64(0); ; {
		p, err := s.AttemptsSince(ctx, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > 4 {
			t.Fatalf("page of %d, limit 4", len(p))
		}
		if len(p) == 0 {
			break
		}
		paged = append(paged, p...)
		after = p[len(p)-1].ID
	}
	if len(paged) != len(all) {
		t.Errorf("paged %d attempts, want %d", len(paged), len(all))
	}
	if p, err := s.AttemptsSince(ctx, ids[20], 0); err != nil || len(p) != 4 || p[0].ID != ids[21] {
		t.Errorf("AttemptsSince(%d) = %d attempts, %v", ids[20], len(p), err)
	}
	for _, c := range []struct {
		after int64
		limit int
	}{{-1, 0}, {0, -1}} {
		if _, err := s.AttemptsSince(ctx, c.after, c.limit); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("AttemptsSince(%d, %d) = %v, want ErrInvalidArgument", c.after, c.limit, err)
		}
	}
}

// TestLedgerRecordAttempt records attempts by hand: the entry is the
// attempt's (start time, exact cost, 1-hour cache writes), recording it
// again returns the same ID and changes nothing, and the same attempt ID
// from another source is another entry.
func TestLedgerRecordAttempt(t *testing.T) {
	ctx := context.Background()
	s, storePath := openPlainStore(t)
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	a := syncAttempt("sess", 7)
	a.EstimatedUSD = 0.1 + 0.2 // not 0.3 in float64: the store rounds it
	mustRecord(t, s, a)
	a = allAttempts(t, s)[0]
	id, err := l.RecordAttempt(ctx, storePath, a)
	if err != nil {
		t.Fatal(err)
	}
	before := ledgerRows(t, l)
	if len(before) != 1 || before[0].ID != id || before[0].Source != storePath || before[0].Synced {
		t.Fatalf("rows %+v, want one unsynced entry %d of %s", before, id, storePath)
	}
	checkEntry(t, before[0], a)
	if before[0].Cost != 300_000_000 {
		t.Errorf("cost %d nano-dollars, want 300000000", before[0].Cost)
	}
	// Again, also with another end, request ID or outcome, which do not
	// make it another attempt: the first entry stands.
	b := a
	b.EndedAt, b.RequestID, b.TerminatedReason = b.EndedAt.Add(time.Hour), "req_other", abi.AttemptTimeout
	for _, x := range []abi.ProviderAttempt{a, b, a} {
		if id2, err := l.RecordAttempt(ctx, storePath, x); err != nil || id2 != id {
			t.Fatalf("RecordAttempt again = %d, %v; want %d", id2, err, id)
		}
	}
	// Another cost or token counts under the same ID: another attempt.
	c := a
	c.EstimatedUSD, c.InputTokens = 99, 1
	if id2, err := l.RecordAttempt(ctx, storePath, c); !errors.Is(err, host.ErrAttemptConflict) || id2 != 0 {
		t.Fatalf("RecordAttempt of another attempt under the same ID = %d, %v; want ErrAttemptConflict", id2, err)
	}
	if after := ledgerRows(t, l); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("recording again changed the ledger: %+v, was %+v", after, before)
	}
	// Another source, the same attempt ID: another entry.
	id3, err := l.RecordAttempt(ctx, "other-store", a)
	if err != nil || id3 == id {
		t.Fatalf("RecordAttempt(other source) = %d, %v", id3, err)
	}
	// RecordEntry with an attempt ID is not an attempt entry and is not
	// deduplicated.
	e := before[0].LedgerEntry
	e.ID = 0
	mustRecordEntry(t, l, e)
	mustRecordEntry(t, l, e)
	if rows := ledgerRows(t, l); len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	totals, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if totals["sess"] != 4*300_000_000 {
		t.Errorf("session total %d, want %d", totals["sess"], 4*300_000_000)
	}
	checkLedger(t, l)
}

// TestLedgerRecordAttemptInvalid: bad sources and attempts fail with
// ErrInvalidArgument and store nothing.
func TestLedgerRecordAttemptInvalid(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	good := syncAttempt("s", 1)
	good.ID = 1
	with := func(f func(a *abi.ProviderAttempt)) abi.ProviderAttempt { a := good; f(&a); return a }
	cases := []struct {
		name   string
		source string
		a      abi.ProviderAttempt
	}{
		{"empty source", "", good},
		{"long source", strings.Repeat("x", host.MaxLedgerSource+1), good},
		{"NUL in source", "a\x00b", good},
		{"bad UTF-8 source", "a\xffb", good},
		{"zero ID", "src", with(func(a *abi.ProviderAttempt) { a.ID = 0 })},
		{"negative ID", "src", with(func(a *abi.ProviderAttempt) { a.ID = -3 })},
		{"empty session", "src", with(func(a *abi.ProviderAttempt) { a.Session = "" })},
		{"empty provider", "src", with(func(a *abi.ProviderAttempt) { a.Provider = "" })},
		{"empty model", "src", with(func(a *abi.ProviderAttempt) { a.Model = "" })},
		{"zero start", "src", with(func(a *abi.ProviderAttempt) { a.StartedAt = time.Time{} })},
		{"start out of range", "src", with(func(a *abi.ProviderAttempt) { a.StartedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"negative cost", "src", with(func(a *abi.ProviderAttempt) { a.EstimatedUSD = -1 })},
		{"NaN cost", "src", with(func(a *abi.ProviderAttempt) { a.EstimatedUSD = math.NaN() })},
		{"huge cost", "src", with(func(a *abi.ProviderAttempt) { a.EstimatedUSD = 1e10 })},
		{"negative tokens", "src", with(func(a *abi.ProviderAttempt) { a.CacheWrite1hTokens = -1 })},
	}
	for _, c := range cases {
		if _, err := l.RecordAttempt(ctx, c.source, c.a); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", c.name, err)
		}
	}
	for _, src := range []string{"", "a\x00b"} {
		if _, err := l.SyncAttempts(ctx, src, host.AttemptSource(nil)); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("SyncAttempts(%q) = %v, want ErrInvalidArgument", src, err)
		}
	}
	if _, err := l.SyncAttempts(ctx, "src", nil); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("SyncAttempts(nil source) = %v, want ErrInvalidArgument", err)
	}
	if rows := ledgerRows(t, l); len(rows) != 0 {
		t.Errorf("invalid input stored %d entries", len(rows))
	}
	if _, err := l.RecordEntry(ctx, host.LedgerEntry{Session: "s", Provider: "p", Model: "m", CacheWrite1hTokens: -1}); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("RecordEntry with negative 1-hour cache writes = %v, want ErrInvalidArgument", err)
	}
}

// sliceSource is an AttemptSource of attempts in memory, in ID order.
type sliceSource struct{ as []abi.ProviderAttempt }

func (b sliceSource) AttemptsSince(_ context.Context, after int64, limit int) ([]abi.ProviderAttempt, error) {
	var out []abi.ProviderAttempt
	for _, a := range b.as {
		if a.ID > after && (limit == 0 || len(out) < limit) {
			out = append(out, a)
		}
	}
	return out, nil
}

// TestLedgerSyncBadAttempt: an attempt the ledger cannot store stops a
// sync with ErrInvalidArgument naming it; every attempt before it is
// recorded and confirmed, in its page too, and a sync again stops at it
// again without adding anything.
func TestLedgerSyncBadAttempt(t *testing.T) {
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	var src sliceSource
	for i := 1; i <= 600; i++ {
		a := syncAttempt("s", i)
		a.ID = int64(i)
		src.as = append(src.as, a)
	}
	src.as[550].StartedAt = time.Time{} // no session store returns it
	for try := range 2 {
		n, err := l.SyncAttempts(context.Background(), "src", src)
		if !errors.Is(err, host.ErrInvalidArgument) || !strings.Contains(err.Error(), "attempt 551") {
			t.Fatalf("sync %d: SyncAttempts = %d, %v; want ErrInvalidArgument naming attempt 551", try, n, err)
		}
		if want := []int{550, 0}[try]; n != want {
			t.Fatalf("sync %d added %d, want %d", try, n, want)
		}
		rows := ledgerRows(t, l)
		if len(rows) != 550 {
			t.Fatalf("sync %d: %d rows, want 550", try, len(rows))
		}
		for i, r := range rows {
			if r.AttemptID != int64(i+1) || !r.Synced {
				t.Fatalf("sync %d: row %d: %+v, want attempt %d synced", try, i, r, i+1)
			}
		}
	}
}

// unorderedSource returns its attempts whatever ID is asked after.
type unorderedSource []abi.ProviderAttempt

func (u unorderedSource) AttemptsSince(context.Context, int64, int) ([]abi.ProviderAttempt, error) {
	return u, nil
}

// TestLedgerSyncBadSource: a source that ignores the ID asked after, or
// returns attempts out of order, fails the sync with ErrInvalidArgument
// instead of looping or marking a gap as synced.
func TestLedgerSyncBadSource(t *testing.T) {
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	var page unorderedSource
	for i := 1; i <= 512; i++ {
		a := syncAttempt("s", i)
		a.ID = int64(i)
		page = append(page, a)
	}
	done := make(chan error, 1)
	go func() { _, err := l.SyncAttempts(context.Background(), "src", page); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, host.ErrInvalidArgument) {
			t.Fatalf("sync of a repeating source = %v, want ErrInvalidArgument", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("sync of a source that repeats its page did not end")
	}
	swapped := unorderedSource{page[1], page[0]}
	l2 := openLedger(t, tempLedgerPath(t), host.NewConfig())
	if n, err := l2.SyncAttempts(context.Background(), "src", swapped); !errors.Is(err, host.ErrInvalidArgument) || n != 0 {
		t.Fatalf("sync of attempts out of order = %d, %v; want ErrInvalidArgument", n, err)
	}
	if rows := ledgerRows(t, l2); len(rows) != 0 {
		t.Errorf("a page out of order stored %d entries", len(rows))
	}
}

// TestLedgerSyncAttempts syncs a store of several pages of attempts into
// a ledger: every attempt once, exact totals; syncing again adds nothing;
// attempts recorded by hand since, out of order, and a gap below one
// recorded by hand (a harness killed between its store and ledger
// writes) are completed by the next sync.
func TestLedgerSyncAttempts(t *testing.T) {
	s, storePath := openPlainStore(t)
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	const n = 3*512 + 7
	recordAttempts(t, s, "bulk", n)
	if got := mustSync(t, l, storePath, s); got != n {
		t.Fatalf("first sync added %d, want %d", got, n)
	}
	if got := mustSync(t, l, storePath, s); got != 0 {
		t.Fatalf("second sync added %d, want 0", got)
	}
	sameAsStore(t, l, storePath, s)

	// Ten more; the harness records the 9th and the 5th by hand, in that
	// order, and dies before the others reach the ledger.
	for i := range 10 {
		mustRecord(t, s, syncAttempt("late", i))
	}
	stored := allAttempts(t, s)[n:]
	for _, i := range []int{8, 4} {
		if _, err := l.RecordAttempt(context.Background(), storePath, stored[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustSync(t, l, storePath, s); got != 8 {
		t.Fatalf("sync after manual records added %d, want 8", got)
	}
	if got := mustSync(t, l, storePath, s); got != 0 {
		t.Fatalf("sync again added %d, want 0", got)
	}
	if got := sameAsStore(t, l, storePath, s); got != n+10 {
		t.Fatalf("%d attempts, want %d", got, n+10)
	}
	for _, r := range ledgerRows(t, l) {
		if !r.Synced {
			t.Errorf("entry of attempt %d not marked synced", r.AttemptID)
		}
	}
	// A fresh ledger whose only entry is a late attempt recorded by hand:
	// the sync still adds every earlier one.
	l2 := openLedger(t, tempLedgerPath(t), host.NewConfig())
	if _, err := l2.RecordAttempt(context.Background(), storePath, stored[9]); err != nil {
		t.Fatal(err)
	}
	if got := mustSync(t, l2, storePath, s); got != n+9 {
		t.Fatalf("sync into a ledger with a late manual entry added %d, want %d", got, n+9)
	}
	sameAsStore(t, l2, storePath, s)
}

// TestLedgerSyncTwoHandles records attempts through two store handles
// while two ledger handles sync the store again and again: every attempt
// is added exactly once (the syncs' counts add up to the attempts) and
// the ledger ends equal to the store.
func TestLedgerSyncTwoHandles(t *testing.T) {
	s1, storePath := openPlainStore(t)
	s2, err := host.Open(storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	ledgerPath := tempLedgerPath(t)
	l1 := openLedger(t, ledgerPath, host.NewConfig())
	l2 := openLedger(t, ledgerPath, host.NewConfig())
	const per = 400
	var (
		writers, syncers sync.WaitGroup
		added            [2]int
		stop             = make(chan struct{})
	)
	for i, s := range []*host.Store{s1, s2} {
		writers.Add(1)
		go func() {
			defer writers.Done()
			recordAttempts(t, s, fmt.Sprint("w", i), per)
		}()
	}
	for i, l := range []*host.CostLedger{l1, l2} {
		syncers.Add(1)
		go func() {
			defer syncers.Done()
			src := []*host.Store{s1, s2}[i]
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, err := l.SyncAttempts(context.Background(), storePath, src)
				if err != nil {
					t.Error(err)
					return
				}
				added[i] += n
			}
		}()
	}
	writers.Wait()
	close(stop)
	syncers.Wait()
	last := mustSync(t, l1, storePath, s1)
	if got := added[0] + added[1] + last; got != 2*per {
		t.Errorf("syncs added %d + %d + %d = %d, want %d", added[0], added[1], last, got, 2*per)
	}
	t.Logf("syncs added %d and %d while writing, %d after", added[0], added[1], last)
	sameAsStore(t, l1, storePath, s1)
}

// TestLedgerSyncRollover syncs a monthly rollover across the change of
// month: the attempts of both months reach the ledger once, and after
// the old month is deleted the ledger still holds its money.
func TestLedgerSyncRollover(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock(utc(2026, time.January, 31, 23, 0))
	dir := t.TempDir()
	m := newRollover(t, dir, kekConfig(clock))
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	source := dir
	record := func(sess string, from, to int, started time.Time) {
		for i := from; i < to; i++ {
			a := syncAttempt(sess, i)
			a.StartedAt, a.EndedAt = started.Add(time.Duration(i)*time.Second), started.Add(time.Duration(i+1)*time.Second)
			if _, err := m.RecordAttempt(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	record("jan", 0, 300, clock.now())
	if got := mustSync(t, l, source, m); got != 300 {
		t.Fatalf("January sync added %d, want 300", got)
	}
	record("jan", 300, 320, clock.now())
	clock.set(utc(2026, time.February, 1, 0, 5))
	record("feb", 0, 700, clock.now())
	if got := len(mustList(t, m)); got != 2 {
		t.Fatalf("%d month files, want 2", got)
	}
	as := allAttempts(t, m)
	if len(as) != 1020 {
		t.Fatalf("rollover has %d attempts, want 1020", len(as))
	}
	for i := 1; i < len(as); i++ {
		if as[i].ID <= as[i-1].ID {
			t.Fatalf("attempt IDs not increasing across months: %d after %d", as[i].ID, as[i-1].ID)
		}
	}
	if p, err := m.AttemptsSince(ctx, as[310].ID, 5); err != nil || len(p) != 5 || p[0].ID != as[311].ID || p[4].ID != as[315].ID {
		t.Fatalf("AttemptsSince across months: %v, %v", p, err)
	}
	if _, err := m.AttemptsSince(ctx, -1, 0); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("AttemptsSince(-1) = %v, want ErrInvalidArgument", err)
	}
	if got := mustSync(t, l, source, m); got != 720 {
		t.Fatalf("sync across the month change added %d, want 720", got)
	}
	if got := mustSync(t, l, source, m); got != 0 {
		t.Fatalf("second sync added %d, want 0", got)
	}
	sameAsStore(t, l, source, m)
	// A fresh ledger takes both months at once.
	l2 := openLedger(t, tempLedgerPath(t), host.NewConfig())
	if got := mustSync(t, l2, source, m); got != 1020 {
		t.Fatalf("fresh sync added %d, want 1020", got)
	}
	sameAsStore(t, l2, source, m)

	// Drop January: the ledger keeps its cost.
	before, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	clock.set(utc(2026, time.March, 2, 0, 0))
	if _, err := m.DropMonthsBefore(ctx, utc(2026, time.February, 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if got := len(allAttempts(t, m)); got != 700 {
		t.Fatalf("after the drop the rollover has %d attempts, want 700", got)
	}
	if got := mustSync(t, l, source, m); got != 0 {
		t.Fatalf("sync after the drop added %d, want 0", got)
	}
	after, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	equalTotals(t, "totals after dropping January", after, before)
	if before["jan"] == 0 || before["feb"] == 0 {
		t.Errorf("totals %v, want both months", before)
	}
}

// TestLedgerUpgradeV1 opens a ledger of schema version 1: it migrates to
// LedgerSchemaVersion with its entries and totals unchanged (0 1-hour
// cache writes), and then takes attempts and their 1-hour cache writes.
func TestLedgerUpgradeV1(t *testing.T) {
	ctx := context.Background()
	path := tempLedgerPath(t)
	old := []host.LedgerEntry{
		{Time: ledgerBase, Session: "s1", Provider: "anthropic", Model: "m", RequestID: "r1", AttemptID: 4, InputTokens: 10, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4, Cost: 1_234_567},
		{Time: ledgerBase.Add(2 * time.Hour), Session: "s2", Provider: "openai", Model: "m", Cost: 99},
		{Time: ledgerBase.Add(-time.Minute), Session: "s1", Provider: "anthropic", Model: "m2", Cost: 1},
	}
	if err := host.WriteOldLedger(path, old); err != nil {
		t.Fatal(err)
	}
	if err := host.WriteOldLedger(tempLedgerPath(t), []host.LedgerEntry{{Time: ledgerBase, Session: "s", Provider: "p", Model: "m", CacheWrite1hTokens: 1}}); err == nil {
		t.Fatal("WriteOldLedger stored 1-hour cache writes in schema 1")
	}
	l := openLedger(t, path, host.NewConfig())
	if v, err := host.LedgerVersion(l); err != nil || v != 2 || host.LedgerSchemaVersion != 2 {
		t.Fatalf("version %d (%v), want 2 (LedgerSchemaVersion %d)", v, err, host.LedgerSchemaVersion)
	}
	rows := ledgerRows(t, l)
	if len(rows) != len(old) {
		t.Fatalf("%d entries after the upgrade, want %d", len(rows), len(old))
	}
	for i, r := range rows {
		want := old[i]
		want.ID = r.ID
		if !r.Time.Equal(want.Time) || r.Source != "" || r.Synced {
			t.Errorf("entry %d: %+v", i, r)
		}
		r.Time, want.Time = time.Time{}, time.Time{}
		if r.LedgerEntry != want {
			t.Errorf("entry %d: %+v, want %+v", i, r.LedgerEntry, want)
		}
	}
	want := &ledgerTotals{entries: old}
	got, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	equalTotals(t, "by session", got, want.by(time.Time{}, bySession))
	checkLedger(t, l)

	// Schema 2: 1-hour cache writes and attempts.
	id := mustRecordEntry(t, l, host.LedgerEntry{Time: ledgerBase, Session: "s3", Provider: "anthropic", Model: "m", CacheWrite1hTokens: 77, Cost: 5})
	a := syncAttempt("s4", 3)
	a.ID = 4 // the same attempt ID as an old entry, which has no source
	aid, err := l.RecordAttempt(ctx, "store", a)
	if err != nil {
		t.Fatal(err)
	}
	rows = ledgerRows(t, l)
	if len(rows) != 5 || rows[3].ID != id || rows[3].CacheWrite1hTokens != 77 || rows[4].ID != aid {
		t.Fatalf("rows after the upgrade: %+v", rows)
	}
	checkEntry(t, rows[4], a)
	checkLedger(t, l)
	l.Close()
	// Reopening finds version 2 and migrates nothing.
	l = openLedger(t, path, host.NewConfig())
	if n := len(ledgerRows(t, l)); n != 5 {
		t.Fatalf("%d rows after reopening, want 5", n)
	}
}
