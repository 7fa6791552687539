package host_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// ExampleOpenCostLedger records the cost of three provider calls in a
// cost ledger beside the session store and reads the totals back: per
// provider and per session in dollars, and one provider's exact total over
// a billing period in nano-dollars, as a reconciliation compares it.
func ExampleOpenCostLedger() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Real callers open host.DefaultCostLedgerPath(), usually with
	// OpenCostLedgerWithConfig and a KEK source, so that the ledger is
	// encrypted under a data key of its own.
	l, err := host.OpenCostLedger(filepath.Join(dir, "costs.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ctx := context.Background()
	// Record takes dollars, as a price estimate gives them, and stores
	// whole nano-dollars; the time is now.
	if err := l.Record(ctx, "sess-1", "anthropic", "claude-sonnet-4-5", 12_000, 800, 0.048); err != nil {
		log.Fatal(err)
	}
	if err := l.Record(ctx, "sess-2", "openai", "gpt-5", 3_000, 1_200, 0.01575); err != nil {
		log.Fatal(err)
	}
	// RecordEntry takes nano-dollars, a time and the attempt it pays for.
	march := time.Date(2026, 3, 14, 9, 26, 0, 0, time.UTC)
	if _, err := l.RecordEntry(ctx, host.LedgerEntry{
		Time: march, Session: "sess-1", Provider: "anthropic", Model: "claude-sonnet-4-5",
		RequestID: "req_011CTy", AttemptID: 42, InputTokens: 2_000, CacheReadTokens: 10_000,
		Cost: abi.NanoUSD(9_000_000),
	}); err != nil {
		log.Fatal(err)
	}

	byProvider, err := l.CostByProvider(ctx, time.Time{}) // zero: every entry
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("anthropic $%.6f, openai $%.6f\n", byProvider["anthropic"], byProvider["openai"])

	bySession, err := l.CostBySession(ctx, march.Add(time.Minute)) // since: the March entry is older
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("since March 14: sess-1 $%.6f, sess-2 $%.6f\n", bySession["sess-1"], bySession["sess-2"])

	n, err := l.CostInPeriod(ctx, "anthropic", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("anthropic in March 2026: %d nano-dollars\n", n)
	// Output:
	// anthropic $0.057000, openai $0.015750
	// since March 14: sess-1 $0.048000, sess-2 $0.015750
	// anthropic in March 2026: 9000000 nano-dollars
}

// ExampleCostLedger_SyncAttempts records a provider attempt in the
// session store and then its cost in the ledger; a crash between the two
// loses nothing, because a sync (at start-up, on a schedule, before
// retention deletes attempts) records what the ledger lacks, and nothing
// twice, because attempts are recorded once per source and attempt ID.
func ExampleCostLedger_SyncAttempts() {
	dir, err := os.MkdirTemp("", "gofastr-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	storePath := filepath.Join(dir, "sessions.db")
	s, err := host.Open(storePath)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	l, err := host.OpenCostLedger(filepath.Join(dir, "costs.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	// One name per session store, the same at every start: its path.
	source := storePath

	start := time.Date(2026, 3, 14, 9, 26, 0, 0, time.UTC)
	for i, usd := range []float64{0.048, 0.0125, 0.3} {
		a := abi.ProviderAttempt{
			Session: "sess-1", Turn: i, Provider: "anthropic", Model: "claude-sonnet-4-5",
			StartedAt: start, EndedAt: start.Add(2 * time.Second), TerminatedReason: abi.AttemptComplete,
			InputTokens: 12_000, OutputTokens: 800, EstimatedUSD: usd,
		}
		if a.ID, err = s.RecordAttempt(ctx, a); err != nil {
			log.Fatal(err)
		}
		if i == 1 {
			continue // as if the process died before the ledger write
		}
		if _, err := l.RecordAttempt(ctx, source, a); err != nil {
			log.Fatal(err)
		}
	}

	n, err := l.SyncAttempts(ctx, source, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sync added", n)
	if n, err = l.SyncAttempts(ctx, source, s); err != nil {
		log.Fatal(err)
	}
	fmt.Println("again:", n)
	total, err := l.CostInPeriod(ctx, "anthropic", start, start.Add(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("anthropic:", int64(total), "nano-dollars")
	// Output:
	// sync added 1
	// again: 0
	// anthropic: 360500000 nano-dollars
}
