package host_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// ledgerBase is a fixed time, in the middle of an hour, for the ledger
// tests' clocks and entries.
var ledgerBase = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

// tempLedgerPath returns a ledger path in a fresh temporary directory.
func tempLedgerPath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "costs.db")
}

// openLedger opens the ledger at path with cfg and closes it when the
// test ends.
func openLedger(tb testing.TB, path string, cfg host.Config) *host.CostLedger {
	tb.Helper()
	l, err := host.OpenCostLedgerWithConfig(path, cfg)
	if err != nil {
		tb.Fatalf("OpenCostLedgerWithConfig(%s): %v", path, err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// mustRecordEntry records e and returns its ID.
func mustRecordEntry(tb testing.TB, l *host.CostLedger, e host.LedgerEntry) int64 {
	tb.Helper()
	id, err := l.RecordEntry(context.Background(), e)
	if err != nil {
		tb.Fatalf("RecordEntry(%+v): %v", e, err)
	}
	return id
}

// ledgerTotals are the expected totals of a set of entries, computed
// entry by entry.
type ledgerTotals struct{ entries []host.LedgerEntry }

func (m *ledgerTotals) by(since time.Time, key func(host.LedgerEntry) string) map[string]abi.NanoUSD {
	out := map[string]abi.NanoUSD{}
	for _, e := range m.entries {
		if since.IsZero() || !e.Time.Before(since) {
			out[key(e)] += e.Cost
		}
	}
	return out
}

func (m *ledgerTotals) inPeriod(provider string, start, end time.Time) abi.NanoUSD {
	var n abi.NanoUSD
	for _, e := range m.entries {
		if e.Provider == provider && !e.Time.Before(start) && e.Time.Before(end) {
			n += e.Cost
		}
	}
	return n
}

func byProvider(e host.LedgerEntry) string { return e.Provider }
func bySession(e host.LedgerEntry) string  { return e.Session }

// equalTotals fails tb if got and want differ.
func equalTotals(tb testing.TB, what string, got, want map[string]abi.NanoUSD) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("%s: %d names, want %d: got %v, want %v", what, len(got), len(want), got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			tb.Errorf("%s: %q = %d, want %d", what, k, got[k], v)
		}
	}
}

// checkLedger fails tb unless the ledger's hourly totals agree with its
// entries.
func checkLedger(tb testing.TB, l *host.CostLedger) {
	tb.Helper()
	if err := host.LedgerCheck(l); err != nil {
		tb.Fatal(err)
	}
}

// oddNames are session names that JSON and SQL must carry unchanged.
var oddNames = []string{"sess-1", "sess-2", `q"uote`, `back\slash`, `\"`, "tab\tnew\nline\x01", "ünï©ødé 🚀", `{"a":1,"b":}`, "comma,colon:", "'; DROP TABLE entries; --", " ", "\u0041", "\x7f", `\u0041`}

// TestLedgerTotals records entries at random times over a day, some before
// 1970 and at hour boundaries, and compares every total, for random
// periods that start inside hours, on boundaries and before everything,
// with sums computed entry by entry.
func TestLedgerTotals(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	rng := proc.Rand(t, 1)
	var m ledgerTotals
	providers := []string{"anthropic", "openai", "openrouter", "zai"}
	times := []time.Time{ledgerBase.Truncate(time.Hour), ledgerBase.Truncate(time.Hour).Add(-1), time.Unix(-3600*5-1, 7)}
	for i := range 600 {
		at := ledgerBase.Add(time.Duration(rng.Int64N(int64(24*time.Hour))) - 12*time.Hour)
		if i < len(times) {
			at = times[i]
		}
		e := host.LedgerEntry{
			Time:     at,
			Session:  oddNames[rng.IntN(len(oddNames))],
			Provider: providers[rng.IntN(len(providers))],
			Model:    "m",
			Cost:     abi.NanoUSD(rng.Int64N(5_000_000_000)),
		}
		id := mustRecordEntry(t, l, e)
		if id != int64(i+1) {
			t.Fatalf("entry %d got ID %d, want %d", i, id, i+1)
		}
		m.entries = append(m.entries, e)
	}
	checkLedger(t, l)
	sinces := []time.Time{{}, time.Unix(-3600*5-1, 7), ledgerBase.Truncate(time.Hour), ledgerBase.Truncate(time.Hour).Add(1),
		ledgerBase.Add(13 * time.Hour), ledgerBase.Add(-13 * time.Hour)}
	for range 20 {
		sinces = append(sinces, ledgerBase.Add(time.Duration(rng.Int64N(int64(26*time.Hour)))-13*time.Hour))
	}
	for _, since := range sinces {
		got, err := l.CostByProviderNanos(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		equalTotals(t, fmt.Sprintf("CostByProviderNanos(%v)", since), got, m.by(since, byProvider))
		got, err = l.CostBySessionNanos(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		equalTotals(t, fmt.Sprintf("CostBySessionNanos(%v)", since), got, m.by(since, bySession))
		usd, err := l.CostByProvider(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range m.by(since, byProvider) {
			if usd[k] != v.USD() {
				t.Errorf("CostByProvider(%v)[%s] = %v, want %v", since, k, usd[k], v.USD())
			}
		}
		usd, err = l.CostBySession(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range m.by(since, bySession) {
			if usd[k] != v.USD() {
				t.Errorf("CostBySession(%v)[%s] = %v, want %v", since, k, usd[k], v.USD())
			}
		}
	}
	for i := range 60 {
		start := ledgerBase.Add(time.Duration(rng.Int64N(int64(26*time.Hour))) - 13*time.Hour)
		end := start.Add(time.Duration(rng.Int64N(int64(10 * time.Hour))))
		switch i % 4 {
		case 0:
			start = start.Truncate(time.Hour)
		case 1:
			end = end.Truncate(time.Hour)
		case 2:
			end = start.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		}
		if end.Before(start) {
			end = start
		}
		for _, p := range append(providers, "none") {
			got, err := l.CostInPeriod(ctx, p, start, end)
			if err != nil {
				t.Fatal(err)
			}
			if want := m.inPeriod(p, start, end); got != want {
				t.Errorf("CostInPeriod(%s, %v, %v) = %d, want %d", p, start, end, got, want)
			}
			if local, err := l.LocalCostNanosInPeriod(ctx, p, start, end); err != nil || local != got {
				t.Errorf("LocalCostNanosInPeriod(%s, %v, %v) = %d, %v; want %d like CostInPeriod", p, start, end, local, err, got)
			}
		}
	}
}

// TestLedgerRecord checks Record: the clock's time, the rounding of
// dollars to nano-dollars, and that the entry is in the totals.
func TestLedgerRecord(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, tempLedgerPath(t), host.NewConfig().WithClock(func() time.Time { return ledgerBase }))
	amounts := []float64{0.1, 0.2, 1e-9, 4e-10, 6e-10, 0, 12.345678901, 1234.5}
	var want abi.NanoUSD
	for _, usd := range amounts {
		if err := l.Record(ctx, "s1", "anthropic", "claude-sonnet-4-5", 1200, 340, usd); err != nil {
			t.Fatalf("Record(%v): %v", usd, err)
		}
		want += abi.NanoUSD(math.Round(usd * 1e9))
	}
	got, err := l.CostByProviderNanos(ctx, ledgerBase)
	if err != nil {
		t.Fatal(err)
	}
	if got["anthropic"] != want || len(got) != 1 {
		t.Fatalf("CostByProviderNanos = %v, want anthropic %d", got, want)
	}
	got, err = l.CostByProviderNanos(ctx, ledgerBase.Add(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("entries at the clock's time counted after it: %v", got)
	}
	n, err := l.CostInPeriod(ctx, "anthropic", ledgerBase, ledgerBase.Add(1))
	if err != nil || n != want {
		t.Fatalf("CostInPeriod = %d, %v; want %d", n, err, want)
	}
	checkLedger(t, l)
}

// TestLedgerInvalid checks that bad input is refused with
// ErrInvalidArgument and stores nothing.
func TestLedgerInvalid(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, tempLedgerPath(t), host.NewConfig().WithClock(func() time.Time { return ledgerBase }))
	good := host.LedgerEntry{Session: "s", Provider: "p", Model: "m", Cost: 5}
	long := strings.Repeat("x", host.MaxAttemptString+1)
	bad := map[string]func(e *host.LedgerEntry){
		"empty session":    func(e *host.LedgerEntry) { e.Session = "" },
		"empty provider":   func(e *host.LedgerEntry) { e.Provider = "" },
		"empty model":      func(e *host.LedgerEntry) { e.Model = "" },
		"long session":     func(e *host.LedgerEntry) { e.Session = long },
		"long provider":    func(e *host.LedgerEntry) { e.Provider = long },
		"long model":       func(e *host.LedgerEntry) { e.Model = long },
		"long request ID":  func(e *host.LedgerEntry) { e.RequestID = long },
		"negative cost":    func(e *host.LedgerEntry) { e.Cost = -1 },
		"negative tokens":  func(e *host.LedgerEntry) { e.OutputTokens = -1 },
		"negative cache":   func(e *host.LedgerEntry) { e.CacheWriteTokens = -1 },
		"negative attempt": func(e *host.LedgerEntry) { e.AttemptID = -1 },
		"time before 1678": func(e *host.LedgerEntry) { e.Time = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) },
		"time after 2262":  func(e *host.LedgerEntry) { e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"invalid UTF-8":    func(e *host.LedgerEntry) { e.Session = "s\xff" },
		"NUL byte":         func(e *host.LedgerEntry) { e.Model = "m\x00" },
	}
	for name, f := range bad {
		e := good
		f(&e)
		if _, err := l.RecordEntry(ctx, e); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("%s: RecordEntry = %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := l.RecordEntry(ctx, host.LedgerEntry{Provider: "p", Model: "m"}); !errors.Is(err, host.ErrEmptySession) {
		t.Errorf("empty session: %v, want it to match ErrEmptySession too", err)
	}
	for _, usd := range []float64{-0.01, math.NaN(), math.Inf(1), math.Inf(-1), 1e10} {
		if err := l.Record(ctx, "s", "p", "m", 1, 1, usd); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("Record(usd %v) = %v, want ErrInvalidArgument", usd, err)
		}
	}
	for _, args := range [][3]string{{"", "p", "m"}, {"s", "", "m"}, {"s", "p", ""}, {long, "p", "m"}} {
		if err := l.Record(ctx, args[0], args[1], args[2], 1, 1, 0.5); !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("Record(%.10q, %q, %q) = %v, want ErrInvalidArgument", args[0], args[1], args[2], err)
		}
	}
	if err := l.Record(ctx, "s", "p", "m", -1, 1, 0.5); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("Record with negative tokens = %v, want ErrInvalidArgument", err)
	}
	// Nothing was stored: the first good entry gets ID 1.
	for name, got := range map[string]func() (map[string]abi.NanoUSD, error){
		"provider": func() (map[string]abi.NanoUSD, error) { return l.CostByProviderNanos(ctx, time.Time{}) },
		"session":  func() (map[string]abi.NanoUSD, error) { return l.CostBySessionNanos(ctx, time.Time{}) },
	} {
		m, err := got()
		if err != nil || len(m) != 0 {
			t.Errorf("by %s after refused writes: %v, %v; want nothing", name, m, err)
		}
	}
	e := good
	e.Session, e.Provider, e.Model, e.RequestID = long[1:], long[1:], long[1:], long[1:]
	if id := mustRecordEntry(t, l, e); id != 1 {
		t.Errorf("first stored entry has ID %d, want 1", id)
	}

	// Reads.
	if _, err := l.CostInPeriod(ctx, "", ledgerBase, ledgerBase); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("CostInPeriod with empty provider = %v", err)
	}
	if _, err := l.CostInPeriod(ctx, "p", ledgerBase, ledgerBase.Add(-1)); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("CostInPeriod ending before it starts = %v", err)
	}
	if _, err := l.CostInPeriod(ctx, "p", time.Time{}, ledgerBase); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("CostInPeriod from a zero time = %v", err)
	}
	if _, err := l.CostInPeriod(ctx, "p", ledgerBase, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("CostInPeriod to 2300 = %v", err)
	}
	if n, err := l.CostInPeriod(ctx, "p", ledgerBase, ledgerBase); err != nil || n != 0 {
		t.Errorf("CostInPeriod of an empty period = %d, %v", n, err)
	}
	old := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := l.CostByProvider(ctx, old); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("CostByProvider(1600) = %v", err)
	}
	if _, err := l.CostBySession(ctx, old); !errors.Is(err, host.ErrInvalidArgument) {
		t.Errorf("CostBySession(1600) = %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.CostByProvider(canceled, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Errorf("CostByProvider with a canceled context = %v", err)
	}
	if err := l.Record(canceled, "s", "p", "m", 1, 1, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Record with a canceled context = %v", err)
	}
}

// TestLedgerOverflow checks that an hourly total beyond int64
// nano-dollars fails the write that would make it, and that totals
// across hours beyond it fail the read, rather than wrap or turn into
// floats.
func TestLedgerOverflow(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	big := abi.NanoUSD(math.MaxInt64 - 10)
	e := host.LedgerEntry{Time: ledgerBase, Session: "s", Provider: "p", Model: "m", Cost: big}
	mustRecordEntry(t, l, e)
	e.Cost = 11
	if _, err := l.RecordEntry(ctx, e); !errors.Is(err, host.ErrInvalidArgument) || !errors.Is(err, host.ErrCostOverflow) {
		t.Fatalf("a write that takes an hourly total beyond int64: %v, want ErrInvalidArgument and ErrCostOverflow", err)
	}
	e.Time = ledgerBase.Add(time.Hour) // the same session in another hour: over its total
	if _, err := l.RecordEntry(ctx, e); !errors.Is(err, host.ErrCostOverflow) {
		t.Fatalf("a write that takes a session's total beyond int64: %v, want ErrCostOverflow", err)
	}
	e.Session = "s2" // another session in another hour: the write is fine
	mustRecordEntry(t, l, e)
	checkLedger(t, l)
	if got, err := l.CostByProviderNanos(ctx, time.Time{}); !errors.Is(err, host.ErrCostOverflow) {
		t.Fatalf("a total beyond int64: %v, %v; want ErrCostOverflow", got, err)
	}
	if got, err := l.CostByProvider(ctx, ledgerBase.Add(-time.Minute)); !errors.Is(err, host.ErrCostOverflow) {
		t.Fatalf("a total beyond int64 (partly from entries): %v, %v; want ErrCostOverflow", got, err)
	}
	if got, err := l.CostBySessionNanos(ctx, time.Time{}); err != nil || got["s"] != big || got["s2"] != 11 {
		t.Fatalf("totals by session = %v, %v", got, err)
	}
	if got, err := l.CostInPeriod(ctx, "p", ledgerBase.Add(-time.Hour), ledgerBase.Add(2*time.Hour)); !errors.Is(err, host.ErrCostOverflow) {
		t.Fatalf("a period total beyond int64: %v, %v; want ErrCostOverflow", got, err)
	}
	if got, err := l.CostByProviderNanos(ctx, ledgerBase.Add(time.Minute)); err != nil || got["p"] != 11 {
		t.Fatalf("total of the second hour = %v, %v; want 11", got, err)
	}
}

// TestLedgerRangeEnds records entries at both ends of the storable range,
// where hour boundaries fall outside int64, and checks that every total
// counts them.
func TestLedgerRangeEnds(t *testing.T) {
	ctx := context.Background()
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	first, last := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	var m ledgerTotals
	for i, at := range []time.Time{first, first.Add(time.Minute), first.Add(3 * time.Hour), last.Add(-3 * time.Hour), last.Add(-time.Minute), last} {
		e := host.LedgerEntry{Time: at, Session: fmt.Sprint("s", i%2), Provider: "p", Model: "m", Cost: abi.NanoUSD(1 << i)}
		mustRecordEntry(t, l, e)
		m.entries = append(m.entries, e)
	}
	checkLedger(t, l)
	for _, since := range []time.Time{{}, first, first.Add(time.Second), first.Add(2 * time.Hour), last.Add(-2 * time.Hour), last.Add(-30 * time.Minute), last} {
		got, err := l.CostByProviderNanos(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		equalTotals(t, fmt.Sprintf("CostByProviderNanos(%v)", since), got, m.by(since, byProvider))
		got, err = l.CostBySessionNanos(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		equalTotals(t, fmt.Sprintf("CostBySessionNanos(%v)", since), got, m.by(since, bySession))
	}
	for _, p := range [][2]time.Time{{first, last}, {first, first.Add(time.Minute)}, {first, first.Add(time.Minute + 1)}, {first.Add(time.Second), last},
		{last.Add(-time.Hour), last}, {first, first.Add(5 * time.Hour)}} {
		got, err := l.CostInPeriod(ctx, "p", p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		if want := m.inPeriod("p", p[0], p[1]); got != want {
			t.Errorf("CostInPeriod(%v, %v) = %d, want %d", p[0], p[1], got, want)
		}
	}
}

// TestLedgerClosed checks that every method fails with ErrLedgerClosed
// after Close, and that Close can be called again.
func TestLedgerClosed(t *testing.T) {
	ctx := context.Background()
	l, err := host.OpenCostLedger(tempLedgerPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, "s", "p", "m", 1, 2, 0.25); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Record":      func() error { return l.Record(ctx, "s", "p", "m", 1, 2, 0.25) },
		"Record(bad)": func() error { return l.Record(ctx, "", "", "", -1, 2, -0.25) },
		"RecordEntry": func() error {
			_, err := l.RecordEntry(ctx, host.LedgerEntry{Session: "s", Provider: "p", Model: "m"})
			return err
		},
		"CostByProvider": func() error {
			_, err := l.CostByProvider(ctx, time.Time{})
			return err
		},
		"CostBySession":       func() error { _, err := l.CostBySession(ctx, time.Time{}); return err },
		"CostByProviderNanos": func() error { _, err := l.CostByProviderNanos(ctx, ledgerBase); return err },
		"CostBySessionNanos":  func() error { _, err := l.CostBySessionNanos(ctx, ledgerBase); return err },
		"CostInPeriod":        func() error { _, err := l.CostInPeriod(ctx, "p", ledgerBase, ledgerBase.Add(time.Hour)); return err },
		"RecordAttempt": func() error {
			a := syncAttempt("s", 1)
			a.ID = 1
			_, err := l.RecordAttempt(ctx, "src", a)
			return err
		},
		"RecordAttempt(bad)": func() error { _, err := l.RecordAttempt(ctx, "", abi.ProviderAttempt{}); return err },
		"SyncAttempts":       func() error { _, err := l.SyncAttempts(ctx, "src", sliceSource{}); return err },
		"SyncAttempts(bad)":  func() error { _, err := l.SyncAttempts(ctx, "", nil); return err },
	}
	for name, f := range calls {
		if err := f(); !errors.Is(err, host.ErrLedgerClosed) || !errors.Is(err, host.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrLedgerClosed (and ErrClosed)", name, err)
		}
	}
	for range 2 {
		if err := l.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	}
}

// TestLedgerCloseWhileWriting closes a ledger while goroutines record:
// every call returns nil or ErrLedgerClosed, and every acknowledged entry
// is in the ledger when it is opened again.
func TestLedgerCloseWhileWriting(t *testing.T) {
	path := tempLedgerPath(t)
	l, err := host.OpenCostLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked abi.NanoUSD
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := l.RecordEntry(context.Background(), host.LedgerEntry{Session: fmt.Sprint(g), Provider: "p", Model: "m", Cost: 3})
				if err != nil {
					if !errors.Is(err, host.ErrLedgerClosed) {
						t.Errorf("RecordEntry during Close: %v", err)
					}
					return
				}
				mu.Lock()
				acked += 3
				mu.Unlock()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	l = openLedger(t, path, host.NewConfig())
	got, err := l.CostByProviderNanos(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got["p"] != acked || acked == 0 {
		t.Fatalf("after Close during writes: total %d, acknowledged %d", got["p"], acked)
	}
}

// TestLedgerKinds checks that a session store does not open as a ledger
// and a ledger does not open as a session store, plaintext or encrypted,
// with ErrNotStore naming the path, and that neither is changed.
func TestLedgerKinds(t *testing.T) {
	dir := t.TempDir()
	kek := keyring.RawKEK(encKEK)
	for _, enc := range []bool{false, true} {
		cfg := host.NewConfig()
		if enc {
			cfg = cfg.WithKEKSource(kek)
		}
		storePath := filepath.Join(dir, fmt.Sprintf("store-%v.db", enc))
		s, err := host.OpenWithConfig(storePath, cfg)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, storeEvent("s", 0, abi.KindUserMessage, `{"text":"hi"}`))
		s.Close()
		ledgerPath := filepath.Join(dir, fmt.Sprintf("ledger-%v.db", enc))
		l, err := host.OpenCostLedgerWithConfig(ledgerPath, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Record(context.Background(), "s", "p", "m", 1, 1, 1); err != nil {
			t.Fatal(err)
		}
		l.Close()

		before := storefiles.Take(t, dir)
		if l, err := host.OpenCostLedgerWithConfig(storePath, cfg); !errors.Is(err, host.ErrNotStore) || !strings.Contains(err.Error(), storePath) {
			if err == nil {
				l.Close()
			}
			t.Errorf("encrypted %v: store opened as a ledger: %v, want ErrNotStore naming %s", enc, err, storePath)
		}
		if s, err := host.OpenWithConfig(ledgerPath, cfg); !errors.Is(err, host.ErrNotStore) || !strings.Contains(err.Error(), ledgerPath) {
			if err == nil {
				s.Close()
			}
			t.Errorf("encrypted %v: ledger opened as a store: %v, want ErrNotStore naming %s", enc, err, ledgerPath)
		}
		storefiles.Unchanged(t, dir, before)
	}
}

// TestLedgerEncrypted checks an encrypted ledger: its own data key (not
// the session store's, though both are wrapped under one KEK), no name it
// holds in plaintext in any of its files, the wrong KEK and plaintext
// opens refused with typed errors, and its data after reopening.
func TestLedgerEncrypted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	storePath, ledgerPath := filepath.Join(dir, "sessions.db"), filepath.Join(dir, "costs.db")
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(encKEK))
	s, err := host.OpenWithConfig(storePath, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	marker := string(storefiles.NewMarker())
	l := openLedger(t, ledgerPath, cfg)
	for i := range 200 {
		mustRecordEntry(t, l, host.LedgerEntry{
			Time: ledgerBase.Add(time.Duration(i) * time.Minute), Session: "sess-" + marker, Provider: "prov-" + marker,
			Model: "model-" + marker, RequestID: "req-" + marker, Cost: abi.NanoUSD(i),
		})
	}
	// The WAL holds the entries now; scan with the ledger open, then
	// closed (checkpointed into the database).
	if hits, scanned := storefiles.Scan(t, []byte(marker), dir); len(hits) > 0 || len(scanned) == 0 {
		t.Fatalf("open ledger: marker in %v (scanned %v)", hits, scanned)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if hits, scanned := storefiles.Scan(t, []byte(marker), dir); len(hits) > 0 || len(scanned) == 0 {
		t.Fatalf("closed ledger: marker in %v (scanned %v)", hits, scanned)
	}

	storeDEK, _, err := keyring.LoadOrCreateDEK(storePath, encKEK)
	if err != nil {
		t.Fatal(err)
	}
	ledgerDEK, _, err := keyring.LoadOrCreateDEK(ledgerPath, encKEK)
	if err != nil {
		t.Fatal(err)
	}
	if string(storeDEK) == string(ledgerDEK) {
		t.Fatal("the ledger shares the session store's data key")
	}

	before := storefiles.Take(t, dir)
	wrong := bytes32(0x77)
	if l, err := host.OpenCostLedgerWithConfig(ledgerPath, host.NewConfig().WithKEKSource(keyring.RawKEK(wrong))); !errors.Is(err, keyring.ErrWrongKEK) {
		if err == nil {
			l.Close()
		}
		t.Errorf("wrong KEK: %v, want keyring.ErrWrongKEK", err)
	}
	if l, err := host.OpenCostLedgerWithConfig(ledgerPath, host.NewConfig().WithKey(storeDEK)); !errors.Is(err, sqlitevfs.ErrWrongKey) {
		if err == nil {
			l.Close()
		}
		t.Errorf("the store's data key: %v, want sqlitevfs.ErrWrongKey", err)
	}
	if l, err := host.OpenCostLedger(ledgerPath); !errors.Is(err, host.ErrEncryptedStore) {
		if err == nil {
			l.Close()
		}
		t.Errorf("plaintext open of an encrypted ledger: %v, want ErrEncryptedStore", err)
	}
	storefiles.Unchanged(t, dir, before)

	plainPath := filepath.Join(dir, "plain-costs.db")
	pl := openLedger(t, plainPath, host.NewConfig())
	pl.Close()
	if l, err := host.OpenCostLedgerWithConfig(plainPath, cfg); !errors.Is(err, host.ErrPlaintextStore) {
		if err == nil {
			l.Close()
		}
		t.Errorf("encrypted open of a plaintext ledger: %v, want ErrPlaintextStore", err)
	}

	l = openLedger(t, ledgerPath, host.NewConfig().WithKey(ledgerDEK))
	got, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := abi.NanoUSD(199 * 200 / 2); got["sess-"+marker] != want {
		t.Fatalf("after reopening: %v, want %d", got, want)
	}
}

// bytes32 returns 32 bytes of b.
func bytes32(b byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b
	}
	return k
}

// TestLedgerRekey checks that Rekey replaces an encrypted ledger's data
// key and keeps its data, and that it is refused while the ledger is open;
// and that keyring.RotateKEK rewraps its header.
func TestLedgerRekey(t *testing.T) {
	ctx := context.Background()
	path := tempLedgerPath(t)
	kek := keyring.RawKEK(encKEK)
	l, err := host.OpenCostLedgerWithConfig(path, host.NewConfig().WithKEKSource(kek))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustRecordEntry(t, l, host.LedgerEntry{Time: ledgerBase.Add(time.Duration(i) * time.Minute), Session: "s", Provider: "p", Model: "m", Cost: 7})
	}
	if err := host.Rekey(path, kek); !errors.Is(err, keyring.ErrInUse) {
		t.Fatalf("Rekey of an open ledger: %v, want keyring.ErrInUse", err)
	}
	l.Close()
	oldDEK, _, err := keyring.LoadOrCreateDEK(path, encKEK)
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Rekey(path, kek); err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	newDEK, _, err := keyring.LoadOrCreateDEK(path, encKEK)
	if err != nil {
		t.Fatal(err)
	}
	if string(oldDEK) == string(newDEK) {
		t.Fatal("Rekey kept the data key")
	}
	if l, err := host.OpenCostLedgerWithConfig(path, host.NewConfig().WithKey(oldDEK)); !errors.Is(err, sqlitevfs.ErrWrongKey) {
		if err == nil {
			l.Close()
		}
		t.Fatalf("old data key after Rekey: %v, want sqlitevfs.ErrWrongKey", err)
	}
	newKEK := bytes32(0x42)
	if err := keyring.RotateKEK(path, encKEK, newKEK); err != nil {
		t.Fatalf("RotateKEK: %v", err)
	}
	l = openLedger(t, path, host.NewConfig().WithKEKSource(keyring.RawKEK(newKEK)))
	got, err := l.CostInPeriod(ctx, "p", ledgerBase, ledgerBase.Add(time.Hour))
	if err != nil || got != 50*7 {
		t.Fatalf("after Rekey and RotateKEK: %d, %v; want %d", got, err, 50*7)
	}
	mustRecordEntry(t, l, host.LedgerEntry{Session: "s", Provider: "p", Model: "m", Cost: 1})
	checkLedger(t, l)
}

// TestLedgerOutlivesStore checks that the ledger keeps its entries when
// the session store drops its sessions' metadata or is deleted outright.
func TestLedgerOutlivesStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	storePath := filepath.Join(dir, "sessions.db")
	now := ledgerBase
	s, err := host.OpenWithConfig(storePath, host.NewConfig().WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	l := openLedger(t, filepath.Join(dir, "costs.db"), host.NewConfig().WithClock(func() time.Time { return ledgerBase }))
	mustAppend(t, s, storeEvent("s1", 0, abi.KindUserMessage, `{"text":"hi"}`))
	if err := l.Record(ctx, "s1", "openai", "gpt-5", 10, 10, 0.5); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if n, err := s.DropMetadata(ctx, time.Hour, nil); err != nil || n != 1 {
		t.Fatalf("DropMetadata = %d, %v", n, err)
	}
	s.Close()
	for _, suf := range storeFileSuffixes {
		os.Remove(storePath + suf)
	}
	got, err := l.CostBySession(ctx, time.Time{})
	if err != nil || got["s1"] != 0.5 {
		t.Fatalf("ledger after the store's data went: %v, %v", got, err)
	}
}

// TestLedgerTwoHandles records from goroutines on two handles of one
// ledger in one process: IDs are unique and the totals exact.
func TestLedgerTwoHandles(t *testing.T) {
	path := tempLedgerPath(t)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(encKEK))
	a, b := openLedger(t, path, cfg), openLedger(t, path, cfg)
	const per = 150
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[int64]bool{}
	)
	for g := range 8 {
		l := a
		if g%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				id, err := l.RecordEntry(context.Background(), host.LedgerEntry{
					Time: ledgerBase.Add(time.Duration(i) * time.Minute), Session: fmt.Sprint("g", g), Provider: fmt.Sprint("p", g%3), Model: "m",
					Cost: abi.NanoUSD(1_000_000_007 + g),
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if ids[id] {
					t.Errorf("ID %d assigned twice", id)
				}
				ids[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ids) != 8*per {
		t.Fatalf("%d IDs, want %d", len(ids), 8*per)
	}
	for _, l := range []*host.CostLedger{a, b} {
		got, err := l.CostBySessionNanos(context.Background(), ledgerBase.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for g := range 8 {
			if want := abi.NanoUSD(per-60) * abi.NanoUSD(1_000_000_007+g); got[fmt.Sprint("g", g)] != want {
				t.Errorf("session g%d: %d, want %d", g, got[fmt.Sprint("g", g)], want)
			}
		}
		checkLedger(t, l)
	}
}

// TestLedgerExactSum fills a ledger with 1,000,000 entries (100,000 with
// -short) of awkward amounts and checks every total against a big.Int
// sum computed here.
func TestLedgerExactSum(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	ctx := context.Background()
	l := openLedger(t, tempLedgerPath(t), host.NewConfig())
	rng := proc.Rand(t, 2)
	awkward := []int64{1, 3, 7, 999_999_999, 1_000_000_001, 333_333_333, 123_456_789_012, 1 << 40, 99_999_999_999}
	providers := []string{"anthropic", "openai", "openrouter"}
	want := map[string]*big.Int{}
	wantSince := map[string]*big.Int{}
	since := ledgerBase.Add(time.Duration(n)*97*time.Millisecond*3/5 + 7)
	es := make([]host.LedgerEntry, 0, n)
	for i := range n {
		c := awkward[rng.IntN(len(awkward))]
		if i%3 == 0 {
			c = rng.Int64N(1 << 40)
		}
		e := host.LedgerEntry{
			Time:     ledgerBase.Add(time.Duration(i) * 97 * time.Millisecond),
			Session:  fmt.Sprint("s", i%1000),
			Provider: providers[i%len(providers)],
			Model:    "m", Cost: abi.NanoUSD(c),
		}
		es = append(es, e)
		for j, m := range []map[string]*big.Int{want, wantSince} {
			if j == 1 && e.Time.Before(since) {
				continue
			}
			if m[e.Provider] == nil {
				m[e.Provider] = new(big.Int)
			}
			m[e.Provider].Add(m[e.Provider], big.NewInt(c))
		}
	}
	start := time.Now()
	if err := host.LedgerLoad(l, es, 10_000); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries loaded in %v", n, time.Since(start))
	for _, c := range []struct {
		since time.Time
		want  map[string]*big.Int
	}{{time.Time{}, want}, {since, wantSince}} {
		got, err := l.CostByProviderNanos(ctx, c.since)
		if err != nil {
			t.Fatal(err)
		}
		usd, err := l.CostByProvider(ctx, c.since)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range providers {
			if !c.want[p].IsInt64() || int64(got[p]) != c.want[p].Int64() {
				t.Errorf("since %v: %s: %d, want %s", c.since, p, got[p], c.want[p])
			}
			if usd[p] != got[p].USD() {
				t.Errorf("since %v: %s: %v USD, want %v", c.since, p, usd[p], got[p].USD())
			}
		}
	}
	end := es[len(es)-1].Time.Add(1)
	for _, p := range providers {
		got, err := l.CostInPeriod(ctx, p, es[0].Time, end)
		if err != nil {
			t.Fatal(err)
		}
		if int64(got) != want[p].Int64() {
			t.Errorf("CostInPeriod(%s) = %d, want %s", p, got, want[p])
		}
	}
	sessions, err := l.CostBySessionNanos(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	total, wantTotal := new(big.Int), new(big.Int)
	for _, v := range sessions {
		total.Add(total, big.NewInt(int64(v)))
	}
	for _, v := range want {
		wantTotal.Add(wantTotal, v)
	}
	if len(sessions) != 1000 || total.Cmp(wantTotal) != 0 {
		t.Errorf("sessions: %d totalling %s, want 1000 totalling %s", len(sessions), total, wantTotal)
	}
}

// TestLedgerPlaintextConversion checks that Encrypt and Rekey, which
// convert and rekey session stores, refuse a plaintext ledger with
// ErrNotStore and change nothing: a ledger is created encrypted or stays
// plaintext.
func TestLedgerPlaintextConversion(t *testing.T) {
	path := tempLedgerPath(t)
	l := openLedger(t, path, host.NewConfig())
	mustRecordEntry(t, l, host.LedgerEntry{Session: "s", Provider: "p", Model: "m", Cost: 1})
	l.Close()
	before := storefiles.Take(t, filepath.Dir(path))
	if err := host.Encrypt(path, keyring.RawKEK(encKEK)); !errors.Is(err, host.ErrNotStore) {
		t.Errorf("Encrypt of a plaintext ledger: %v, want ErrNotStore", err)
	}
	if err := host.Rekey(path, keyring.RawKEK(encKEK)); !errors.Is(err, host.ErrNotStore) {
		t.Errorf("Rekey of a plaintext ledger: %v, want ErrNotStore", err)
	}
	storefiles.Unchanged(t, filepath.Dir(path), before)
}

// TestDefaultCostLedgerPath checks that the default ledger lives beside
// the default session store, in the XDG state directory.
func TestDefaultCostLedgerPath(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	if got, want := host.DefaultCostLedgerPath(), filepath.Join(state, "gofastr", "costs.db"); got != want {
		t.Errorf("DefaultCostLedgerPath() = %q, want %q", got, want)
	}
	if filepath.Dir(host.DefaultCostLedgerPath()) != filepath.Dir(host.DefaultPath()) {
		t.Errorf("ledger %s is not beside the store %s", host.DefaultCostLedgerPath(), host.DefaultPath())
	}
}

// TestLedgerDatabaseLost checks that an encrypted ledger whose database
// is gone but whose DEK header remains fails with ErrDatabaseLost and
// creates nothing, instead of starting an empty ledger.
func TestLedgerDatabaseLost(t *testing.T) {
	path := tempLedgerPath(t)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(encKEK))
	l := openLedger(t, path, cfg)
	mustRecordEntry(t, l, host.LedgerEntry{Session: "s", Provider: "p", Model: "m", Cost: 1})
	l.Close()
	for _, suf := range storeFileSuffixes {
		os.Remove(path + suf)
	}
	before := storefiles.Take(t, filepath.Dir(path))
	if l, err := host.OpenCostLedgerWithConfig(path, cfg); !errors.Is(err, host.ErrDatabaseLost) {
		if err == nil {
			l.Close()
		}
		t.Fatalf("open without the database: %v, want ErrDatabaseLost", err)
	}
	storefiles.Unchanged(t, filepath.Dir(path), before)
}
