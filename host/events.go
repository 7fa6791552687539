package host

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// AppendEvent stores one event with the redactors applied. When it returns
// nil the event is on stable storage: it survives a killed process and a
// power loss. Concurrent callers are group-committed. See [Store.Append]
// for the ID the store assigns.
func (s *Store) AppendEvent(ctx context.Context, env abi.EventEnvelope) error {
	_, err := s.Append(ctx, env)
	return err
}

// Append is [Store.AppendEvent] that also returns the ID assigned to the
// event: strictly increasing within the store, never reused, across every
// Store open on the file, in this process or others, across crashes and
// writes that fail. The ID is drawn from a counter in the database inside
// the write transaction, which holds SQLite's write lock, so events commit
// in ID order: once a reader sees an event, no event with a lower ID
// appears after it (see [Store.EventsSince]).
//
// The session ID and kind must not be empty and the payload must be valid
// JSON; a zero TS is set to the current time (of the clock given with
// [Config.WithClock], by default time.Now). A context canceled before
// the write starts stores nothing.
func (s *Store) Append(ctx context.Context, env abi.EventEnvelope) (uint64, error) {
	// Counted from here, so that a group commit waits for this caller's
	// redaction and compression (see sqldb.DB.Enter).
	defer s.db.Enter()()
	switch {
	case env.Session == "":
		return 0, ErrEmptySession
	case env.Kind == "":
		return 0, fmt.Errorf("append event: %w: empty kind", ErrInvalidArgument)
	}
	payload, err := s.redactJSON(env.Payload)
	if err != nil {
		return 0, fmt.Errorf("append event: %w", err)
	}
	ts, err := s.nanos("event time", env.TS)
	if err != nil {
		return 0, fmt.Errorf("append event: %w", err)
	}
	var preview any // NULL unless this is a user message
	if env.Kind == abi.KindUserMessage {
		preview = previewText(payload)
	}
	toolCalls := 0
	if env.Kind == abi.KindToolCall {
		toolCalls = 1
	}
	data, format := s.codec.compress(payload, ts)

	var id uint64
	// The write may run twice (it changes nothing outside the transaction
	// but the event IDs it draws), which saves its batch two statements
	// per write (see sqldb.Request.Rerun).
	err = s.db.Submit(ctx, sqldb.Request{Rerun: true, Fn: func(t *sqldb.Tx) error {
		tx := (*wtx)(t)
		if err := tx.checkSealed(); err != nil {
			return err
		}
		data, format := s.codec.recheck(tx, payload, data, format)
		var err error
		if id, err = tx.nextEventID(); err != nil {
			return err
		}
		if _, err := tx.exec(`INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			string(env.Session), id, env.Turn, env.Kind, ts, int(format), len(payload), data); err != nil {
			return err
		}
		var firstUser any
		if preview != nil {
			firstUser = int64(id)
		}
		_, err = tx.exec(`INSERT INTO sessions (id, first_ts, last_ts, events, last_turn, tool_calls, first_user_event, first_user_message)
			VALUES (?1, ?2, ?2, 1, ?3, ?4, ?5, ?6)
			ON CONFLICT (id) DO UPDATE SET
				first_ts = min(first_ts, excluded.first_ts),
				last_ts = max(last_ts, excluded.last_ts),
				events = events + 1,
				last_turn = max(last_turn, excluded.last_turn),
				tool_calls = tool_calls + excluded.tool_calls,
				first_user_message = iif(first_user_event IS NULL, excluded.first_user_message, first_user_message),
				first_user_event = coalesce(first_user_event, excluded.first_user_event)`,
			string(env.Session), ts, env.Turn, toolCalls, firstUser, preview)
		return err
	}})
	if err != nil {
		return 0, fmt.Errorf("append event: %w", err)
	}
	return id, nil
}

// EventsSince returns up to limit events of session sess with ID greater
// than since, oldest first; limit 0 means no limit. To page through a
// session, pass the last ID of one page as since for the next. Events whose
// payload was dropped by retention have a nil Payload.
//
// A reader can tail a session the same way, passing the last ID it has
// seen, while other Stores, in this or other processes, append: events
// commit in ID order (see [Store.Append]), so every call returns each
// event committed since the previous one, and none is skipped or repeated.
func (s *Store) EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error) {
	if sess == "" {
		return nil, ErrEmptySession
	}
	if limit < 0 {
		return nil, fmt.Errorf("events since: %w: negative limit %d", ErrInvalidArgument, limit)
	}
	if since >= math.MaxInt64 {
		return nil, nil // no ID is that large
	}
	lim := int64(limit)
	if limit == 0 {
		lim = -1
	}
	var out []abi.EventEnvelope
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(`SELECT id, turn, kind, ts, format, payload FROM events WHERE session = ? AND id > ? ORDER BY id LIMIT ?`)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, string(sess), since, lim); err != nil {
			return err
		}
		for st.Step() {
			env := abi.EventEnvelope{
				ID:      uint64(st.ColumnInt64(0)),
				Session: sess,
				Turn:    st.ColumnInt(1),
				Kind:    st.ColumnText(2),
				TS:      time.Unix(0, st.ColumnInt64(3)),
			}
			if st.ColumnType(5) != sqlite3.NULL {
				p, err := columnPayload(s.codec, st, 4, 5)
				if err != nil {
					return fmt.Errorf("event %d: %w", env.ID, err)
				}
				env.Payload = json.RawMessage(p)
			}
			out = append(out, env)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return st.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("events since: %w", err)
	}
	return out, nil
}

// columnPayload decodes a payload column stored with the format in column
// fcol. The result is a copy the caller owns.
func columnPayload(cd *codec, st *sqlite3.Stmt, fcol, pcol int) ([]byte, error) {
	format := byte(st.ColumnInt(fcol))
	if format == formatRaw {
		return st.ColumnBlob(pcol, []byte{}), nil
	}
	return cd.decompressConn(st.Conn(), st.ColumnRawBlob(pcol), format)
}
