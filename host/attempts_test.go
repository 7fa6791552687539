package host_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/pricing"
)

var attemptT0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// testAttempt is a valid attempt of session sess, turn turn, costing nusd
// nano-dollars, started at attemptT0 plus off.
func testAttempt(sess string, turn int, nusd int64, off time.Duration) abi.ProviderAttempt {
	return abi.ProviderAttempt{
		Session: sess, Turn: turn, Provider: "anthropic", Model: "claude-x", RequestID: "req_1",
		StartedAt: attemptT0.Add(off), EndedAt: attemptT0.Add(off + time.Second),
		TerminatedReason: abi.AttemptComplete,
		InputTokens:      1000, OutputTokens: 200, CacheReadTokens: 30, CacheWriteTokens: 4, CacheWrite1hTokens: 5,
		EstimatedUSD: float64(nusd) / 1e9,
	}
}

func nano(v int64) *abi.NanoUSD { n := abi.NanoUSD(v); return &n }

func mustRecord(tb testing.TB, s *host.Store, a abi.ProviderAttempt) int64 {
	tb.Helper()
	id, err := s.RecordAttempt(context.Background(), a)
	if err != nil {
		tb.Fatalf("RecordAttempt(%s/%d): %v", a.Session, a.Turn, err)
	}
	return id
}

func sameAttempt(a, b abi.ProviderAttempt) bool {
	pa, pb := a.Price, b.Price
	a.Price, b.Price = nil, nil
	sa, sb := a.StartedAt, b.StartedAt
	ea, eb := a.EndedAt, b.EndedAt
	a.StartedAt, b.StartedAt, a.EndedAt, b.EndedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if a != b || !sa.Equal(sb) || !ea.Equal(eb) || (pa == nil) != (pb == nil) {
		return false
	}
	if pa == nil {
		return true
	}
	eq := func(x, y *abi.NanoUSD) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return pa.Source == pb.Source && eq(pa.Input, pb.Input) && eq(pa.Output, pb.Output) &&
		eq(pa.CacheRead, pb.CacheRead) && eq(pa.CacheWrite, pb.CacheWrite) && eq(pa.CacheWrite1h, pb.CacheWrite1h)
}

// TestAttemptsRoundTrip records attempts, with and without price
// snapshots, and reads them back per turn, retries included.
func TestAttemptsRoundTrip(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "encrypted"}[enc], func(t *testing.T) {
			open := openPlainStore
			if enc {
				open = openEncStore
			}
			s, _ := open(t)
			ctx := context.Background()
			if err := s.EnsureAttemptsSchema(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.EnsureAttemptsSchema(ctx); err != nil {
				t.Fatalf("second call: %v", err)
			}
			first := testAttempt("s1", 1, 1_500_000, 0)
			first.TerminatedReason = abi.AttemptHTTPError
			first.RequestID = ""
			retry := testAttempt("s1", 1, 2_250_001, 2*time.Second)
			retry.Price = &abi.AttemptPrice{Source: "genai-prices 2026-07-24", Input: nano(3_000_000_000), Output: nano(15_000_000_000), CacheRead: nano(300_000_000),
				CacheWrite1h: nano(6_000_000_000)}
			retry.CacheWrite1hTokens = 1 << 40 // beyond int32
			other := testAttempt("s1", 2, 7, 5*time.Second)
			other.Price = &abi.AttemptPrice{Source: "custom"} // every price unknown
			var last int64
			for i, a := range []*abi.ProviderAttempt{&first, &retry, &other} {
				a.ID = 999 // ignored
				id := mustRecord(t, s, *a)
				if id <= last {
					t.Fatalf("attempt %d: ID %d after %d", i, id, last)
				}
				last, a.ID = id, id
			}
			got, err := s.AttemptsForTurn(ctx, "s1", 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || !sameAttempt(got[0], first) || !sameAttempt(got[1], retry) {
				t.Fatalf("AttemptsForTurn(s1, 1) =\n%+v\nwant\n%+v\n%+v", got, first, retry)
			}
			if got[1].Price.CacheWrite != nil || *got[1].Price.Output != 15_000_000_000 || *got[1].Price.CacheWrite1h != 6_000_000_000 ||
				got[1].CacheWrite1hTokens != 1<<40 || got[0].CacheWrite1hTokens != 5 || got[0].CacheWriteTokens != 4 {
				t.Errorf("price snapshot read back as %+v", got[1].Price)
			}
			got, err = s.AttemptsForTurn(ctx, "s1", 2)
			if err != nil || len(got) != 1 || !sameAttempt(got[0], other) {
				t.Fatalf("AttemptsForTurn(s1, 2) = %+v, %v; want %+v", got, err, other)
			}
			for _, q := range []struct {
				sess string
				turn int
			}{{"s1", 3}, {"s2", 1}} {
				if got, err := s.AttemptsForTurn(ctx, q.sess, q.turn); err != nil || len(got) != 0 {
					t.Errorf("AttemptsForTurn(%s, %d) = %v, %v; want none", q.sess, q.turn, got, err)
				}
			}
		})
	}
}

// TestAttemptDefaults: a zero EndedAt is the store's clock; an estimate
// is rounded to whole nano-dollars.
func TestAttemptDefaults(t *testing.T) {
	now := attemptT0.Add(time.Hour)
	s, err := host.OpenWithConfig(tempStorePath(t), host.NewConfig().WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := testAttempt("s", 0, 0, 0)
	a.EndedAt = time.Time{}
	a.EstimatedUSD = 0.0000000014 // 1.4 nano-dollars
	mustRecord(t, s, a)
	got, err := s.AttemptsForTurn(context.Background(), "s", 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("AttemptsForTurn = %v, %v", got, err)
	}
	if !got[0].EndedAt.Equal(now) {
		t.Errorf("EndedAt = %v, want the clock's %v", got[0].EndedAt, now)
	}
	if got[0].EstimatedUSD != 1e-9 {
		t.Errorf("EstimatedUSD = %v, want 1e-9", got[0].EstimatedUSD)
	}
}

// TestAttemptValidation: every bad attempt is refused with its typed
// error, and nothing is stored.
func TestAttemptValidation(t *testing.T) {
	s, _ := openPlainStore(t)
	ctx := context.Background()
	long := strings.Repeat("x", host.MaxAttemptString+1)
	tests := []struct {
		name string
		edit func(a *abi.ProviderAttempt)
		want error
	}{
		{"empty session", func(a *abi.ProviderAttempt) { a.Session = "" }, host.ErrEmptySession},
		{"empty provider", func(a *abi.ProviderAttempt) { a.Provider = "" }, host.ErrInvalidArgument},
		{"empty model", func(a *abi.ProviderAttempt) { a.Model = "" }, host.ErrInvalidArgument},
		{"long provider", func(a *abi.ProviderAttempt) { a.Provider = long }, host.ErrInvalidArgument},
		{"long model", func(a *abi.ProviderAttempt) { a.Model = long }, host.ErrInvalidArgument},
		{"long request ID", func(a *abi.ProviderAttempt) { a.RequestID = long }, host.ErrInvalidArgument},
		{"negative input tokens", func(a *abi.ProviderAttempt) { a.InputTokens = -1 }, host.ErrInvalidArgument},
		{"negative output tokens", func(a *abi.ProviderAttempt) { a.OutputTokens = -1 }, host.ErrInvalidArgument},
		{"negative cache read tokens", func(a *abi.ProviderAttempt) { a.CacheReadTokens = -1 }, host.ErrInvalidArgument},
		{"negative cache write tokens", func(a *abi.ProviderAttempt) { a.CacheWriteTokens = -1 }, host.ErrInvalidArgument},
		{"negative 1-hour cache write tokens", func(a *abi.ProviderAttempt) { a.CacheWrite1hTokens = -1 }, host.ErrInvalidArgument},
		{"empty reason", func(a *abi.ProviderAttempt) { a.TerminatedReason = "" }, host.ErrInvalidArgument},
		{"unknown reason", func(a *abi.ProviderAttempt) { a.TerminatedReason = "exploded" }, host.ErrInvalidArgument},
		{"ends before start", func(a *abi.ProviderAttempt) { a.EndedAt = a.StartedAt.Add(-time.Nanosecond) }, host.ErrInvalidArgument},
		{"zero start", func(a *abi.ProviderAttempt) { a.StartedAt = time.Time{} }, host.ErrInvalidArgument},
		{"start too early", func(a *abi.ProviderAttempt) { a.StartedAt = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) }, host.ErrInvalidArgument},
		{"end too late", func(a *abi.ProviderAttempt) { a.EndedAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }, host.ErrInvalidArgument},
		{"NaN USD", func(a *abi.ProviderAttempt) { a.EstimatedUSD = math.NaN() }, host.ErrInvalidArgument},
		{"+Inf USD", func(a *abi.ProviderAttempt) { a.EstimatedUSD = math.Inf(1) }, host.ErrInvalidArgument},
		{"-Inf USD", func(a *abi.ProviderAttempt) { a.EstimatedUSD = math.Inf(-1) }, host.ErrInvalidArgument},
		{"negative USD", func(a *abi.ProviderAttempt) { a.EstimatedUSD = -0.01 }, host.ErrInvalidArgument},
		{"USD beyond int64 nano-dollars", func(a *abi.ProviderAttempt) { a.EstimatedUSD = 9.3e9 }, host.ErrInvalidArgument},
		{"price without source", func(a *abi.ProviderAttempt) { a.Price = &abi.AttemptPrice{Input: nano(1)} }, host.ErrInvalidArgument},
		{"long price source", func(a *abi.ProviderAttempt) { a.Price = &abi.AttemptPrice{Source: long} }, host.ErrInvalidArgument},
		{"negative input price", func(a *abi.ProviderAttempt) { a.Price = &abi.AttemptPrice{Source: "p", Input: nano(-1)} }, host.ErrInvalidArgument},
		{"negative output price", func(a *abi.ProviderAttempt) { a.Price = &abi.AttemptPrice{Source: "p", Output: nano(-1)} }, host.ErrInvalidArgument},
		{"negative cache read price", func(a *abi.ProviderAttempt) { a.Price = &abi.AttemptPrice{Source: "p", CacheRead: nano(-1)} }, host.ErrInvalidArgument},
		{"negative cache write price", func(a *abi.ProviderAttempt) { a.Price = &abi.AttemptPrice{Source: "p", CacheWrite: nano(-1)} }, host.ErrInvalidArgument},
		{"negative 1-hour cache write price", func(a *abi.ProviderAttempt) { a.Price = &abi.AttemptPrice{Source: "p", CacheWrite1h: nano(-1)} }, host.ErrInvalidArgument},
	}
	for _, tt := range tests {
		a := testAttempt("bad", 1, 5, 0)
		tt.edit(&a)
		if _, err := s.RecordAttempt(ctx, a); !errors.Is(err, tt.want) {
			t.Errorf("%s: RecordAttempt = %v, want %v", tt.name, err, tt.want)
		}
	}
	// The largest amounts still accepted.
	ok := testAttempt("edge", 1, 0, 0)
	ok.EstimatedUSD = 9.2e9
	ok.RequestID = strings.Repeat("r", host.MaxAttemptString)
	mustRecord(t, s, ok)
	if got, err := s.AttemptsForTurn(ctx, "bad", 1); err != nil || len(got) != 0 {
		t.Errorf("refused attempts stored: %v, %v", got, err)
	}
	if _, err := s.AttemptsForTurn(ctx, "", 1); !errors.Is(err, host.ErrEmptySession) {
		t.Errorf("AttemptsForTurn(\"\") = %v, want ErrEmptySession", err)
	}
}

// TestLocalCostInPeriod: the period is [start, end), per provider, and
// the sum is exact.
func TestLocalCostInPeriod(t *testing.T) {
	s, _ := openPlainStore(t)
	ctx := context.Background()
	var want int64
	for i := range 50 {
		nusd := int64(i)*1_000_000_007 + 3 // not exact in binary dollars
		a := testAttempt(fmt.Sprint("s", i%3), i, nusd, time.Duration(i)*time.Minute)
		if i >= 10 && i < 40 {
			want += nusd
		}
		mustRecord(t, s, a)
		b := a
		b.Provider = "openai"
		mustRecord(t, s, b)
	}
	start, end := attemptT0.Add(10*time.Minute), attemptT0.Add(40*time.Minute)
	n, err := s.LocalCostNanosInPeriod(ctx, "anthropic", start, end)
	if err != nil || int64(n) != want {
		t.Fatalf("LocalCostNanosInPeriod = %d, %v; want %d", n, err, want)
	}
	usd, err := s.LocalCostInPeriod(ctx, "anthropic", start, end)
	if err != nil || usd != float64(want)/1e9 {
		t.Fatalf("LocalCostInPeriod = %v, %v; want %v", usd, err, float64(want)/1e9)
	}
	for _, q := range []struct {
		provider   string
		start, end time.Time
	}{
		{"anthropic", start, start},                         // empty period
		{"google", start, end},                              // no attempts
		{"anthropic", attemptT0.Add(-time.Hour), attemptT0}, // before the first
	} {
		if usd, err := s.LocalCostInPeriod(ctx, q.provider, q.start, q.end); err != nil || usd != 0 {
			t.Errorf("LocalCostInPeriod(%s, %v, %v) = %v, %v; want 0", q.provider, q.start, q.end, usd, err)
		}
	}
	bad := []struct {
		name       string
		provider   string
		start, end time.Time
	}{
		{"empty provider", "", start, end},
		{"end before start", "anthropic", end, start},
		{"zero start", "anthropic", time.Time{}, end},
		{"zero end", "anthropic", start, time.Time{}},
		{"end beyond range", "anthropic", start, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, b := range bad {
		if _, err := s.LocalCostInPeriod(ctx, b.provider, b.start, b.end); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("%s: LocalCostInPeriod = %v, want ErrInvalidArgument", b.name, err)
		}
	}

	// A sum beyond int64 nano-dollars is an error, not a wrapped value.
	for i := range 2 {
		a := testAttempt("big", i, 0, 0)
		a.Provider, a.EstimatedUSD = "huge", 9.2e9
		mustRecord(t, s, a)
	}
	if _, err := s.LocalCostInPeriod(ctx, "huge", attemptT0, end); err == nil {
		t.Error("LocalCostInPeriod of an overflowing sum succeeded")
	}
}

// TestAttemptsClosed: every method fails with ErrClosed after Close.
func TestAttemptsClosed(t *testing.T) {
	s, err := host.Open(tempStorePath(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ctx := context.Background()
	if err := s.EnsureAttemptsSchema(ctx); !errors.Is(err, host.ErrClosed) {
		t.Errorf("EnsureAttemptsSchema = %v", err)
	}
	if _, err := s.RecordAttempt(ctx, testAttempt("s", 1, 1, 0)); !errors.Is(err, host.ErrClosed) {
		t.Errorf("RecordAttempt = %v", err)
	}
	if _, err := s.AttemptsForTurn(ctx, "s", 1); !errors.Is(err, host.ErrClosed) {
		t.Errorf("AttemptsForTurn = %v", err)
	}
	if _, err := s.LocalCostInPeriod(ctx, "anthropic", attemptT0, attemptT0.Add(time.Hour)); !errors.Is(err, host.ErrClosed) {
		t.Errorf("LocalCostInPeriod = %v", err)
	}
}

// TestAttemptsRetention: DropMetadata deletes attempts older than its
// cutoff, except those of pinned and exempt sessions; ApplyRetention
// keeps them all.
func TestAttemptsRetention(t *testing.T) {
	s, _ := openPlainStore(t)
	ctx := context.Background()
	old := time.Now().Add(-400 * 24 * time.Hour).Truncate(time.Second)
	for _, sess := range []string{"drop", "pinned", "exempt"} {
		a := testAttempt(sess, 1, 100, 0)
		a.StartedAt, a.EndedAt = old, old.Add(time.Second)
		mustRecord(t, s, a)
		a.Turn, a.StartedAt, a.EndedAt = 2, time.Now(), time.Now()
		mustRecord(t, s, a)
	}
	if err := s.Pin(ctx, "pinned"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyRetention(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AttemptsForTurn(ctx, "drop", 1); len(got) != 1 {
		t.Fatalf("ApplyRetention changed attempts: %v", got)
	}
	if _, err := s.DropMetadata(ctx, host.DefaultMetadataAge, []string{"exempt"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sess string
		turn int
		want int
	}{{"drop", 1, 0}, {"drop", 2, 1}, {"pinned", 1, 1}, {"pinned", 2, 1}, {"exempt", 1, 1}, {"exempt", 2, 1}} {
		if got, err := s.AttemptsForTurn(ctx, c.sess, c.turn); err != nil || len(got) != c.want {
			t.Errorf("after DropMetadata, AttemptsForTurn(%s, %d) = %d attempts, %v; want %d", c.sess, c.turn, len(got), err, c.want)
		}
	}
}

// attemptsArgs are the arguments of the attempts child.
type attemptsArgs struct {
	Path string
	N    int // the child's session is proc-N
	M    int // attempts to record
}

var _ = proc.Role("attempts", attemptsChild)

// attemptsChild records M attempts of session proc-N, turn i, costing
// attemptCost(N, i), and prints "ack ID" for each.
func attemptsChild() int {
	var a attemptsArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.Open(a.Path)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	for i := range a.M {
		id, err := s.RecordAttempt(context.Background(), testAttempt(fmt.Sprint("proc-", a.N), i, attemptCost(a.N, i), time.Duration(i)*time.Millisecond))
		if err != nil {
			proc.Fail("record: %v", err)
		}
		os.Stdout.WriteString(fmt.Sprintf("ack %d\n", id))
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
}

// attemptCost is the cost in nano-dollars of attempt i of writer w.
func attemptCost(w, i int) int64 { return int64(w)*1_000_003 + int64(i)*123_456_789 + 1 }

// checkAttemptIDs fails t unless every writer's IDs increase and no ID
// repeats; ids[w] are writer w's, in the order it got them.
func checkAttemptIDs(t *testing.T, ids [][]int64) {
	t.Helper()
	seen := make(map[int64]int)
	for w, list := range ids {
		for i, id := range list {
			if i > 0 && id <= list[i-1] {
				t.Errorf("writer %d: ID %d after %d", w, id, list[i-1])
			}
			if v, ok := seen[id]; ok {
				t.Errorf("ID %d given to writers %d and %d", id, v, w)
			}
			seen[id] = w
		}
	}
}

// checkAttemptRows fails t unless the store holds every writer's
// attempts with their IDs, and LocalCostNanosInPeriod is their exact sum.
func checkAttemptRows(t *testing.T, s *host.Store, ids [][]int64, session func(w int) string, writers []int) {
	t.Helper()
	ctx := context.Background()
	var want int64
	for k, w := range writers {
		for i, id := range ids[k] {
			want += attemptCost(w, i)
			got, err := s.AttemptsForTurn(ctx, session(w), i)
			a := testAttempt(session(w), i, attemptCost(w, i), time.Duration(i)*time.Millisecond)
			a.ID = id
			if err != nil || len(got) != 1 || !sameAttempt(got[0], a) {
				t.Fatalf("writer %d attempt %d: AttemptsForTurn = %+v, %v; want %+v", w, i, got, err, a)
			}
		}
	}
	n, err := s.LocalCostNanosInPeriod(ctx, "anthropic", attemptT0, attemptT0.Add(time.Hour))
	if err != nil || int64(n) != want {
		t.Fatalf("LocalCostNanosInPeriod = %d, %v; want exactly %d", n, err, want)
	}
}

// TestAttemptsTwoHandles records attempts through two Stores on one file
// in one process, concurrently.
func TestAttemptsTwoHandles(t *testing.T) {
	path := tempStorePath(t)
	var handles []*host.Store
	for range 2 {
		s, err := host.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		handles = append(handles, s)
	}
	const writers, per = 8, 50
	ids := make([][]int64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			s := handles[w%2]
			for i := range per {
				id, err := s.RecordAttempt(context.Background(), testAttempt(fmt.Sprint("w-", w), i, attemptCost(w, i), time.Duration(i)*time.Millisecond))
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				ids[w] = append(ids[w], id)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkAttemptIDs(t, ids)
	all := make([]int, writers)
	for i := range all {
		all[i] = i
	}
	checkAttemptRows(t, handles[1], ids, func(w int) string { return fmt.Sprint("w-", w) }, all)
}

// TestAttemptsProcesses records attempts from two child processes and
// this one at once: IDs are unique and increase per writer, every row is
// there and the cost sum is exact.
func TestAttemptsProcesses(t *testing.T) {
	proc.Skip(t)
	path, cacheDir := tempStorePath(t), childCacheDir(t)
	s, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	per := proc.Rounds(t, 400, 150)
	var specs []proc.Spec
	for c := range 2 {
		specs = append(specs, proc.Spec{Role: "attempts", Args: attemptsArgs{Path: path, N: c + 1, M: per}, Env: childEnv(cacheDir)})
	}
	// This process records until both children are done, so that their
	// attempts fall among its own.
	ids := raceChildren(t, specs, per, true, func(i int) int64 {
		id, err := s.RecordAttempt(context.Background(), testAttempt("proc-0", i, attemptCost(0, i), time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return id
	})
	checkAttemptIDs(t, ids)
	checkAttemptRows(t, s, ids, func(w int) string { return fmt.Sprint("proc-", w) }, []int{0, 1, 2})
	s2, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	checkAttemptRows(t, s2, ids, func(w int) string { return fmt.Sprint("proc-", w) }, []int{0, 1, 2})
	var flat []int64
	for _, l := range ids {
		flat = append(flat, l...)
	}
	slices.Sort(flat)
	t.Logf("%d attempts from 3 processes, IDs %d..%d", len(flat), flat[0], flat[len(flat)-1])
}

// BenchmarkRecordAttempt records attempts from 1 and 16 callers: with a
// cost given, and ("priced") without one, in a store that prices them
// from the embedded table.
func BenchmarkRecordAttempt(b *testing.B) {
	for _, priced := range []bool{false, true} {
		for _, callers := range []int{1, 16} {
			name := fmt.Sprint("callers=", callers)
			if priced {
				name = "priced/" + name
			}
			b.Run(name, func(b *testing.B) {
				var s *host.Store
				attempt := func(g, i int) abi.ProviderAttempt { return testAttempt(fmt.Sprint("bench-", g), i, 1234, 0) }
				if priced {
					s = openPricedStore(b, tempStorePath(b), pricing.Default())
					attempt = func(g, i int) abi.ProviderAttempt {
						return unpricedAttempt(fmt.Sprint("bench-", g), i, "claude-sonnet-4-5", 1000, 200, 30, 4)
					}
				} else {
					s, _ = openPlainStore(b)
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				var failed error
				next := make(chan int, callers)
				b.ResetTimer()
				for g := range callers {
					wg.Go(func() {
						for i := range next {
							if _, err := s.RecordAttempt(context.Background(), attempt(g, i)); err != nil {
								mu.Lock()
								failed = err
								mu.Unlock()
							}
						}
					})
				}
				for i := range b.N {
					next <- i
				}
				close(next)
				wg.Wait()
				b.StopTimer()
				if failed != nil {
					b.Fatal(failed)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
				if priced {
					mustRecord(b, s, attempt(-1, 0))
					got, err := s.AttemptsForTurn(context.Background(), "bench--1", 0)
					if err != nil || len(got) != 1 || got[0].Price == nil || got[0].Price.Unpriced() || got[0].EstimatedUSD == 0 {
						b.Fatalf("priced attempt stored as %+v, %v", got, err)
					}
				}
			})
		}
	}
}
