package host_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/pricing"
)

// testPrices is a small price table in the genai-prices format: Sonnet 4.5
// at other prices than the embedded table's, a model with an input price
// only, and one whose price overflows any real attempt.
const testPrices = `[{"id":"anthropic","name":"Anthropic","provider_match":{"contains":"anthropic"},"models":[
 {"id":"claude-sonnet-4-5","match":{"starts_with":"claude-sonnet-4-5"},"prices":{"input_mtok":5,"output_mtok":25,"cache_read_mtok":0.5,"cache_write_mtok":6.25}},
 {"id":"in-only","match":{"equals":"in-only"},"prices":{"input_mtok":1}},
 {"id":"huge","match":{"equals":"huge"},"prices":{"input_mtok":1000000000}}
]}]`

const (
	testPricesName = "test-prices"
	testPricesDate = "2027-01-01"
)

func loadTestPrices(tb testing.TB) *pricing.Table {
	tb.Helper()
	t, err := pricing.Load(strings.NewReader(testPrices), testPricesName, testPricesDate)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// openPricedStore opens the store at path with price table t and closes
// it when the test ends.
func openPricedStore(tb testing.TB, path string, t *pricing.Table) *host.Store {
	tb.Helper()
	s, err := host.OpenWithConfig(path, host.NewConfig().WithPricing(t))
	if err != nil {
		tb.Fatalf("OpenWithConfig(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// unpricedAttempt is testAttempt without a cost, for the store to price,
// started turn minutes after attemptT0, with the given token counts and
// no 1-hour cache writes.
func unpricedAttempt(sess string, turn int, model string, in, out, cr, cw int) abi.ProviderAttempt {
	a := testAttempt(sess, turn, 0, time.Duration(turn)*time.Minute)
	a.Model = model
	a.InputTokens, a.OutputTokens, a.CacheReadTokens, a.CacheWriteTokens, a.CacheWrite1hTokens = in, out, cr, cw, 0
	return a
}

// with1h is a with n 1-hour cache write tokens.
func with1h(a abi.ProviderAttempt, n int) abi.ProviderAttempt {
	a.CacheWrite1hTokens = n
	return a
}

// usageOf is a's token counts as package pricing takes them.
func usageOf(a abi.ProviderAttempt) pricing.Usage {
	return pricing.Usage{
		Input: int64(a.InputTokens), Output: int64(a.OutputTokens), CacheRead: int64(a.CacheReadTokens),
		CacheWrite5m: int64(a.CacheWriteTokens), CacheWrite1h: int64(a.CacheWrite1hTokens),
	}
}

// readAttempt returns the only attempt of sess/turn.
func readAttempt(tb testing.TB, s *host.Store, sess string, turn int) abi.ProviderAttempt {
	tb.Helper()
	got, err := s.AttemptsForTurn(context.Background(), sess, turn)
	if err != nil || len(got) != 1 {
		tb.Fatalf("AttemptsForTurn(%s, %d) = %+v, %v; want one attempt", sess, turn, got, err)
	}
	return got[0]
}

// wantPriced is a, priced at usd with snapshot p, as AttemptsForTurn
// returns it.
func wantPriced(a abi.ProviderAttempt, id int64, nusd int64, p *abi.AttemptPrice) abi.ProviderAttempt {
	a.ID, a.EstimatedUSD, a.Price = id, abi.NanoUSD(nusd).USD(), p
	return a
}

func describe(a abi.ProviderAttempt) string {
	s := fmt.Sprintf("%+v", a)
	if p := a.Price; p != nil {
		show := func(v *abi.NanoUSD) string {
			if v == nil {
				return "nil"
			}
			return fmt.Sprint(int64(*v))
		}
		s += fmt.Sprintf(" price{%q in %s out %s cr %s cw %s cw1h %s}", p.Source,
			show(p.Input), show(p.Output), show(p.CacheRead), show(p.CacheWrite), show(p.CacheWrite1h))
	}
	return s
}

// TestAttemptPricing records attempts without a cost in a store with the
// embedded price table: each is stored with the table's estimate, in exact
// nano-dollars, and a snapshot of the prices its tokens were billed at
// (the applied context tier's, and the prices in force at its start).
// 1-hour cache writes are billed at twice the input price (the table has
// no price of their own), which the snapshot records.
func TestAttemptPricing(t *testing.T) {
	s := openPricedStore(t, tempStorePath(t), pricing.Default())
	ctx := context.Background()
	src := pricing.EmbeddedName + " " + pricing.EmbeddedDate
	for _, tc := range []struct {
		name string
		a    abi.ProviderAttempt
		nusd int64
		p    abi.AttemptPrice
	}{
		// Sonnet 4.5: $3 in, $15 out, $0.30 cache read, $3.75 cache write, per MTok.
		{"sonnet", unpricedAttempt("price", 1, "claude-sonnet-4-5-20250929", 1000, 500, 2000, 400),
			1000*3000 + 500*15000 + 2000*300 + 400*3750,
			abi.AttemptPrice{Source: src, Input: nano(3e9), Output: nano(15e9), CacheRead: nano(3e8), CacheWrite: nano(3_750_000_000)}},
		// Above 200k total input: the tier's $6 in, $22.50 out, $0.60 cache read; no cache writes, no price.
		{"tier", unpricedAttempt("price", 2, "claude-sonnet-4-5", 150_000, 1000, 60_000, 0),
			150_000*6000 + 60_000*600 + 1000*22500,
			abi.AttemptPrice{Source: src, Input: nano(6e9), Output: nano(22_500_000_000), CacheRead: nano(6e8)}},
		// 1-hour cache writes at twice the $3 input price, next to
		// 5-minute ones at $3.75.
		{"sonnet-1h", with1h(unpricedAttempt("price", 6, "claude-sonnet-4-5", 1000, 500, 2000, 400), 300),
			1000*3000 + 500*15000 + 2000*300 + 400*3750 + 300*6000,
			abi.AttemptPrice{Source: src, Input: nano(3e9), Output: nano(15e9), CacheRead: nano(3e8), CacheWrite: nano(3_750_000_000), CacheWrite1h: nano(6e9)}},
		// 1-hour cache writes alone.
		{"only-1h", with1h(unpricedAttempt("price", 7, "claude-sonnet-4-5", 0, 0, 0, 0), 100_001),
			100_001 * 6000, abi.AttemptPrice{Source: src, CacheWrite1h: nano(6e9)}},
		// 195k tokens without the 1-hour writes, 205k with them: the tier's
		// prices, and the 1-hour writes at twice the tier's $6 input.
		{"tier-1h", with1h(unpricedAttempt("price", 8, "claude-sonnet-4-5", 150_000, 1000, 45_000, 0), 10_000),
			150_000*6000 + 45_000*600 + 10_000*12000 + 1000*22500,
			abi.AttemptPrice{Source: src, Input: nano(6e9), Output: nano(22_500_000_000), CacheRead: nano(6e8), CacheWrite1h: nano(12e9)}},
		// An attempt that failed before any token: $0 from the table, not unpriced.
		{"no-tokens", func() abi.ProviderAttempt {
			a := unpricedAttempt("price", 3, "claude-sonnet-4-5", 0, 0, 0, 0)
			a.TerminatedReason = abi.AttemptHTTPError
			return a
		}(), 0, abi.AttemptPrice{Source: src}},
		// Sonnet 5 costs $2 per input MTok before 2026-09-01 and $3 from then: StartedAt dates the price.
		{"dated-before", unpricedAttempt("price", 4, "claude-sonnet-5", 1000, 0, 0, 0), 1000 * 2000,
			abi.AttemptPrice{Source: src, Input: nano(2e9)}},
		{"dated-after", func() abi.ProviderAttempt {
			a := unpricedAttempt("price", 5, "claude-sonnet-5", 1000, 0, 0, 0)
			a.StartedAt, a.EndedAt = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Time{}
			return a
		}(), 1000 * 3000, abi.AttemptPrice{Source: src, Input: nano(3e9)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := mustRecord(t, s, tc.a)
			got := readAttempt(t, s, tc.a.Session, tc.a.Turn)
			want := wantPriced(tc.a, id, tc.nusd, &tc.p)
			if want.EndedAt.IsZero() {
				want.EndedAt = got.EndedAt
			}
			if !sameAttempt(got, want) || got.Price.Unpriced() {
				t.Fatalf("stored\n %s\nwant\n %s", describe(got), describe(want))
			}
			// The store's estimate is package pricing's, to the nano-dollar.
			e, err := pricing.Default().Estimate(tc.a.Provider, tc.a.Model, usageOf(tc.a), tc.a.StartedAt)
			if err != nil || e.NanoUSD != tc.nusd || e.Source.String() != src ||
				e.Prices.CacheWrite1hDerived != (tc.a.CacheWrite1hTokens > 0) || e.Prices.CacheWrite1h != int64(ptrOr0(tc.p.CacheWrite1h)) {
				t.Fatalf("pricing.Estimate = %+v, %v; want %d nano-dollars", e, err, tc.nusd)
			}
			n, err := s.LocalCostNanosInPeriod(ctx, "anthropic", tc.a.StartedAt, tc.a.StartedAt.Add(time.Nanosecond))
			if err != nil || int64(n) != tc.nusd {
				t.Fatalf("LocalCostNanosInPeriod = %d, %v; want exactly %d", n, err, tc.nusd)
			}
		})
	}
}

// TestAttemptPricingHistory: attempts keep the cost and prices they were
// recorded with when the store is later opened with another table, and
// two handles with different tables on one file each price with their own.
func TestAttemptPricingHistory(t *testing.T) {
	path := tempStorePath(t)
	ctx := context.Background()
	a := unpricedAttempt("hist", 1, "claude-sonnet-4-5", 1000, 100, 0, 0)
	old := openPricedStore(t, path, pricing.Default())
	id1 := mustRecord(t, old, a)
	oldWant := wantPriced(a, id1, 1000*3000+100*15000,
		&abi.AttemptPrice{Source: pricing.EmbeddedName + " " + pricing.EmbeddedDate, Input: nano(3e9), Output: nano(15e9)})

	// A newer table, in a second handle while the first is open.
	newer := openPricedStore(t, path, loadTestPrices(t))
	a2 := a
	a2.Turn = 2
	id2 := mustRecord(t, newer, a2)
	newWant := wantPriced(a2, id2, 1000*5000+100*25000,
		&abi.AttemptPrice{Source: testPricesName + " " + testPricesDate, Input: nano(5e9), Output: nano(25e9)})
	// The old handle still prices with its own table.
	a3 := a
	a3.Turn = 3
	id3 := mustRecord(t, old, a3)
	old3Want := wantPriced(a3, id3, 1000*3000+100*15000, oldWant.Price)

	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if err := newer.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened with the newer table, and without any: history is as recorded.
	for _, s := range []*host.Store{openPricedStore(t, path, loadTestPrices(t)), openStoreAt(t, path)} {
		for _, want := range []abi.ProviderAttempt{oldWant, newWant, old3Want} {
			if got := readAttempt(t, s, want.Session, want.Turn); !sameAttempt(got, want) {
				t.Fatalf("stored\n %s\nwant\n %s", describe(got), describe(want))
			}
		}
		n, err := s.LocalCostNanosInPeriod(ctx, "anthropic", attemptT0, attemptT0.Add(time.Hour))
		if want := int64(2*(1000*3000+100*15000) + 1000*5000 + 100*25000); err != nil || int64(n) != want {
			t.Fatalf("LocalCostNanosInPeriod = %d, %v; want exactly %d", n, err, want)
		}
	}
}

func openStoreAt(tb testing.TB, path string) *host.Store {
	tb.Helper()
	s, err := host.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestAttemptUnpriced: an attempt the table has no price for is stored
// with an explicit unpriced snapshot that says why, not as a silent zero,
// and adds nothing to the local cost.
func TestAttemptUnpriced(t *testing.T) {
	path := tempStorePath(t)
	s := openPricedStore(t, path, loadTestPrices(t))
	ctx := context.Background()
	for i, tc := range []struct {
		provider, model string
		in, out         int
		reason          string
	}{
		{"anthropic", "claude-opus-9", 10, 10, "unknown model"},
		{"nobody", "claude-sonnet-4-5", 10, 10, "unknown provider"},
		{"anthropic", "in-only", 10, 1, "no output price"},
		{"anthropic", "huge", 1 << 40, 0, "estimate beyond int64 nano-dollars"},
	} {
		a := unpricedAttempt("unpriced", i, tc.model, tc.in, tc.out, 0, 0)
		a.Provider = tc.provider
		id := mustRecord(t, s, a)
		got := readAttempt(t, s, a.Session, a.Turn)
		wantSrc := abi.UnpricedPrefix + tc.reason + " (" + testPricesName + " " + testPricesDate + ")"
		want := wantPriced(a, id, 0, &abi.AttemptPrice{Source: wantSrc})
		if !sameAttempt(got, want) || !got.Price.Unpriced() {
			t.Fatalf("%s/%s: stored\n %s\nwant\n %s", tc.provider, tc.model, describe(got), describe(want))
		}
	}
	// A priced attempt next to them: the sum is its cost alone.
	id := mustRecord(t, s, unpricedAttempt("unpriced", 9, "in-only", 1000, 0, 0, 0))
	if got := readAttempt(t, s, "unpriced", 9); got.ID != id || got.Price.Unpriced() || got.EstimatedUSD != 0.001 {
		t.Fatalf("priced attempt stored as %s", describe(got))
	}
	n, err := s.LocalCostNanosInPeriod(ctx, "anthropic", attemptT0, attemptT0.Add(time.Hour))
	if err != nil || n != 1_000_000 {
		t.Fatalf("LocalCostNanosInPeriod = %d, %v; want 1000000", n, err)
	}
}

// TestAttemptPricingCallerValues: an attempt given with a cost or a
// snapshot is stored as given, with or without a price table; a store
// without a table stores attempts without a cost as such.
func TestAttemptPricingCallerValues(t *testing.T) {
	path := tempStorePath(t)
	priced := openPricedStore(t, path, pricing.Default())
	plain := openStoreAt(t, path)
	ownPrice := &abi.AttemptPrice{Source: "harness 2026-07-01", Input: nano(1)}
	for i, tc := range []struct {
		s     *host.Store
		usd   float64
		price *abi.AttemptPrice
	}{
		{priced, 0.125, nil},    // the caller's estimate, no snapshot
		{priced, 0.5, ownPrice}, // the caller's estimate and snapshot
		{priced, 0, ownPrice},   // free by the caller's snapshot
		{priced, 0, &abi.AttemptPrice{Source: abi.UnpricedPrefix + "the harness's own reason"}},
		{plain, 0, nil}, // no table: no cost, no snapshot
		{plain, 0.25, nil},
	} {
		a := unpricedAttempt("given", i, "claude-sonnet-4-5", 1000, 100, 0, 0)
		a.EstimatedUSD, a.Price = tc.usd, tc.price
		id := mustRecord(t, tc.s, a)
		want := a
		want.ID = id
		if got := readAttempt(t, tc.s, a.Session, a.Turn); !sameAttempt(got, want) {
			t.Fatalf("case %d: stored\n %s\nwant\n %s", i, describe(got), describe(want))
		}
	}
	// An unpriced snapshot carries neither prices nor a cost.
	for _, tc := range []struct {
		usd   float64
		price *abi.AttemptPrice
	}{
		{0.1, &abi.AttemptPrice{Source: abi.UnpricedPrefix + "x"}},
		{0, &abi.AttemptPrice{Source: abi.UnpricedPrefix + "x", Output: nano(0)}},
		{0, &abi.AttemptPrice{Source: abi.UnpricedPrefix + "x", CacheWrite1h: nano(2)}},
	} {
		for _, s := range []*host.Store{priced, plain} {
			a := unpricedAttempt("bad", 0, "claude-sonnet-4-5", 1, 1, 0, 0)
			a.EstimatedUSD, a.Price = tc.usd, tc.price
			if _, err := s.RecordAttempt(context.Background(), a); !errors.Is(err, host.ErrInvalidArgument) {
				t.Fatalf("unpriced snapshot %+v costing %v: %v, want ErrInvalidArgument", tc.price, tc.usd, err)
			}
		}
	}
	if got, err := plain.AttemptsForTurn(context.Background(), "bad", 0); err != nil || len(got) != 0 {
		t.Fatalf("refused attempts stored: %+v, %v", got, err)
	}
	// Bad input is refused before pricing, with a table too.
	a := unpricedAttempt("bad", 1, "claude-sonnet-4-5", -1, 0, 0, 0)
	if _, err := priced.RecordAttempt(context.Background(), a); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("negative tokens: %v", err)
	}
}

func TestWithPricingInvalid(t *testing.T) {
	unnamed, err := pricing.Load(strings.NewReader(testPrices), "", "2027-01-01")
	if err != nil {
		t.Fatal(err)
	}
	long, err := pricing.Load(strings.NewReader(testPrices), strings.Repeat("n", host.MaxAttemptString-64), "2027-01-01")
	if err != nil {
		t.Fatal(err)
	}
	longest, err := pricing.Load(strings.NewReader(testPrices), strings.Repeat("é", (host.MaxAttemptString-64-1)/2), "")
	if err != nil {
		t.Fatal(err)
	}
	marked, err := pricing.Load(strings.NewReader(testPrices), abi.UnpricedPrefix+"prices", "2027-01-01")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		t    *pricing.Table
	}{{"nil", nil}, {"unnamed", unnamed}, {"long", long}, {"marked", marked}} {
		_, err := host.OpenWithConfig(tempStorePath(t), host.NewConfig().WithPricing(tc.t))
		if !errors.Is(err, host.ErrInvalidArgument) || !strings.Contains(err.Error(), "WithPricing") {
			t.Errorf("%s: %v, want ErrInvalidArgument naming WithPricing", tc.name, err)
		}
	}
	// The longest accepted source still leaves room for every reason of
	// an unpriced attempt.
	s := openPricedStore(t, tempStorePath(t), longest)
	a := unpricedAttempt("long", 0, "no-such-model", 1, 1, 0, 0)
	mustRecord(t, s, a)
	got := readAttempt(t, s, "long", 0)
	if !got.Price.Unpriced() || !strings.HasSuffix(got.Price.Source, longest.Name()+")") {
		t.Fatalf("stored %s", describe(got))
	}
}

// TestAttemptPricingTwoHandles prices attempts through two Stores on one
// file, concurrently.
func TestAttemptPricingTwoHandles(t *testing.T) {
	path := tempStorePath(t)
	handles := []*host.Store{openPricedStore(t, path, pricing.Default()), openPricedStore(t, path, pricing.Default())}
	const writers, per = 4, 40
	ids := make([][]int64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				id, err := handles[w%2].RecordAttempt(context.Background(), pricedTestAttempt(w, i))
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
	checkPricedRows(t, handles[1], ids, func(int) *pricing.Table { return pricing.Default() })
}

// pricedTestAttempt is attempt i of writer w, to be priced by the store:
// Sonnet 4.5 with token counts that differ per attempt, every tenth above
// the 200k context tier.
func pricedTestAttempt(w, i int) abi.ProviderAttempt {
	in := 1000 + 37*i + w
	if i%10 == 9 {
		in += 200_000
	}
	a := unpricedAttempt(fmt.Sprint("priced-", w), i, "claude-sonnet-4-5", in, 10*i+1, 100*w, i%3)
	a.CacheWrite1hTokens = (i % 4) * (500 + w)
	a.StartedAt = attemptT0.Add(time.Duration(i) * time.Millisecond)
	a.EndedAt = a.StartedAt.Add(time.Second)
	return a
}

// checkPricedRows fails t unless every writer's attempts are stored with
// the estimate and prices of its table, and the local cost is their exact
// sum; ids[w] are writer w's IDs.
func checkPricedRows(t *testing.T, s *host.Store, ids [][]int64, table func(w int) *pricing.Table) {
	t.Helper()
	var sum int64
	for w, list := range ids {
		tab := table(w)
		for i, id := range list {
			a := pricedTestAttempt(w, i)
			e, err := tab.Estimate(a.Provider, a.Model, usageOf(a), a.StartedAt)
			if err != nil {
				t.Fatal(err)
			}
			sum += e.NanoUSD
			got := readAttempt(t, s, a.Session, i)
			p := got.Price
			if got.ID != id || got.EstimatedUSD != abi.NanoUSD(e.NanoUSD).USD() || p == nil || p.Source != e.Source.String() ||
				p.Input == nil || int64(*p.Input) != e.Prices.Input || p.Output == nil || int64(*p.Output) != e.Prices.Output ||
				(a.CacheWriteTokens > 0) != (p.CacheWrite != nil) || (p.CacheWrite != nil && int64(*p.CacheWrite) != e.Prices.CacheWrite5m) ||
				got.CacheWrite1hTokens != a.CacheWrite1hTokens ||
				(a.CacheWrite1hTokens > 0) != (p.CacheWrite1h != nil) || (p.CacheWrite1h != nil && int64(*p.CacheWrite1h) != e.Prices.CacheWrite1h) {
				t.Fatalf("writer %d attempt %d: stored %s; want ID %d, estimate %+v", w, i, describe(got), id, e)
			}
		}
	}
	n, err := s.LocalCostNanosInPeriod(context.Background(), "anthropic", attemptT0, attemptT0.Add(time.Hour))
	if err != nil || int64(n) != sum {
		t.Fatalf("LocalCostNanosInPeriod = %d, %v; want exactly %d", n, err, sum)
	}
}

// pricedAttemptsArgs are the arguments of the priced-attempts child.
type pricedAttemptsArgs struct {
	Path   string
	Prices string // a price table file; "" for the embedded table
	N      int    // the child records as writer N
	M      int    // attempts to record
}

var _ = proc.Role("priced-attempts", pricedAttemptsChild)

// pricedAttemptsChild records M attempts pricedTestAttempt(N, i) in a
// store priced by its table, and prints "ack ID" for each.
func pricedAttemptsChild() int {
	var a pricedAttemptsArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	tab := pricing.Default()
	if a.Prices != "" {
		var err error
		if tab, err = pricing.LoadFile(a.Prices); err != nil {
			proc.Fail("load prices: %v", err)
		}
	}
	s, err := host.OpenWithConfig(a.Path, host.NewConfig().WithPricing(tab))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	for i := range a.M {
		id, err := s.RecordAttempt(context.Background(), pricedTestAttempt(a.N, i))
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

// TestAttemptPricingProcesses prices attempts in two child processes, one
// with the embedded table and one with a table loaded from a file, while
// this process records too: each attempt carries its own process's
// estimate and prices, IDs are unique, and the cost sum is exact.
func TestAttemptPricingProcesses(t *testing.T) {
	proc.Skip(t)
	path, cacheDir := tempStorePath(t), childCacheDir(t)
	pricesFile := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(pricesFile, []byte(testPrices), 0o600); err != nil {
		t.Fatal(err)
	}
	fileTable, err := pricing.LoadFile(pricesFile)
	if err != nil {
		t.Fatal(err)
	}
	s := openPricedStore(t, path, pricing.Default())
	per := proc.Rounds(t, 200, 80)
	specs := []proc.Spec{
		{Role: "priced-attempts", Args: pricedAttemptsArgs{Path: path, N: 1, M: per}, Env: childEnv(cacheDir)},
		{Role: "priced-attempts", Args: pricedAttemptsArgs{Path: path, Prices: pricesFile, N: 2, M: per}, Env: childEnv(cacheDir)},
	}
	ids := raceChildren(t, specs, per, true, func(i int) int64 {
		id, err := s.RecordAttempt(context.Background(), pricedTestAttempt(0, i))
		if err != nil {
			t.Fatal(err)
		}
		return id
	})
	checkAttemptIDs(t, ids)
	table := func(w int) *pricing.Table {
		if w == 2 {
			return fileTable
		}
		return pricing.Default()
	}
	checkPricedRows(t, s, ids, table)
	checkPricedRows(t, openStoreAt(t, path), ids, table)
	t.Logf("%d, %d and %d priced attempts from 3 processes", len(ids[0]), len(ids[1]), len(ids[2]))
}

// ExampleConfig_WithPricing opens a store that prices provider attempts
// from the embedded genai-prices table: an attempt recorded without a
// cost is stored with its estimate and the prices it used; one the table
// cannot price is marked unpriced.
func ExampleConfig_WithPricing() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := host.OpenWithConfig(filepath.Join(dir, "sessions.db"), host.NewConfig().WithPricing(pricing.Default()))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	start := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	for _, model := range []string{"claude-sonnet-4-5", "claude-from-the-future"} {
		if _, err := s.RecordAttempt(ctx, abi.ProviderAttempt{
			Session: "demo", Turn: 1, Provider: "anthropic", Model: model,
			StartedAt: start, EndedAt: start.Add(2 * time.Second), TerminatedReason: abi.AttemptComplete,
			InputTokens: 1200, OutputTokens: 800, CacheReadTokens: 50_000,
		}); err != nil {
			log.Fatal(err)
		}
	}
	attempts, err := s.AttemptsForTurn(ctx, "demo", 1)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range attempts {
		fmt.Printf("%s: $%.6f unpriced=%v\n", a.Model, a.EstimatedUSD, a.Price.Unpriced())
		if p := a.Price; !p.Unpriced() {
			fmt.Printf("  input $%.2f, output $%.2f, cache read $%.2f per MTok\n", p.Input.USD(), p.Output.USD(), p.CacheRead.USD())
		} else {
			fmt.Println(" ", strings.SplitN(p.Source, " (", 2)[0])
		}
	}
	// Output:
	// claude-sonnet-4-5: $0.030600 unpriced=false
	//   input $3.00, output $15.00, cache read $0.30 per MTok
	// claude-from-the-future: $0.000000 unpriced=true
	//   unpriced: unknown model
}

// ptrOr0 is *v, or 0 for nil.
func ptrOr0(v *abi.NanoUSD) abi.NanoUSD {
	if v == nil {
		return 0
	}
	return *v
}
