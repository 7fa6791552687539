package host_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

// oldDay is the offset from attemptT0 of the attempts written by an older
// schema: a day before, outside the hour that checkAttemptRows sums.
const oldDay = -24 * time.Hour

// oldAttempts are attempts as a store before schema 5 held them, with IDs
// 1, 2, ... in order: one priced with a snapshot, one unpriced, one with
// neither cost nor snapshot, one with a cost only, one free by its
// snapshot, and one unpriced at another provider. Two of the anthropic
// ones and the openai one were priced by nobody.
func oldAttempts() []abi.ProviderAttempt {
	at := func(turn, nusd int, p *abi.AttemptPrice) abi.ProviderAttempt {
		a := testAttempt("old", turn, int64(nusd), oldDay+time.Duration(turn)*time.Minute)
		a.CacheWrite1hTokens, a.Price, a.ID = 0, p, int64(turn)
		return a
	}
	other := at(6, 0, &abi.AttemptPrice{Source: abi.UnpricedPrefix + "unknown provider (t 2026-06-01)"})
	other.Provider = "openai"
	return []abi.ProviderAttempt{
		at(1, 1_234_567, &abi.AttemptPrice{Source: "genai-prices 2026-06-01", Input: nano(3e9), Output: nano(15e9), CacheRead: nano(3e8), CacheWrite: nano(3_750_000_000)}),
		at(2, 0, &abi.AttemptPrice{Source: abi.UnpricedPrefix + "unknown model (t 2026-06-01)"}),
		at(3, 0, nil),
		at(4, 999, nil),
		at(5, 0, &abi.AttemptPrice{Source: "harness"}),
		other,
	}
}

// checkOldAttempts fails t unless s holds oldAttempts unchanged, with no
// 1-hour cache writes, and counts their costs and unpriced ones.
func checkOldAttempts(t *testing.T, s *host.Store) {
	t.Helper()
	ctx := context.Background()
	for _, want := range oldAttempts() {
		got, err := s.AttemptsForTurn(ctx, want.Session, want.Turn)
		if err != nil || len(got) != 1 || !sameAttempt(got[0], want) || got[0].CacheWrite1hTokens != 0 ||
			(got[0].Price != nil && got[0].Price.CacheWrite1h != nil) {
			t.Fatalf("old attempt %d read back as %v, %v; want %s", want.ID, got, err, describe(want))
		}
	}
	start, end := attemptT0.Add(oldDay), attemptT0.Add(oldDay+time.Hour)
	if n, err := s.LocalCostNanosInPeriod(ctx, "anthropic", start, end); err != nil || n != 1_234_567+999 {
		t.Fatalf("LocalCostNanosInPeriod = %d, %v; want %d", n, err, 1_234_567+999)
	}
	for p, want := range map[string]int{"anthropic": 2, "openai": 1, "zai": 0} {
		if n, err := s.UnpricedAttemptsInPeriod(ctx, p, start, end); err != nil || n != want {
			t.Fatalf("UnpricedAttemptsInPeriod(%s) = %d, %v; want %d", p, n, err, want)
		}
	}
}

// TestAttemptsSchemaUpgrade builds stores at schema versions 3 and 4 as
// those versions wrote them, with attempts and (at 4) a reconciliation;
// opening one migrates it: every row reads back as it was, with no 1-hour
// cache writes and no unpriced count, the index of unpriced attempts
// exists and serves their count, and new rows get the next IDs.
func TestAttemptsSchemaUpgrade(t *testing.T) {
	for _, v := range []int{3, 4} {
		t.Run(fmt.Sprint("schema", v), func(t *testing.T) {
			path := tempStorePath(t)
			var recs []host.Reconciliation
			if v == 4 {
				recs = []host.Reconciliation{testReconciliation("anthropic", -30, 5_000, 7_000)}
			}
			if err := host.WriteOldStore(path, v, oldAttempts(), recs); err != nil {
				t.Fatal(err)
			}
			s := openStoreAt(t, path)
			ctx := context.Background()
			if err := s.EnsureAttemptsSchema(ctx); err != nil {
				t.Fatal(err)
			}
			if exists, used, err := host.UnpricedIndexUsed(s); err != nil || !exists || !used {
				t.Fatalf("index of unpriced attempts: exists %v, used %v, %v", exists, used, err)
			}
			checkOldAttempts(t, s)

			nextRec := int64(1)
			if v == 4 {
				want := recs[0]
				want.ID, want.VarianceNanos = 1, -2_000
				want.UpstreamUSD, want.LocalUSD, want.VarianceUSD = 5e-6, 7e-6, abi.NanoUSD(-2_000).USD()
				got, err := s.LatestReconciliation(ctx, "anthropic")
				if err != nil || !sameReconciliation(got, want) || got.LocalUnpriced != 0 {
					t.Fatalf("old reconciliation read back as %+v, %v; want %+v", got, err, want)
				}
				nextRec = 2
			} else if _, err := s.LatestReconciliation(ctx, ""); !errors.Is(err, host.ErrNoReconciliations) {
				t.Fatalf("LatestReconciliation = %v, want ErrNoReconciliations", err)
			}

			// A reconciliation of the old attempts counts their unpriced
			// ones, and saves with them.
			start, end := attemptT0.Add(oldDay), attemptT0.Add(oldDay+time.Hour)
			r, err := host.Reconcile(ctx, s, &fakeFetcher{name: "anthropic", usd: 0.01}, start, end, reconT0) // runs last
			if err != nil || r.LocalNanos != 1_234_567+999 || r.LocalUnpriced != 2 {
				t.Fatalf("Reconcile = %+v, %v; want local %d with 2 unpriced", r, err, 1_234_567+999)
			}
			if id, err := s.SaveReconciliation(ctx, r); err != nil || id != nextRec {
				t.Fatalf("SaveReconciliation = %d, %v; want ID %d", id, err, nextRec)
			}
			if got, err := s.LatestReconciliation(ctx, "anthropic"); err != nil || got.ID != nextRec || got.LocalUnpriced != 2 {
				t.Fatalf("LatestReconciliation = %+v, %v; want ID %d with 2 unpriced", got, err, nextRec)
			}

			// A new attempt with 1-hour cache writes takes the next ID.
			a := testAttempt("new", 1, 42, 0)
			a.CacheWrite1hTokens = 7_000
			a.Price = &abi.AttemptPrice{Source: "harness", CacheWrite1h: nano(6e9)}
			a.ID = int64(len(oldAttempts()) + 1)
			if id := mustRecord(t, s, a); id != a.ID {
				t.Fatalf("new attempt got ID %d, want %d", id, a.ID)
			}
			if got := readAttempt(t, s, "new", 1); !sameAttempt(got, a) {
				t.Fatalf("new attempt read back as %s, want %s", describe(got), describe(a))
			}
			checkOldAttempts(t, openStoreAt(t, path))
		})
	}
}

// TestAttemptsSchemaUpgradeProcesses: two child processes and this one
// open a schema 4 store at once (each may be the one that migrates it)
// and record attempts with 1-hour cache writes: the old rows are intact,
// the new ones all there, with unique IDs above the old ones.
func TestAttemptsSchemaUpgradeProcesses(t *testing.T) {
	proc.Skip(t)
	path, cacheDir := tempStorePath(t), childCacheDir(t)
	old := oldAttempts()
	if err := host.WriteOldStore(path, 4, old, nil); err != nil {
		t.Fatal(err)
	}
	per := proc.Rounds(t, 200, 80)
	var specs []proc.Spec
	for c := range 2 {
		specs = append(specs, proc.Spec{Role: "attempts", Args: attemptsArgs{Path: path, N: c + 1, M: per}, Env: childEnv(cacheDir)})
	}
	// This process opens the old store once the children are started,
	// so that all three upgrade it at about the same moment.
	var s *host.Store
	ids := raceChildren(t, specs, per, false, func(i int) int64 {
		if s == nil {
			s = openStoreAt(t, path)
		}
		id, err := s.RecordAttempt(context.Background(), testAttempt("proc-0", i, attemptCost(0, i), time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return id
	})
	checkAttemptIDs(t, ids)
	for w, list := range ids {
		if slices.ContainsFunc(list, func(id int64) bool { return id <= int64(len(old)) }) {
			t.Fatalf("writer %d reused an old attempt's ID: %v", w, list)
		}
	}
	if testAttempt("x", 0, 0, 0).CacheWrite1hTokens == 0 {
		t.Fatal("testAttempt has no 1-hour cache writes: the test proves nothing about them")
	}
	for _, st := range []*host.Store{s, openStoreAt(t, path)} {
		checkAttemptRows(t, st, ids, func(w int) string { return fmt.Sprint("proc-", w) }, []int{0, 1, 2})
		checkOldAttempts(t, st)
	}
}
