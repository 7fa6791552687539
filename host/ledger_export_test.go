package host

// Hooks of the cost ledger for the black-box tests and benchmarks in
// package host_test.

import (
	"context"
	"fmt"

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
