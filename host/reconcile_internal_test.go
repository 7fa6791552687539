package host

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// TestReconciliationsSchema3Upgrades builds a store at schema version 3
// (the first three migrations, through package sqldb) with an attempt in
// it; opening it migrates to SchemaVersion, the attempt still counts and
// reconciliations save with IDs from 1.
func TestReconciliationsSchema3Upgrades(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	v3 := &sqldb.Schema{AppID: applicationID, Migrations: migrations[:3], Counters: []*sqldb.Counter{eventIDs, dictIDs, attemptIDs}}
	db, err := sqldb.Open(path, v3, sqldb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err = db.Write(context.Background(), func(tx *sqldb.Tx) error {
		id, err := tx.Next(attemptIDs)
		if err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO provider_attempts (id, session, turn, provider, model, request_id, started_at, ended_at, reason,
				input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, estimated_nusd)
			VALUES (?, 's', 1, 'p', 'm', '', ?, ?, 'complete', 1, 1, 0, 0, 777)`, int64(id), t0.UnixNano(), t0.UnixNano())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenWithConfig(path, NewConfig().WithClock(func() time.Time { return t0.Add(time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := queryStoreInt(t, s, `PRAGMA user_version`); v != SchemaVersion || SchemaVersion < 4 {
		t.Fatalf("user_version = %d after open, want SchemaVersion %d (>= 4)", v, SchemaVersion)
	}
	ctx := context.Background()
	r, err := s.ReconcileNow(ctx, fixedFetcher{"p", 0.000001}, 2*time.Hour)
	if err != nil || r.LocalNanos != 777 || r.UpstreamNanos != 1000 || r.VarianceNanos != 223 {
		t.Fatalf("ReconcileNow = %+v, %v", r, err)
	}
	if id, err := s.SaveReconciliation(ctx, r); err != nil || id != 1 {
		t.Fatalf("SaveReconciliation = %d, %v; want ID 1", id, err)
	}
	if got, err := s.LatestReconciliation(ctx, "p"); err != nil || got.ID != 1 || got.LocalNanos != abi.NanoUSD(777) {
		t.Fatalf("LatestReconciliation = %+v, %v", got, err)
	}
}

// fixedFetcher reports usd for every period.
type fixedFetcher struct {
	name string
	usd  float64
}

func (f fixedFetcher) Name() string { return f.name }

func (f fixedFetcher) FetchUsageUSD(context.Context, time.Time, time.Time) (float64, error) {
	return f.usd, nil
}
