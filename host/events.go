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
	r, err := s.prepareEvent(env)
	if err != nil {
		return 0, fmt.Errorf("append event: %w", err)
	}
	var id uint64
	// The write may run twice (it changes nothing outside the transaction
	// but the event IDs it draws), which saves its batch two statements
	// per write (see sqldb.Request.Rerun).
	err = s.db.Submit(ctx, sqldb.Request{Rerun: true, Fn: func(t *sqldb.Tx) error {
		tx := (*wtx)(t)
		if err := tx.checkSealed(); err != nil {
			return err
		}
		var err error
		id, err = tx.insertEvent(s.codec, &r)
		return err
	}})
	if err != nil {
		return 0, fmt.Errorf("append event: %w", err)
	}
	return id, nil
}

// eventRow is an event checked, redacted and compressed for storing: the
// part of an append done before the write transaction (see prepareEvent
// and wtx.insertEvent).
type eventRow struct {
	session, kind string
	turn          int
	ts            int64  // Unix nanoseconds
	payload       []byte // redacted, uncompressed
	data          []byte // payload as compressed, in format
	format        byte
	preview       any // first-user-message preview: string, or nil unless a user message
	toolCalls     int // 1 for a tool call, else 0
}

// prepareEvent checks env, redacts its payload and compresses it. Errors
// are ErrEmptySession or match ErrInvalidArgument, ErrInvalidPayload or
// ErrPayloadTooLarge.
func (s *Store) prepareEvent(env abi.EventEnvelope) (eventRow, error) {
	switch {
	case env.Session == "":
		return eventRow{}, ErrEmptySession
	case env.Kind == "":
		return eventRow{}, fmt.Errorf("%w: empty kind", ErrInvalidArgument)
	}
	payload, err := s.redactJSON(env.Payload)
	if err != nil {
		return eventRow{}, err
	}
	ts, err := s.nanos("event time", env.TS)
	if err != nil {
		return eventRow{}, err
	}
	r := eventRow{session: string(env.Session), kind: env.Kind, turn: env.Turn, ts: ts, payload: payload}
	if env.Kind == abi.KindUserMessage {
		r.preview = previewText(payload)
	}
	if env.Kind == abi.KindToolCall {
		r.toolCalls = 1
	}
	r.data, r.format = s.codec.compress(payload, ts)
	return r, nil
}

// insertEvent stores r, prepared by prepareEvent for a store with codec
// cd, with the next event ID, and updates its session's summary. It
// leaves r unchanged, so it may run again in a retried transaction.
func (t *wtx) insertEvent(cd *codec, r *eventRow) (uint64, error) {
	data, format := cd.recheck(t, r.payload, r.data, r.format)
	id, err := t.nextEventID()
	if err != nil {
		return 0, err
	}
	if _, err := t.exec(`INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.session, id, r.turn, r.kind, r.ts, int(format), len(r.payload), data); err != nil {
		return 0, err
	}
	var firstUser any
	if r.preview != nil {
		firstUser = int64(id)
	}
	_, err = t.exec(`INSERT INTO sessions (id, first_ts, last_ts, events, last_turn, tool_calls, first_user_event, first_user_message)
		VALUES (?1, ?2, ?2, 1, ?3, ?4, ?5, ?6)
		ON CONFLICT (id) DO UPDATE SET
			first_ts = min(first_ts, excluded.first_ts),
			last_ts = max(last_ts, excluded.last_ts),
			events = events + 1,
			last_turn = max(last_turn, excluded.last_turn),
			tool_calls = tool_calls + excluded.tool_calls,
			first_user_message = iif(first_user_event IS NULL, excluded.first_user_message, first_user_message),
			first_user_event = coalesce(first_user_event, excluded.first_user_event)`,
		r.session, r.ts, r.turn, r.toolCalls, firstUser, r.preview)
	if err != nil {
		return 0, err
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
