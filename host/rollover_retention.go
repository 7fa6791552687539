package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/keyring"
)

// copyBatch is the number of rows DropMonthsBefore copies per write
// transaction.
const copyBatch = 256

// monthFileSuffixes are the files of a month besides its database, in the
// order DropMonthsBefore removes them: the database's data first, then
// its DEK headers (removing sessions-YYYYMM.db.dek crypto-shreds any copy
// of the data that survives elsewhere), then the lock files.
var monthFileSuffixes = []string{"", "-wal", "-journal", "-shm", ".rekey", ".dek", ".dek.next", ".lock", ".dek.lock"}

// DropMonthsBefore deletes every month that ended at or before horizon,
// the current month excepted, with all of its files: database, WAL, DEK
// header (which crypto-shreds whatever copies of the encrypted data
// remain, in backups for instance) and lock files. It returns the paths of
// the month databases it deleted, oldest first.
//
// Sessions pinned in any month ([MonthlyRollover.Pin]) and saved
// reconciliations are not lost: before a month is deleted, its part of
// each pinned session (events, tool intents and outcomes, provider
// attempts, the pin) and all of its reconciliations are copied into the
// current month with the same IDs. IDs are preserved, not remapped,
// so that a reader holding an ID (a tailer's since, an attempt ID in a
// cost ledger) still finds the same record, and so that the copy is
// idempotent: rows already there are skipped (INSERT OR IGNORE on their
// keys), and the session's summary is recomputed from its events. A
// process killed between the copy and the deletion leaves both months:
// the next call copies nothing new and deletes the old month; queries in
// between read each event and attempt once (duplicate IDs are merged, and
// the period sums LocalCostNanosInPeriod and UnpricedAttemptsInPeriod
// count the newest copy only), but the session's counts in
// ListPastSessions include the copy twice.
//
// The deletion runs under the directory's lock file, which readers
// take shared to open a month they have not opened yet: a reader that
// listed a month just before it went skips it, and never creates it
// again. Other rollovers, in this process and others, close their
// handles of a deleted month the next time they list the directory (any
// write or query does), and reads of it running at the same time, there
// and in this rollover, may fail with [ErrClosed]: run it when the
// archives are quiet.
func (m *MonthlyRollover) DropMonthsBefore(ctx context.Context, horizon time.Time) ([]string, error) {
	if horizon.IsZero() {
		return nil, fmt.Errorf("drop months: %w: zero horizon", ErrInvalidArgument)
	}
	stores, err := m.all() // seals every month but the newest
	if err != nil {
		return nil, fmt.Errorf("drop months: %w", err)
	}
	cur, err := m.Current()
	if err != nil {
		return nil, fmt.Errorf("drop months: %w", err)
	}
	pinned, err := pinnedIn(ctx, stores)
	if err != nil {
		return nil, fmt.Errorf("drop months: %w", err)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	// Readers open a month only under the directory's lock file held
	// shared, after checking that its files are there (openExisting):
	// holding it exclusively while deleting, no one opens, and so
	// creates again, a month half deleted.
	unlock, err := lockDir(m.lock, rolloverLockWait)
	if err != nil {
		return nil, fmt.Errorf("drop months: %w", err)
	}
	defer unlock()
	months, err := m.list()
	if err != nil {
		return nil, fmt.Errorf("drop months: %w", err)
	}
	var dropped []string
	for _, mo := range months {
		if mo >= m.curMonth || (mo + 1).start(m.loc).After(horizon) {
			continue
		}
		s, err := m.openLocked(mo)
		if errors.Is(err, keyring.ErrNoHeader) {
			// An encrypted database without its DEK header (left by
			// a deletion in the wrong order): no one can read it any
			// more. Finish the deletion.
			if err := removeMonth(m.path(mo)); err != nil {
				return dropped, fmt.Errorf("drop months: %w", err)
			}
			dropped = append(dropped, m.path(mo))
			continue
		}
		if err != nil {
			return dropped, fmt.Errorf("drop months: %w", err)
		}
		for _, sess := range pinned {
			if err := copySession(ctx, s, cur, sess); err != nil {
				return dropped, fmt.Errorf("drop months: copy pinned session from %s: %w", s.path, err)
			}
		}
		if err := copyReconciliations(ctx, s, cur); err != nil {
			return dropped, fmt.Errorf("drop months: copy reconciliations from %s: %w", s.path, err)
		}
		if err := s.Close(); err != nil {
			return dropped, fmt.Errorf("drop months: %w", err)
		}
		delete(m.stores, mo)
		delete(m.sealed, mo)
		if err := removeMonth(m.path(mo)); err != nil {
			return dropped, fmt.Errorf("drop months: %w", err)
		}
		dropped = append(dropped, m.path(mo))
	}
	// Leftovers of a deletion that was interrupted after the database
	// went: headers and lock files of months past the horizon.
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return dropped, fmt.Errorf("drop months: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		i := strings.Index(name, ".db")
		if i < 0 {
			continue
		}
		mo, ok := parseMonth(name[:i+3])
		if !ok || name == mo.name() || mo >= m.curMonth || (mo + 1).start(m.loc).After(horizon) {
			continue
		}
		if _, err := os.Stat(m.path(mo)); err == nil {
			continue // a month that failed above keeps its files
		}
		if err := removeMonth(m.path(mo)); err != nil {
			return dropped, fmt.Errorf("drop months: %w", err)
		}
	}
	return dropped, nil
}

// removeMonth removes the files of the month database at path, in the
// order of monthFileSuffixes; missing files are skipped.
func removeMonth(path string) error { return removeMonthFiles(path, true) }

// removeMonthFiles is removeMonth, without the lock files unless locks.
func removeMonthFiles(path string, locks bool) error {
	for _, suf := range monthFileSuffixes {
		if !locks && strings.HasSuffix(suf, storeLockSuffix) {
			continue
		}
		if err := os.Remove(path + suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// copySession copies session sess's rows from src into dst, keeping their
// IDs and skipping rows dst already has, then recomputes dst's summary of
// the session. Every table is copied with all of its columns (see
// copyRows), so that a column a later schema adds comes along. Payloads
// are decoded with src's dictionaries and encoded again with dst's.
func copySession(ctx context.Context, src, dst *Store, sess abi.SessionID) error {
	if err := copyRows(ctx, src, dst, eventsCopy(src, dst, sess)); err != nil {
		return err
	}
	// The summary, the first user message, tool calls and attempts, and the pin.
	var first struct {
		event   any
		message any
	}
	err := src.read(ctx, func(q *rtx) error {
		return queryRows(q, `SELECT first_user_event, first_user_message FROM sessions WHERE id = ?`, []any{string(sess)}, func(st *sqlite3.Stmt) error {
			if st.ColumnType(0) != sqlite3.NULL {
				first.event = st.ColumnInt64(0)
				if st.ColumnType(1) != sqlite3.NULL {
					first.message = st.ColumnText(1)
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, t := range []struct{ table, key string }{
		{"tool_intents", "call_id"}, {"tool_outcomes", "call_id"}, {"provider_attempts", "id"}, {"pins", "session"},
	} {
		if err := copyRows(ctx, src, dst, rowCopy{table: t.table, key: t.key, where: "session = ?", args: []any{string(sess)}}); err != nil {
			return err
		}
	}
	return dst.write(ctx, func(tx *wtx) error {
		_, err := tx.exec(`INSERT INTO sessions (id, first_ts, last_ts, events, last_turn, tool_calls)
			SELECT session, min(ts), max(ts), count(*), max(turn), count(*) FILTER (WHERE kind = 'tool_call') FROM events WHERE session = ?1 GROUP BY session
			ON CONFLICT (id) DO UPDATE SET first_ts = excluded.first_ts, last_ts = excluded.last_ts, events = excluded.events,
				last_turn = excluded.last_turn, tool_calls = excluded.tool_calls`, string(sess))
		if err != nil || first.event == nil {
			return err
		}
		_, err = tx.exec(`UPDATE sessions SET first_user_event = ?1, first_user_message = ?2
			WHERE id = ?3 AND (first_user_event IS NULL OR first_user_event > ?1)`, first.event, first.message, string(sess))
		return err
	})
}

// rowCopy says which rows copyRows copies, and how.
type rowCopy struct {
	table string
	key   string // a column, unique among the copied rows, to page on
	where string // condition on the rows (with args), or ""
	args  []any
	// scan, if set, reads the row st is on instead of scanValues, in
	// src's read transaction; cols are the column names.
	scan func(st *sqlite3.Stmt, cols []string) ([]any, error)
	// batch, if set, runs on each batch of rows before it is written
	// and returns what the write transaction runs before inserting
	// them, which may change the rows.
	batch func(cols []string, rows [][]any) (func(tx *wtx) error, error)
}

// copyRows copies the rows c selects from src into dst with every column
// src's table has (SELECT *), so that columns a later schema adds come
// along, keeping their keys: rows dst already has are skipped (INSERT OR
// IGNORE), so the copy is idempotent. It pages on c.key, copyBatch rows
// per write transaction.
func copyRows(ctx context.Context, src, dst *Store, c rowCopy) error {
	where := c.key + ` > ?`
	if c.where != "" {
		where = c.where + ` AND ` + where
	}
	sel := `SELECT * FROM ` + c.table + ` WHERE ` + where + ` ORDER BY ` + c.key + ` LIMIT ?`
	var after any = int64(-1) // below every integer and every text in SQLite's order
	for {
		var cols []string
		var rows [][]any
		err := src.read(ctx, func(q *rtx) error {
			st, err := q.stmt(sel)
			if err != nil {
				return err
			}
			defer st.Reset()
			if err := bindAll(st, append(slices.Clone(c.args), after, copyBatch)...); err != nil {
				return err
			}
			cols = make([]string, st.ColumnCount())
			for i := range cols {
				cols[i] = st.ColumnName(i)
			}
			for st.Step() {
				vals := scanValues(st)
				if c.scan != nil {
					if vals, err = c.scan(st, cols); err != nil {
						return err
					}
				}
				rows = append(rows, vals)
			}
			return st.Err()
		})
		if err != nil || len(rows) == 0 {
			return err
		}
		key := slices.Index(cols, c.key)
		if key < 0 {
			return fmt.Errorf("table %s has no column %s", c.table, c.key)
		}
		// Read before the batch hook may change the rows.
		last := rows[len(rows)-1][key]
		var before func(tx *wtx) error
		if c.batch != nil {
			if before, err = c.batch(cols, rows); err != nil {
				return err
			}
		}
		ins := `INSERT OR IGNORE INTO ` + c.table + ` ("` + strings.Join(cols, `", "`) + `") VALUES (?` + strings.Repeat(", ?", len(cols)-1) + `)`
		if err := dst.write(ctx, func(tx *wtx) error {
			if before != nil {
				if err := before(tx); err != nil {
					return err
				}
			}
			for _, vals := range rows {
				if _, err := tx.exec(ins, vals...); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		after = last
	}
}

// eventsCopy copies session sess's events: payloads are decoded with
// src's dictionaries when read and compressed again for dst before the
// write, and the write fails with ErrMonthSealed on a sealed dst.
func eventsCopy(src, dst *Store, sess abi.SessionID) rowCopy {
	col := func(cols []string, name string) int { return slices.Index(cols, name) }
	return rowCopy{
		table: "events", key: "id", where: "session = ?", args: []any{string(sess)},
		scan: func(st *sqlite3.Stmt, cols []string) ([]any, error) {
			vals := scanValues(st)
			f, p := col(cols, "format"), col(cols, "payload")
			if f < 0 || p < 0 {
				return nil, errors.New("events table without format or payload column")
			}
			if vals[p] != nil { // NULL: dropped by retention
				payload, err := columnPayload(src.codec, st, f, p)
				if err != nil {
					return nil, fmt.Errorf("event %v: %w", vals[col(cols, "id")], err)
				}
				vals[p] = payload
			}
			return vals, nil
		},
		batch: func(cols []string, rows [][]any) (func(tx *wtx) error, error) {
			f, p, id, ts := col(cols, "format"), col(cols, "payload"), col(cols, "id"), col(cols, "ts")
			if id < 0 || ts < 0 {
				return nil, errors.New("events table without id or ts column")
			}
			type enc struct {
				data   []byte
				format byte
			}
			encs := make([]enc, len(rows))
			for i, r := range rows {
				if payload, ok := r[p].([]byte); ok {
					t, _ := r[ts].(int64)
					encs[i].data, encs[i].format = dst.codec.compress(payload, t)
				}
			}
			return func(tx *wtx) error {
				// A month sealed meanwhile is final: its ID range is
				// cached by readers (see firstRow). The caller retries
				// in the month that took over.
				if err := tx.checkSealed(); err != nil {
					return err
				}
				if _, err := tx.exec(`INSERT INTO counters (name, value) VALUES ('`+firstRow+`', ?) ON CONFLICT (name) DO UPDATE SET value = min(value, excluded.value)`, rows[0][id]); err != nil {
					return err
				}
				for i, r := range rows {
					if payload, ok := r[p].([]byte); ok {
						d, fm := dst.codec.recheck(tx, payload, encs[i].data, encs[i].format)
						r[p], r[f] = d, int64(fm)
					}
				}
				return nil
			}, nil
		},
	}
}

// scanValues returns the values of the row st is on, each as the Go type
// of its SQLite type (nil for NULL), ready to bind again.
func scanValues(st *sqlite3.Stmt) []any {
	vals := make([]any, st.ColumnCount())
	for i := range vals {
		switch st.ColumnType(i) {
		case sqlite3.INTEGER:
			vals[i] = st.ColumnInt64(i)
		case sqlite3.FLOAT:
			vals[i] = st.ColumnFloat(i)
		case sqlite3.TEXT:
			vals[i] = st.ColumnText(i)
		case sqlite3.BLOB:
			vals[i] = st.ColumnBlob(i, []byte{})
		}
	}
	return vals
}
