package host

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// TestAttemptsSchema2Upgrades builds a store at schema version 2 with the
// first two migrations (through package sqldb, as that version of this
// package did) and events in it; opening it migrates to SchemaVersion
// (3 or later), the events read back unchanged and attempts record with
// IDs from 1.
func TestAttemptsSchema2Upgrades(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	v2 := &sqldb.Schema{AppID: applicationID, Migrations: migrations[:2], Counters: []*sqldb.Counter{eventIDs, dictIDs}}
	db, err := sqldb.Open(path, v2, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err = db.Write(context.Background(), func(tx *sqldb.Tx) error {
		for i := range n {
			id, err := tx.Next(eventIDs)
			if err != nil {
				return err
			}
			p := fmt.Sprintf(`{"i":%d}`, i)
			if _, err := tx.Exec(`INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				"old", id, i, abi.KindAssistantMessage, ts.UnixNano(), int(formatRaw), len(p), []byte(p)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := queryStoreInt(t, s, `PRAGMA user_version`); v != SchemaVersion || SchemaVersion < 3 {
		t.Fatalf("user_version = %d after open, want SchemaVersion %d (>= 3)", v, SchemaVersion)
	}
	ctx := context.Background()
	if err := s.EnsureAttemptsSchema(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := s.EventsSince(ctx, "old", 0, 0)
	if err != nil || len(evs) != n {
		t.Fatalf("EventsSince = %d events, %v; want %d", len(evs), err, n)
	}
	for i, e := range evs {
		if e.ID != uint64(i+1) || e.Turn != i || string(e.Payload) != fmt.Sprintf(`{"i":%d}`, i) || !e.TS.Equal(ts) {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	id, err := s.RecordAttempt(ctx, abi.ProviderAttempt{Session: "old", Turn: 1, Provider: "p", Model: "m",
		StartedAt: ts, EndedAt: ts, TerminatedReason: abi.AttemptComplete, EstimatedUSD: 0.5})
	if err != nil || id != 1 {
		t.Fatalf("RecordAttempt = %d, %v; want ID 1", id, err)
	}
	if eid := mustAppendInternal(t, s, "old"); eid != n+1 {
		t.Errorf("next event ID %d, want %d", eid, n+1)
	}
}

func mustAppendInternal(tb testing.TB, s *Store, sess abi.SessionID) uint64 {
	tb.Helper()
	id, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Kind: abi.KindSystem, Payload: []byte(`{}`)})
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// TestEnsureAttemptsSchemaOld: a store whose version went below 3 under
// an open Store (set here by hand) fails with ErrOldSchema.
func TestEnsureAttemptsSchemaOld(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.write(ctx, func(tx *wtx) error { return tx.Conn().Exec(`PRAGMA user_version=2`) }); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureAttemptsSchema(ctx); !errors.Is(err, ErrOldSchema) {
		t.Fatalf("EnsureAttemptsSchema at version 2 = %v, want ErrOldSchema", err)
	}
	if err := s.write(ctx, func(tx *wtx) error {
		return tx.Conn().Exec(`PRAGMA user_version=3; DROP TABLE provider_attempts`)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureAttemptsSchema(ctx); !errors.Is(err, ErrOldSchema) {
		t.Fatalf("EnsureAttemptsSchema without the table = %v, want ErrOldSchema", err)
	}
}

// TestAttemptQueryPlans: AttemptsForTurn, LocalCostInPeriod and
// UnpricedAttemptsInPeriod search their indexes (the cost query reads the
// covering index alone, the unpriced count the partial index of unpriced
// attempts), never scan the table, and need no sort.
func TestAttemptQueryPlans(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct{ query, want string }{
		{attemptsForTurnQuery, "SEARCH provider_attempts USING INDEX provider_attempts_turn (session=? AND turn=?)"},
		{localCostQuery, "SEARCH provider_attempts USING COVERING INDEX provider_attempts_cost (provider=? AND started_at>? AND started_at<?)"},
		{unpricedCountQuery, "SEARCH provider_attempts USING INDEX provider_attempts_unpriced (provider=? AND started_at>? AND started_at<?)"},
	} {
		var plan []string
		err := s.read(context.Background(), func(q *rtx) error {
			st, err := q.stmt("EXPLAIN QUERY PLAN " + c.query)
			if err != nil {
				return err
			}
			defer st.Reset()
			for st.Step() {
				plan = append(plan, st.ColumnText(3))
			}
			return st.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan) != 1 || plan[0] != c.want {
			t.Errorf("plan of %s:\n%q\nwant [%q]", c.query, plan, c.want)
		}
	}
}
