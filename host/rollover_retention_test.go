package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// fillMonths writes, in October, November and December 2026, a pinned
// session p and an unpinned one u (events with payloads large enough to
// compress, tool calls, attempts) and a reconciliation, and returns p's
// event IDs.
func fillMonths(t *testing.T, m *host.MonthlyRollover, clock *testClock) (pIDs []uint64, pAttempts []int64) {
	t.Helper()
	ctx := context.Background()
	for i, d := range []time.Time{utc(2026, 10, 5, 0, 0), utc(2026, 11, 5, 0, 0), utc(2026, 12, 5, 0, 0)} {
		clock.set(d)
		if i == 0 {
			if err := m.Pin(ctx, "p"); err != nil {
				t.Fatal(err)
			}
		}
		for j := range 5 {
			big := strings.Repeat(fmt.Sprintf("month %d event %d ", i, j), 60)
			kind := abi.KindAssistantMessage
			if j == 0 {
				kind = abi.KindUserMessage
			}
			id, err := m.Append(ctx, storeEvent("p", i*10+j, kind, fmt.Sprintf(`{"text":%q}`, big)))
			if err != nil {
				t.Fatal(err)
			}
			pIDs = append(pIDs, id)
			rollAppend(t, m, "u", j, `{"u":1}`)
		}
		call := fmt.Sprint("call-", i)
		if err := m.RecordToolIntent(ctx, abi.ToolIntent{Session: "p", CallID: call, Tool: "ls", Args: json.RawMessage(`{"a":1}`), StartedAt: d}); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if err := m.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "p", CallID: call, Status: "ok", EndedAt: d}); err != nil {
				t.Fatal(err)
			}
		}
		a, err := m.RecordAttempt(ctx, rollAttempt("p", 7, d, 0.125))
		if err != nil {
			t.Fatal(err)
		}
		pAttempts = append(pAttempts, a)
		if _, err := m.RecordAttempt(ctx, rollAttempt("u", 7, d, 1)); err != nil {
			t.Fatal(err)
		}
		// Reconciliations are kept whatever the pins.
		if _, err := m.SaveReconciliation(ctx, host.Reconciliation{Provider: "openrouter", PeriodStart: d.Add(-24 * time.Hour), PeriodEnd: d, UpstreamNanos: abi.NanoUSD(i + 1), LocalNanos: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return pIDs, pAttempts
}

// TestRolloverDropMonths deletes October and November with every file of
// theirs; the pinned session is copied forward with its IDs first, the
// unpinned one is gone. Run twice, once after a copy that was
// interrupted before the deletion: nothing is lost or duplicated.
func TestRolloverDropMonths(t *testing.T) {
	for _, interrupted := range []bool{false, true} {
		t.Run(fmt.Sprint("interrupted=", interrupted), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			clock := newTestClock(utc(2026, 10, 5, 0, 0))
			m := newRollover(t, dir, kekConfig(clock))
			pIDs, pAttempts := fillMonths(t, m, clock)
			before, err := m.ListPastSessions(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			paths := mustList(t, m)
			if len(paths) != 3 {
				t.Fatalf("%d months", len(paths))
			}
			recs := reconciliationIDs(allReconciliations(t, m))
			if len(recs) != 3 {
				t.Fatalf("reconciliations %v, want one a month", recs)
			}
			if interrupted {
				// A drop killed after copying October forward.
				oct, err := host.OpenWithKEK(paths[0], rolloverKEK)
				if err != nil {
					t.Fatal(err)
				}
				cur, err := m.Current()
				if err != nil {
					t.Fatal(err)
				}
				if err := host.CopySession(ctx, oct, cur, "p"); err != nil {
					t.Fatal(err)
				}
				if err := host.CopyReconciliations(ctx, oct, cur); err != nil {
					t.Fatal(err)
				}
				oct.Close()
				// Reads merge the two copies' IDs.
				evs, err := m.EventsSince(ctx, "p", 0, 0)
				if err != nil || len(evs) != len(pIDs) {
					t.Fatalf("after an interrupted copy: %d events, %v", len(evs), err)
				}
				if got := reconciliationIDs(allReconciliations(t, m)); !slices.Equal(got, recs) {
					t.Fatalf("after an interrupted copy: reconciliations %v, want %v", got, recs)
				}
			}
			if _, err := m.DropMonthsBefore(ctx, time.Time{}); !errors.Is(err, host.ErrInvalidArgument) {
				t.Fatalf("zero horizon: %v", err)
			}
			// Before 1 December: October and November ended.
			dropped, err := m.DropMonthsBefore(ctx, utc(2026, 12, 1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dropped, paths[:2]) {
				t.Fatalf("dropped %v, want %v", dropped, paths[:2])
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "sessions-202610") || strings.HasPrefix(e.Name(), "sessions-202611") {
					t.Errorf("file %s of a dropped month is left", e.Name())
				}
			}
			if got := mustList(t, m); !slices.Equal(got, paths[2:]) {
				t.Fatalf("ListArchives = %v", got)
			}
			evs, err := m.EventsSince(ctx, "p", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]uint64, len(evs))
			for i, e := range evs {
				got[i] = e.ID
				if len(e.Payload) < 500 || !strings.Contains(string(e.Payload), "event") {
					t.Fatalf("event %d lost its payload: %q", e.ID, e.Payload)
				}
			}
			if !slices.Equal(got, pIDs) {
				t.Fatalf("pinned session reads %v, want %v (IDs preserved)", got, pIDs)
			}
			if got := reconciliationIDs(allReconciliations(t, m)); !slices.Equal(got, recs) {
				t.Fatalf("reconciliations after the drop %v, want %v (IDs preserved)", got, recs)
			}
			// Page by page too: the copied events sit in December
			// among December's own.
			var paged []uint64
			for since := uint64(0); ; {
				page, err := m.EventsSince(ctx, "p", since, 2)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, e := range page {
					paged = append(paged, e.ID)
				}
				since = page[len(page)-1].ID
			}
			if !slices.Equal(paged, pIDs) {
				t.Fatalf("paging the pinned session read %v, want %v", paged, pIDs)
			}
			if u, err := m.EventsSince(ctx, "u", 0, 0); err != nil || len(u) != 5 {
				t.Fatalf("unpinned session: %d events (want December's 5), %v", len(u), err)
			}
			after, err := m.ListPastSessions(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			bp, ap := findPast(before, "p"), findPast(after, "p")
			if ap.Events != bp.Events || !ap.FirstSeen.Equal(bp.FirstSeen) || !ap.LastSeen.Equal(bp.LastSeen) ||
				ap.LastTurn != bp.LastTurn || ap.FirstUserMessage != bp.FirstUserMessage || !ap.Pinned {
				t.Fatalf("pinned session summary %+v, was %+v", ap, bp)
			}
			var attempts []int64
			for _, a := range mustAttempts(t, m, "p", 7) {
				attempts = append(attempts, a.ID)
			}
			if !slices.Equal(attempts, pAttempts) {
				t.Fatalf("pinned attempts %v, want %v", attempts, pAttempts)
			}
			orphans, err := m.OrphanIntents(ctx, "p")
			if err != nil || len(orphans) != 1 || orphans[0].CallID != "call-2" {
				t.Fatalf("orphans after the drop: %+v, %v", orphans, err)
			}
			pinned, err := m.Pinned(ctx)
			if err != nil || !slices.Equal(pinned, []abi.SessionID{"p"}) {
				t.Fatalf("pinned %v, %v", pinned, err)
			}
			n, err := m.LocalCostNanosInPeriod(ctx, "openrouter", utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0))
			if err != nil || n != 375_000_000+1_000_000_000 {
				t.Fatalf("cost after the drop %d, %v", n, err)
			}
			// Again: nothing left to drop, nothing changes.
			if again, err := m.DropMonthsBefore(ctx, utc(2026, 12, 1, 0, 0)); err != nil || len(again) != 0 {
				t.Fatalf("second drop: %v, %v", again, err)
			}
			// The current month is never dropped.
			if d, err := m.DropMonthsBefore(ctx, utc(2030, 1, 1, 0, 0)); err != nil || len(d) != 0 {
				t.Fatalf("dropping the current month: %v, %v", d, err)
			}
			// December, holding the copies below its own IDs, is
			// sealed by January: paging still reads every event once.
			clock.set(utc(2027, 1, 5, 0, 0))
			want := append(slices.Clone(pIDs), rollAppend(t, m, "p", 99, `{"jan":1}`))
			for _, limit := range []int{1, 3, 0} {
				var got []uint64
				for since := uint64(0); ; {
					page, err := m.EventsSince(ctx, "p", since, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) == 0 {
						break
					}
					for _, e := range page {
						got = append(got, e.ID)
					}
					since = page[len(page)-1].ID
				}
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d across the sealed December: %v, want %v", limit, got, want)
				}
			}
		})
	}
}

func findPast(ps []abi.PastSession, id abi.SessionID) abi.PastSession {
	for _, p := range ps {
		if p.ID == id {
			return p
		}
	}
	return abi.PastSession{}
}

func mustAttempts(t *testing.T, m *host.MonthlyRollover, sess string, turn int) []abi.ProviderAttempt {
	t.Helper()
	as, err := m.AttemptsForTurn(context.Background(), sess, turn)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// TestRolloverDropLeftovers removes the headers and lock files a drop
// killed after removing the database left behind.
func TestRolloverDropLeftovers(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock(utc(2026, 12, 5, 0, 0))
	m := newRollover(t, dir, kekConfig(clock))
	for _, n := range []string{"sessions-202609.db.dek", "sessions-202609.db.lock", "sessions-202609.db.dek.lock"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.DropMonthsBefore(context.Background(), utc(2026, 11, 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "sessions-202609*")); len(matches) != 0 {
		t.Fatalf("leftovers kept: %v", matches)
	}
}
