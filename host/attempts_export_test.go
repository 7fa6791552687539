package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// Hooks for the schema upgrade tests in package host_test.

// WriteOldStore creates a store at path at schema version v (3 or 4, the
// versions before 1-hour cache writes) with the first v migrations,
// through package sqldb as that version of this package did, and fills it
// with attempts (IDs 1, 2, ... in order; ID fields are ignored) and, at
// version 4, reconciliations (the same), with the columns and statements
// of that version. Anything that version could not store (1-hour cache
// write tokens or prices, unpriced reconciliation counts) is an error.
func WriteOldStore(path string, v int, attempts []abi.ProviderAttempt, recs []Reconciliation) error {
	counters := []*sqldb.Counter{eventIDs, dictIDs, attemptIDs, reconciliationIDs}
	switch v {
	case 3:
		counters = counters[:3]
		if len(recs) > 0 {
			return errors.New("schema 3 has no reconciliations")
		}
	case 4:
	default:
		return fmt.Errorf("old schema version %d, want 3 or 4", v)
	}
	db, err := sqldb.Open(path, &sqldb.Schema{AppID: applicationID, Migrations: migrations[:v], Counters: counters}, sqldb.Options{})
	if err != nil {
		return err
	}
	err = db.Write(context.Background(), func(tx *sqldb.Tx) error {
		for _, a := range attempts {
			if a.CacheWrite1hTokens != 0 || a.Price != nil && a.Price.CacheWrite1h != nil {
				return fmt.Errorf("schema %d has no 1-hour cache writes", v)
			}
			id, err := tx.Next(attemptIDs)
			if err != nil {
				return err
			}
			var source any
			var prices [4]any
			if p := a.Price; p != nil {
				source = p.Source
				for i, v := range []*abi.NanoUSD{p.Input, p.Output, p.CacheRead, p.CacheWrite} {
					if v != nil {
						prices[i] = int64(*v)
					}
				}
			}
			nusd, err := toNanoUSD("cost", a.EstimatedUSD)
			if err != nil {
				return err
			}
			// The statement of schema 3 and 4.
			_, err = tx.Exec(`INSERT INTO provider_attempts (id, session, turn, provider, model, request_id, started_at, ended_at, reason,
					input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, estimated_nusd,
					price_source, price_input, price_output, price_cache_read, price_cache_write)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				int64(id), a.Session, a.Turn, a.Provider, a.Model, a.RequestID, a.StartedAt.UnixNano(), a.EndedAt.UnixNano(), a.TerminatedReason,
				a.InputTokens, a.OutputTokens, a.CacheReadTokens, a.CacheWriteTokens, int64(nusd),
				source, prices[0], prices[1], prices[2], prices[3])
			if err != nil {
				return err
			}
		}
		for _, r := range recs {
			if r.LocalUnpriced != 0 {
				return errors.New("schema 4 has no unpriced counts")
			}
			id, err := tx.Next(reconciliationIDs)
			if err != nil {
				return err
			}
			// The statement of schema 4.
			_, err = tx.Exec(`INSERT INTO reconciliations (id, provider, period_start, period_end, upstream_nusd, local_nusd, ran_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`,
				int64(id), r.Provider, r.PeriodStart.UnixNano(), r.PeriodEnd.UnixNano(), int64(r.UpstreamNanos), int64(r.LocalNanos), r.RanAt.UnixNano())
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

// UnpricedIndexUsed reports whether the store's schema has the partial
// index of unpriced attempts and whether Store.UnpricedAttemptsInPeriod's
// query reads it.
func UnpricedIndexUsed(s *Store) (exists, used bool, err error) {
	err = s.read(context.Background(), func(q *rtx) error {
		c := (*sqldb.ReadTx)(q).Conn()
		n, err := sqldb.QueryInt(c, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'provider_attempts_unpriced'`)
		if err != nil {
			return err
		}
		exists = n == 1
		st, err := q.stmt("EXPLAIN QUERY PLAN " + unpricedCountQuery)
		if err != nil {
			return err
		}
		defer st.Reset()
		for st.Step() {
			used = used || st.ColumnText(3) == "SEARCH provider_attempts USING INDEX provider_attempts_unpriced (provider=? AND started_at>? AND started_at<?)"
		}
		return st.Err()
	})
	return exists, used, err
}
