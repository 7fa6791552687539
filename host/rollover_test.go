package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

// rolloverKEK is the KEK of the encrypted rollovers of these tests.
var rolloverKEK = []byte("0123456789abcdef0123456789abcdef")

func kekConfig(clock *testClock) host.Config {
	return host.NewConfig().WithKEKSource(keyring.RawKEK(rolloverKEK)).WithClock(clock.now)
}

func newRollover(tb testing.TB, dir string, cfg host.Config, opts ...host.RolloverOption) *host.MonthlyRollover {
	tb.Helper()
	m, err := host.NewMonthlyRolloverWithConfig(dir, cfg, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func rollAppend(tb testing.TB, m *host.MonthlyRollover, sess abi.SessionID, turn int, payload string) uint64 {
	tb.Helper()
	id, err := m.Append(context.Background(), storeEvent(sess, turn, abi.KindAssistantMessage, payload))
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func monthPaths(dir string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, "sessions-"+n+".db")
	}
	return out
}

// TestRolloverYearBoundary crosses December into January: the new month
// gets its own file and DEK header, event IDs keep increasing, the old
// month is sealed, and reads span both.
func TestRolloverYearBoundary(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newTestClock(utc(2026, 12, 31, 23, 59))
	m := newRollover(t, dir, kekConfig(clock))
	dec, err := m.Current()
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for i := range 3 {
		ids = append(ids, rollAppend(t, m, "s", i, fmt.Sprintf(`{"dec":%d}`, i)))
	}
	clock.set(utc(2027, 1, 1, 0, 0))
	for i := range 3 {
		ids = append(ids, rollAppend(t, m, "s", 3+i, fmt.Sprintf(`{"jan":%d}`, i)))
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatalf("IDs not strictly increasing across the year: %v", ids)
	}
	got, err := m.ListArchives()
	if err != nil {
		t.Fatal(err)
	}
	if want := monthPaths(dir, "202612", "202701"); !slices.Equal(got, want) {
		t.Fatalf("ListArchives = %v, want %v", got, want)
	}
	for _, p := range got {
		if _, err := os.Stat(keyring.HeaderPath(p)); err != nil {
			t.Errorf("month %s has no DEK header of its own: %v", p, err)
		}
	}
	jan, err := m.Current()
	if err != nil {
		t.Fatal(err)
	}
	if jan == dec || jan.SnapshotPath() != got[1] {
		t.Fatalf("Current is %s after the year changed", jan.SnapshotPath())
	}
	// The December store stays open but is sealed.
	if _, err := dec.Append(ctx, storeEvent("s", 9, abi.KindAssistantMessage, `{}`)); !errors.Is(err, host.ErrMonthSealed) {
		t.Fatalf("append to the sealed month: %v, want ErrMonthSealed", err)
	}
	if err := dec.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", CallID: "c", Tool: "t"}); !errors.Is(err, host.ErrMonthSealed) {
		t.Fatalf("tool intent in the sealed month: %v, want ErrMonthSealed", err)
	}
	if err := dec.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: "c", Status: "ok"}); !errors.Is(err, host.ErrMonthSealed) {
		t.Fatalf("tool outcome in the sealed month: %v, want ErrMonthSealed", err)
	}
	if _, err := dec.RecordAttempt(ctx, rollAttempt("s", 1, utc(2026, 12, 31, 23, 0), 0.5)); !errors.Is(err, host.ErrMonthSealed) {
		t.Fatalf("attempt in the sealed month: %v, want ErrMonthSealed", err)
	}
	// Reading across the months: everything, then page by page.
	evs, err := m.EventsSince(ctx, "s", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 6 {
		t.Fatalf("%d events across months, want 6", len(evs))
	}
	for i, e := range evs {
		if e.ID != ids[i] {
			t.Fatalf("event %d has ID %d, want %d", i, e.ID, ids[i])
		}
	}
	var paged []uint64
	for since := uint64(0); ; {
		page, err := m.EventsSince(ctx, "s", since, 2)
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
	if !slices.Equal(paged, ids) {
		t.Fatalf("paging across months read %v, want %v", paged, ids)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// The seal is in the file: a Store opened on it directly refuses too.
	s, err := host.OpenWithKEK(got[0], rolloverKEK)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, storeEvent("s", 9, abi.KindAssistantMessage, `{}`)); !errors.Is(err, host.ErrMonthSealed) {
		t.Fatalf("append to the sealed file through Open: %v, want ErrMonthSealed", err)
	}
}

func rollAttempt(sess string, turn int, started time.Time, usd float64) abi.ProviderAttempt {
	return abi.ProviderAttempt{
		Session: sess, Turn: turn, Provider: "openrouter", Model: "m",
		StartedAt: started, EndedAt: started.Add(time.Second),
		TerminatedReason: abi.AttemptComplete, InputTokens: 10, OutputTokens: 5, EstimatedUSD: usd,
	}
}

// TestRolloverLocation starts months in the configured location: 23:30
// UTC on 31 January is already February in Tokyo.
func TestRolloverLocation(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	dir := t.TempDir()
	clock := newTestClock(utc(2027, 1, 31, 23, 30))
	m := newRollover(t, dir, host.NewConfig().WithClock(clock.now), host.WithMonthLocation(tokyo))
	s, err := m.Current()
	if err != nil {
		t.Fatal(err)
	}
	if want := monthPaths(dir, "202702")[0]; s.SnapshotPath() != want {
		t.Fatalf("current month %s, want %s", s.SnapshotPath(), want)
	}
	if _, err := host.NewMonthlyRolloverWithConfig(t.TempDir(), host.NewConfig(), host.WithMonthLocation(nil)); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("nil location: %v, want ErrInvalidArgument", err)
	}
}

// TestRolloverTwoHandles has two rollovers on one directory whose clocks
// disagree: once the one ahead has rolled over, the one behind writes to
// the new month too, above every ID of the old one, and a Store it got
// before refuses writes.
func TestRolloverTwoHandles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ahead := newTestClock(utc(2026, 11, 30, 23, 59))
	behind := newTestClock(utc(2026, 11, 30, 23, 50))
	a := newRollover(t, dir, kekConfig(ahead))
	b := newRollover(t, dir, kekConfig(behind))
	bNov, err := b.Current()
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for i := range 4 {
		ids = append(ids, rollAppend(t, a, "x", i, `{"a":1}`), rollAppend(t, b, "x", i, `{"b":1}`))
	}
	ahead.set(utc(2026, 12, 1, 0, 0))
	ids = append(ids, rollAppend(t, a, "x", 10, `{"a":2}`))
	// b's clock is still in November.
	if _, err := bNov.Append(ctx, storeEvent("x", 11, abi.KindAssistantMessage, `{}`)); !errors.Is(err, host.ErrMonthSealed) {
		t.Fatalf("append to November after December started: %v, want ErrMonthSealed", err)
	}
	ids = append(ids, rollAppend(t, b, "x", 11, `{"b":2}`), rollAppend(t, a, "x", 12, `{"a":3}`))
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatalf("IDs not strictly increasing: %v", ids)
	}
	cur, err := b.Current()
	if err != nil {
		t.Fatal(err)
	}
	if want := monthPaths(dir, "202612")[0]; cur.SnapshotPath() != want {
		t.Fatalf("b's current month is %s, want %s (the newest file)", cur.SnapshotPath(), want)
	}
	for _, r := range []*host.MonthlyRollover{a, b} {
		evs, err := r.EventsSince(ctx, "x", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]uint64, len(evs))
		for i, e := range evs {
			got[i] = e.ID
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("read %v, want %v", got, ids)
		}
	}
}

// TestRolloverQueries reads a session, tool calls and attempts that cross
// midnight of the 1st as one.
func TestRolloverQueries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newTestClock(utc(2026, 11, 30, 23, 58))
	m := newRollover(t, dir, kekConfig(clock))
	nov := utc(2026, 11, 30, 23, 58)
	dec := utc(2026, 12, 1, 0, 1)

	mustOK := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	u := storeEvent("s", 1, abi.KindUserMessage, `{"text":"first question"}`)
	_, err := m.Append(ctx, u)
	mustOK(err)
	_, err = m.Append(ctx, storeEvent("s", 1, abi.KindToolCall, `{"tool":"ls"}`))
	mustOK(err)
	_, err = m.Append(ctx, storeEvent("other", 1, abi.KindUserMessage, `{"text":"other"}`))
	mustOK(err)
	mustOK(m.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", CallID: "crosses", Turn: 1, Tool: "ls", StartedAt: nov}))
	mustOK(m.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", CallID: "orphan", Turn: 1, Tool: "rm", StartedAt: nov.Add(time.Second)}))
	a1, err := m.RecordAttempt(ctx, rollAttempt("s", 2, nov, 0.25))
	mustOK(err)

	clock.set(dec)
	_, err = m.Append(ctx, storeEvent("s", 2, abi.KindToolCall, `{"tool":"cat"}`))
	mustOK(err)
	mustOK(m.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: "crosses", Status: "ok", EndedAt: dec}))
	mustOK(m.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", CallID: "dec-orphan", Turn: 2, Tool: "cp", StartedAt: dec}))
	a2, err := m.RecordAttempt(ctx, rollAttempt("s", 2, dec, 0.5))
	mustOK(err)
	if a2 <= a1 {
		t.Fatalf("attempt IDs %d then %d across months", a1, a2)
	}
	if n := len(mustList(t, m)); n != 2 {
		t.Fatalf("%d month files, want 2", n)
	}

	sessions, err := m.ListPastSessions(ctx, 0)
	mustOK(err)
	if len(sessions) != 2 || sessions[0].ID != "s" {
		t.Fatalf("sessions %+v", sessions)
	}
	s := sessions[0]
	if s.Events != 3 || s.ToolCalls != 2 || s.LastTurn != 2 || s.FirstUserMessage != "first question" {
		t.Fatalf("merged session %+v", s)
	}
	if !s.FirstSeen.Equal(nov) || !s.LastSeen.Equal(dec) {
		t.Fatalf("merged session seen %v to %v, want %v to %v", s.FirstSeen, s.LastSeen, nov, dec)
	}
	if one, err := m.ListPastSessions(ctx, 1); err != nil || len(one) != 1 || one[0].ID != "s" {
		t.Fatalf("limit 1: %+v, %v", one, err)
	}

	orphans, err := m.OrphanIntents(ctx, "s")
	mustOK(err)
	var calls []string
	for _, o := range orphans {
		calls = append(calls, o.CallID)
	}
	if !slices.Equal(calls, []string{"orphan", "dec-orphan"}) {
		t.Fatalf("orphans %v, want [orphan dec-orphan] (crosses has its outcome in December)", calls)
	}
	if all, err := m.OrphanIntents(ctx, ""); err != nil || len(all) != 2 {
		t.Fatalf("orphans of every session: %v, %v", all, err)
	}

	as, err := m.AttemptsForTurn(ctx, "s", 2)
	mustOK(err)
	if len(as) != 2 || as[0].ID != a1 || as[1].ID != a2 {
		t.Fatalf("attempts of the turn across midnight: %+v", as)
	}
	n, err := m.LocalCostNanosInPeriod(ctx, "openrouter", utc(2026, 11, 1, 0, 0), utc(2027, 1, 1, 0, 0))
	mustOK(err)
	if n != 750_000_000 {
		t.Fatalf("cost across months %d nano-dollars, want 750000000", n)
	}
	n, err = m.LocalCostNanosInPeriod(ctx, "openrouter", utc(2026, 12, 1, 0, 0), utc(2027, 1, 1, 0, 0))
	mustOK(err)
	if n != 500_000_000 {
		t.Fatalf("December's cost %d nano-dollars, want 500000000", n)
	}
	if usd, err := m.LocalCostInPeriod(ctx, "openrouter", utc(2026, 11, 1, 0, 0), utc(2027, 1, 1, 0, 0)); err != nil || usd != 0.75 {
		t.Fatalf("cost in dollars %v, %v", usd, err)
	}

	// Bad input is refused as on a Store.
	if _, err := m.EventsSince(ctx, "", 0, 0); !errors.Is(err, host.ErrEmptySession) {
		t.Fatalf("empty session: %v", err)
	}
	if _, err := m.EventsSince(ctx, "s", 0, -1); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("negative limit: %v", err)
	}
	if _, err := m.ListPastSessions(ctx, -1); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("negative limit: %v", err)
	}
	if _, err := m.AttemptsForTurn(ctx, "", 1); !errors.Is(err, host.ErrEmptySession) {
		t.Fatalf("empty session: %v", err)
	}
	if _, err := m.LocalCostNanosInPeriod(ctx, "", nov, dec); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("empty provider: %v", err)
	}
	if _, err := m.Append(ctx, abi.EventEnvelope{Kind: "x"}); !errors.Is(err, host.ErrEmptySession) {
		t.Fatalf("append without a session: %v", err)
	}
}

func mustList(tb testing.TB, m *host.MonthlyRollover) []string {
	tb.Helper()
	l, err := m.ListArchives()
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// TestRolloverDirAndNames covers the directory and the file names: a
// missing directory is created, an unusable one fails, names that are not
// month files are ignored, a foreign file with a month name is refused.
func TestRolloverDirAndNames(t *testing.T) {
	clock := newTestClock(utc(2026, 11, 15, 12, 0))
	cfg := host.NewConfig().WithClock(clock.now)

	t.Run("missing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		m := newRollover(t, dir, cfg)
		if got := mustList(t, m); !slices.Equal(got, monthPaths(dir, "202611")) {
			t.Fatalf("ListArchives = %v", got)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("directory: %v, %v", fi, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := host.NewMonthlyRolloverWithConfig("", cfg); !errors.Is(err, host.ErrInvalidArgument) {
			t.Fatalf("empty dir: %v", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		if _, err := host.NewMonthlyRolloverWithConfig(t.TempDir(), host.NewConfig().WithReaders(0)); !errors.Is(err, host.ErrInvalidArgument) {
			t.Fatalf("bad config: %v", err)
		}
	})
	t.Run("file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := host.NewMonthlyRolloverWithConfig(f, cfg); err == nil {
			t.Fatal("a regular file as the directory: no error")
		}
	})
	t.Run("unwritable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: permissions do not stop writes")
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)
		if _, err := host.NewMonthlyRolloverWithConfig(dir, cfg); !errors.Is(err, os.ErrPermission) {
			t.Fatalf("unwritable directory: %v, want a permission error", err)
		}
	})
	t.Run("garbage names", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"sessions-2026.db", "sessions-202613.db", "sessions-202600.db", "sessions-20261.db", "sessions-2026x1.db",
			"sessions-202611.db.bak", "notes.txt", "sessions-202611.DB"} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(dir, "sessions-202501.db"), 0o700); err != nil {
			t.Fatal(err)
		}
		m := newRollover(t, dir, cfg)
		if got := mustList(t, m); !slices.Equal(got, monthPaths(dir, "202611")) {
			t.Fatalf("ListArchives = %v, want only the November file", got)
		}
	})
	t.Run("interrupted creation", func(t *testing.T) {
		// A rollover killed while creating November: the DEK header
		// and an empty database, with the creation marker.
		for _, c := range []struct {
			name  string
			clock time.Time
			want  []string
		}{{"same month", utc(2026, 11, 15, 12, 0), []string{"202611"}}, {"next month", utc(2026, 12, 2, 0, 0), []string{"202612"}}} {
			t.Run(c.name, func(t *testing.T) {
				dir := t.TempDir()
				nov := filepath.Join(dir, "sessions-202611.db")
				if _, _, err := keyring.LoadOrCreateDEK(nov, rolloverKEK); err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{nov, nov + ".creating"} {
					if err := os.WriteFile(p, nil, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := host.OpenWithKEK(nov, rolloverKEK); !errors.Is(err, host.ErrDatabaseLost) {
					t.Fatalf("the half-created month opened alone: %v, want ErrDatabaseLost", err)
				}
				clock := newTestClock(c.clock)
				m := newRollover(t, dir, kekConfig(clock))
				rollAppend(t, m, "s", 1, `{}`)
				if got := mustList(t, m); !slices.Equal(got, monthPaths(dir, c.want...)) {
					t.Fatalf("ListArchives = %v, want %v", got, c.want)
				}
				if _, err := os.Stat(nov + ".creating"); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("creation marker left: %v", err)
				}
			})
		}
	})
	t.Run("foreign", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "sessions-202611.db"), []byte("not a database, not even close to one, but long enough to be read"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := host.NewMonthlyRolloverWithConfig(dir, cfg); !errors.Is(err, host.ErrNotStore) {
			t.Fatalf("foreign current month: %v, want ErrNotStore", err)
		}
		// The next month must seal it first: refused too, nothing lost.
		later := newTestClock(utc(2026, 12, 2, 0, 0))
		if _, err := host.NewMonthlyRolloverWithConfig(dir, host.NewConfig().WithClock(later.now)); !errors.Is(err, host.ErrNotStore) {
			t.Fatalf("foreign previous month: %v, want ErrNotStore", err)
		}
	})
}

// TestRolloverClose: Close is idempotent and every method fails with
// ErrClosed after it.
func TestRolloverClose(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock(utc(2026, 11, 15, 12, 0))
	m, err := host.NewMonthlyRolloverWithConfig(t.TempDir(), kekConfig(clock))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Current()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, storeEvent("s", 1, abi.KindAssistantMessage, `{}`)); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("the current Store after Close: %v", err)
	}
	now := clock.now()
	checks := map[string]error{}
	_, checks["Current"] = m.Current()
	_, checks["ListArchives"] = m.ListArchives()
	_, checks["Append"] = m.Append(ctx, storeEvent("s", 1, abi.KindAssistantMessage, `{}`))
	checks["AppendEvent"] = m.AppendEvent(ctx, storeEvent("s", 1, abi.KindAssistantMessage, `{}`))
	checks["RecordToolIntent"] = m.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", CallID: "c", Tool: "t"})
	checks["RecordToolOutcome"] = m.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: "c", Status: "ok"})
	_, checks["RecordAttempt"] = m.RecordAttempt(ctx, rollAttempt("s", 1, now, 0))
	checks["Pin"] = m.Pin(ctx, "s")
	checks["Unpin"] = m.Unpin(ctx, "s")
	_, checks["Pinned"] = m.Pinned(ctx)
	_, checks["EventsSince"] = m.EventsSince(ctx, "s", 0, 0)
	_, checks["ListPastSessions"] = m.ListPastSessions(ctx, 0)
	_, checks["OrphanIntents"] = m.OrphanIntents(ctx, "")
	_, checks["AttemptsForTurn"] = m.AttemptsForTurn(ctx, "s", 1)
	_, checks["LocalCostNanosInPeriod"] = m.LocalCostNanosInPeriod(ctx, "p", now, now)
	_, checks["DropMonthsBefore"] = m.DropMonthsBefore(ctx, now)
	checks["RotateKEK"] = m.RotateKEK(keyring.RawKEK(storeTestKey))
	for name, err := range checks {
		if !errors.Is(err, host.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// TestRolloverRotateKEK rotates the KEK of every month; the old KEK no
// longer opens any, the new one opens all, and a repeated rotation is a
// no-op.
func TestRolloverRotateKEK(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newTestClock(utc(2026, 10, 3, 0, 0))
	m := newRollover(t, dir, kekConfig(clock))
	for _, d := range []time.Time{utc(2026, 10, 3, 0, 0), utc(2026, 11, 3, 0, 0), utc(2026, 12, 3, 0, 0)} {
		clock.set(d)
		rollAppend(t, m, "s", 1, `{"x":1}`)
	}
	newKEK := []byte("fedcba9876543210fedcba9876543210")
	for range 2 {
		if err := m.RotateKEK(keyring.RawKEK(newKEK)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.RotateKEK(nil); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("nil source: %v", err)
	}
	// Later months are created under the new KEK.
	clock.set(utc(2027, 1, 3, 0, 0))
	rollAppend(t, m, "s", 2, `{"x":2}`)
	paths := mustList(t, m)
	if len(paths) != 4 {
		t.Fatalf("%d months", len(paths))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, _, err := keyring.LoadOrCreateDEK(p, rolloverKEK); !errors.Is(err, keyring.ErrWrongKEK) {
			t.Errorf("%s with the old KEK: %v, want ErrWrongKEK", p, err)
		}
	}
	m2 := newRollover(t, dir, host.NewConfig().WithKEKSource(keyring.RawKEK(newKEK)).WithClock(clock.now))
	evs, err := m2.EventsSince(ctx, "s", 0, 0)
	if err != nil || len(evs) != 4 {
		t.Fatalf("after rotation: %d events, %v", len(evs), err)
	}
	plain := newRollover(t, t.TempDir(), host.NewConfig().WithClock(clock.now))
	if err := plain.RotateKEK(keyring.RawKEK(newKEK)); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("rotating a plaintext rollover: %v", err)
	}
}

// TestRolloverMarkerScan writes a marker in every kind of record across
// two months and finds it in no file of the directory.
func TestRolloverMarkerScan(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newTestClock(utc(2026, 11, 30, 23, 0))
	// No redaction: the marker must be kept out by encryption alone.
	m := newRollover(t, dir, kekConfig(clock).WithRedactors())
	marker := storefiles.NewMarker()
	text := string(marker)
	for i, d := range []time.Time{utc(2026, 11, 30, 23, 0), utc(2026, 12, 1, 1, 0)} {
		clock.set(d)
		for j := range 20 {
			rollAppend(t, m, "s", j, fmt.Sprintf(`{"m":%q,"i":%d}`, text, j))
		}
		call := fmt.Sprint("c", i)
		if err := m.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", CallID: call, Tool: "t", Args: json.RawMessage(fmt.Sprintf(`{"m":%q}`, text))}); err != nil {
			t.Fatal(err)
		}
		if err := m.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s", CallID: call, Status: "ok", Result: json.RawMessage(fmt.Sprintf(`{"m":%q}`, text)), Error: text}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(mustList(t, m)); n != 2 {
		t.Fatalf("%d months", n)
	}
	scanOpen := func() {
		t.Helper()
		hits, scanned := storefiles.Scan(t, marker, dir)
		if len(hits) > 0 {
			t.Fatalf("marker in %v", hits)
		}
		if len(scanned) < 4 {
			t.Fatalf("scanned only %v", scanned)
		}
	}
	scanOpen()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	scanOpen()
}

// TestNewMonthlyRollover opens a plaintext rollover on the real clock: the
// current month is this UTC month (or the next, if the test runs across
// midnight of the 1st).
func TestNewMonthlyRollover(t *testing.T) {
	dir := t.TempDir()
	before := time.Now().UTC()
	m, err := host.NewMonthlyRollover(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.Current()
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC()
	name := filepath.Base(s.SnapshotPath())
	if name != before.Format("sessions-200601.db") && name != after.Format("sessions-200601.db") {
		t.Fatalf("current month %s at %v", name, before)
	}
	if _, err := os.Stat(s.SnapshotPath() + ".dek"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a plaintext rollover has a DEK header: %v", err)
	}
}

// TestRolloverForeignArchive: a month file in the middle of the history
// that is not a store fails every query across months with ErrNotStore
// (nothing is skipped silently); the current month still takes writes.
func TestRolloverForeignArchive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sessions-202510.db"), []byte("a foreign file that only has a month file's name, not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := newTestClock(utc(2026, 11, 15, 12, 0))
	// November is created above October's file: the sealing of the
	// previous month fails first.
	if _, err := host.NewMonthlyRolloverWithConfig(dir, kekConfig(clock)); !errors.Is(err, host.ErrNotStore) {
		t.Fatalf("rolling over a foreign previous month: %v, want ErrNotStore", err)
	}
	// Created before the foreign file appeared, November works, and the
	// queries refuse the foreign file.
	dir2 := t.TempDir()
	m := newRollover(t, dir2, kekConfig(clock))
	rollAppend(t, m, "s", 1, `{}`)
	if err := os.WriteFile(filepath.Join(dir2, "sessions-202510.db"), []byte("a foreign file that only has a month file's name, not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.EventsSince(ctx, "s", 0, 0); !errors.Is(err, host.ErrNotStore) {
		t.Fatalf("EventsSince over a foreign archive: %v, want ErrNotStore", err)
	}
	if _, err := m.ListPastSessions(ctx, 0); !errors.Is(err, host.ErrNotStore) {
		t.Fatalf("ListPastSessions over a foreign archive: %v, want ErrNotStore", err)
	}
	rollAppend(t, m, "s", 2, `{}`)
	if got := mustList(t, m); len(got) != 2 {
		t.Fatalf("ListArchives = %v: the foreign file has a month name and is listed", got)
	}
}
