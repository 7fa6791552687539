package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
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
// Other processes may keep a deleted month open until they close it
// (their reads of it keep working on Unix), and reads of this rollover
// running at the same time may fail with [ErrClosed]: run it when the
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
// the session. Payloads are decoded with src's dictionaries and encoded
// again with dst's.
func copySession(ctx context.Context, src, dst *Store, sess abi.SessionID) error {
	var after int64 = -1
	for {
		type row struct {
			id, turn, ts, size int64
			kind               string
			format             int64
			payload            []byte // nil: dropped by retention
		}
		var rows []row
		err := src.read(ctx, func(q *rtx) error {
			st, err := q.stmt(`SELECT id, turn, kind, ts, size, format, payload FROM events WHERE session = ? AND id > ? ORDER BY id LIMIT ?`)
			if err != nil {
				return err
			}
			defer st.Reset()
			if err := bindAll(st, string(sess), after, copyBatch); err != nil {
				return err
			}
			for st.Step() {
				r := row{id: st.ColumnInt64(0), turn: st.ColumnInt64(1), kind: st.ColumnText(2), ts: st.ColumnInt64(3), size: st.ColumnInt64(4), format: st.ColumnInt64(5)}
				if st.ColumnType(6) != sqlite3.NULL {
					p, err := columnPayload(src.codec, st, 5, 6)
					if err != nil {
						return fmt.Errorf("event %d: %w", r.id, err)
					}
					r.payload = p
				}
				rows = append(rows, r)
			}
			return st.Err()
		})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		type enc struct {
			data   []byte
			format byte
		}
		encs := make([]enc, len(rows))
		for i, r := range rows {
			if r.payload != nil {
				encs[i].data, encs[i].format = dst.codec.compress(r.payload, r.ts)
			}
		}
		err = dst.write(ctx, func(tx *wtx) error {
			// A month sealed meanwhile is final: its ID range is
			// cached by readers (see firstRow). The caller retries
			// in the month that took over.
			if err := tx.checkSealed(); err != nil {
				return err
			}
			if _, err := tx.exec(`INSERT INTO counters (name, value) VALUES ('`+firstRow+`', ?) ON CONFLICT (name) DO UPDATE SET value = min(value, excluded.value)`, rows[0].id); err != nil {
				return err
			}
			for i, r := range rows {
				data, format := any(nil), r.format
				if r.payload != nil {
					d, f := dst.codec.recheck(tx, r.payload, encs[i].data, encs[i].format)
					data, format = d, int64(f)
				}
				if _, err := tx.exec(`INSERT OR IGNORE INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
					string(sess), r.id, r.turn, r.kind, r.ts, format, r.size, data); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		after = rows[len(rows)-1].id
	}
	// The summary, the first user message, tool calls and attempts, and the pin.
	var first struct {
		event   any
		message any
	}
	err := src.read(ctx, func(q *rtx) error {
		st, err := q.stmt(`SELECT first_user_event, first_user_message FROM sessions WHERE id = ?`)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, string(sess)); err != nil {
			return err
		}
		if st.Step() && st.ColumnType(0) != sqlite3.NULL {
			first.event = st.ColumnInt64(0)
			if st.ColumnType(1) != sqlite3.NULL {
				first.message = st.ColumnText(1)
			}
		}
		return st.Err()
	})
	if err != nil {
		return err
	}
	tables := []struct{ sel, ins string }{
		{`SELECT session, call_id, turn, tool, args_hash, args, started_at FROM tool_intents WHERE session = ?`,
			`INSERT OR IGNORE INTO tool_intents (session, call_id, turn, tool, args_hash, args, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{`SELECT session, call_id, status, result, error, ended_at FROM tool_outcomes WHERE session = ?`,
			`INSERT OR IGNORE INTO tool_outcomes (session, call_id, status, result, error, ended_at) VALUES (?, ?, ?, ?, ?, ?)`},
		{`SELECT id, session, turn, provider, model, request_id, started_at, ended_at, reason,
				input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, estimated_nusd,
				price_source, price_input, price_output, price_cache_read, price_cache_write FROM provider_attempts WHERE session = ?`,
			`INSERT OR IGNORE INTO provider_attempts (id, session, turn, provider, model, request_id, started_at, ended_at, reason,
				input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, estimated_nusd,
				price_source, price_input, price_output, price_cache_read, price_cache_write)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{`SELECT session, pinned_at FROM pins WHERE session = ?`,
			`INSERT OR IGNORE INTO pins (session, pinned_at) VALUES (?, ?)`},
	}
	for _, t := range tables {
		var rows [][]any
		err := src.read(ctx, func(q *rtx) error {
			st, err := q.stmt(t.sel)
			if err != nil {
				return err
			}
			defer st.Reset()
			if err := bindAll(st, string(sess)); err != nil {
				return err
			}
			for st.Step() {
				rows = append(rows, scanValues(st))
			}
			return st.Err()
		})
		if err != nil {
			return err
		}
		for len(rows) > 0 {
			n := min(len(rows), copyBatch)
			batch := rows[:n]
			rows = rows[n:]
			if err := dst.write(ctx, func(tx *wtx) error {
				for _, vals := range batch {
					if _, err := tx.exec(t.ins, vals...); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
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
