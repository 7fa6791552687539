package host

// Hooks of the cost ledger for the black-box tests and benchmarks in
// package host_test.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// LedgerLoad records es through the insert RecordEntry uses (the entry
// and its hourly totals), per entries to a transaction: a fast way to fill
// a ledger for large tests and benchmarks. Every entry must have a Time.
func LedgerLoad(l *CostLedger, es []LedgerEntry, per int) error {
	for len(es) > 0 {
		n := min(per, len(es))
		batch := es[:n]
		es = es[n:]
		err := l.db.Write(context.Background(), func(t *sqldb.Tx) error {
			for i := range batch {
				e := &batch[i]
				ts, err := l.checkEntry(e)
				if err != nil {
					return err
				}
				if _, err := insertEntry(t, ts, e, nil, false); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// LedgerCheck compares the hourly totals of l with sums over its
// entries, hour by hour, and returns an error naming the first
// difference: after any sequence of writes and crashes they must agree.
func LedgerCheck(l *CostLedger) error {
	return l.db.Read(context.Background(), func(t *sqldb.ReadTx) error {
		for _, col := range []string{"provider", "session"} {
			q := fmt.Sprintf(`SELECT hour, %[1]s, h.nusd, h.entries, e.nusd, e.entries
				FROM %[1]s_hours h FULL JOIN (
					SELECT ts / 3600000000000 - (ts %% 3600000000000 < 0) AS hour, %[1]s, sum(nusd) AS nusd, count(*) AS entries
					FROM entries GROUP BY 1, 2) e USING (hour, %[1]s)
				WHERE h.nusd IS NOT e.nusd OR h.entries IS NOT e.entries`, col)
			st, _, err := t.Conn().Prepare(q)
			if err != nil {
				return err
			}
			if st.Step() {
				err = fmt.Errorf("%s_hours disagrees with the entries: hour %d %s %q: total %s (%s entries), entries sum to %s (%s)",
					col, st.ColumnInt64(0), col, st.ColumnText(1), st.ColumnText(2), st.ColumnText(3), st.ColumnText(4), st.ColumnText(5))
			} else {
				err = st.Err()
			}
			st.Close()
			if err != nil {
				return err
			}
		}
		st, _, err := t.Conn().Prepare(`SELECT session, s.nusd, s.entries, e.nusd, e.entries
			FROM session_totals s FULL JOIN (SELECT session, sum(nusd) AS nusd, count(*) AS entries FROM entries GROUP BY 1) e USING (session)
			WHERE s.nusd IS NOT e.nusd OR s.entries IS NOT e.entries`)
		if err != nil {
			return err
		}
		defer st.Close()
		if st.Step() {
			return fmt.Errorf("session_totals disagrees with the entries: session %q: total %s (%s entries), entries sum to %s (%s)",
				st.ColumnText(0), st.ColumnText(1), st.ColumnText(2), st.ColumnText(3), st.ColumnText(4))
		}
		return st.Err()
	})
}

// LedgerRow is an entry as the ledger stores it, with the source of an
// attempt entry ("" for others) and whether a sync confirmed it.
type LedgerRow struct {
	LedgerEntry
	Source string
	Synced bool
}

// LedgerRows returns every entry of l in ID order.
func LedgerRows(l *CostLedger) ([]LedgerRow, error) {
	var out []LedgerRow
	err := l.db.Read(context.Background(), func(t *sqldb.ReadTx) error {
		st, _, err := t.Conn().Prepare(`SELECT id, ts, session, provider, model, request_id, attempt_id,
				input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, nusd,
				coalesce(source, ''), synced
			FROM entries ORDER BY id`)
		if err != nil {
			return err
		}
		defer st.Close()
		for st.Step() {
			out = append(out, LedgerRow{
				LedgerEntry: LedgerEntry{
					ID: st.ColumnInt64(0), Time: time.Unix(0, st.ColumnInt64(1)),
					Session: st.ColumnText(2), Provider: st.ColumnText(3), Model: st.ColumnText(4),
					RequestID: st.ColumnText(5), AttemptID: st.ColumnInt64(6),
					InputTokens: st.ColumnInt(7), OutputTokens: st.ColumnInt(8),
					CacheReadTokens: st.ColumnInt(9), CacheWriteTokens: st.ColumnInt(10),
					CacheWrite1hTokens: st.ColumnInt(11), Cost: abi.NanoUSD(st.ColumnInt64(12)),
				},
				Source: st.ColumnText(13),
				Synced: st.ColumnBool(14),
			})
		}
		return st.Err()
	})
	return out, err
}

// WriteOldLedger creates a ledger at path at schema version 1, through
// package sqldb as that version of this package did, and records es in
// it with that version's statement (entry and hourly totals). Every
// entry needs a Time; a version 1 ledger has no 1-hour cache writes, so
// an entry with some is an error.
func WriteOldLedger(path string, es []LedgerEntry) error {
	db, err := sqldb.Open(path, &sqldb.Schema{AppID: ledgerAppID, Migrations: ledgerMigrations[:1], Counters: ledgerSchema.Counters}, sqldb.Options{})
	if err != nil {
		return err
	}
	err = db.Write(context.Background(), func(t *sqldb.Tx) error {
		for _, e := range es {
			if e.CacheWrite1hTokens != 0 {
				return errors.New("schema 1 has no 1-hour cache writes")
			}
			u, err := t.Next(ledgerEntryIDs)
			if err != nil {
				return err
			}
			ts := e.Time.UnixNano()
			// The statement of schema 1.
			if _, err := t.Exec(`INSERT INTO entries (ts, id, session, provider, model, request_id, attempt_id,
					input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, nusd)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				ts, int64(u), e.Session, e.Provider, e.Model, e.RequestID, e.AttemptID,
				e.InputTokens, e.OutputTokens, e.CacheReadTokens, e.CacheWriteTokens, int64(e.Cost)); err != nil {
				return err
			}
			hour := hourOf(ts)
			for _, q := range []struct {
				sql  string
				name string
			}{{addProviderHourSQL, e.Provider}, {addSessionHourSQL, e.Session}} {
				if _, err := t.Exec(q.sql, hour, q.name, int64(e.Cost)); err != nil {
					return err
				}
			}
			if _, err := t.Exec(addSessionTotalSQL, e.Session, int64(e.Cost)); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// LedgerVersion returns the schema version of l's file.
func LedgerVersion(l *CostLedger) (int64, error) {
	var v int64
	err := l.db.Read(context.Background(), func(t *sqldb.ReadTx) error {
		var err error
		v, err = sqldb.QueryInt(t.Conn(), `PRAGMA user_version`)
		return err
	})
	return v, err
}
