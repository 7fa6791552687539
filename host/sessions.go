package host

import (
	"context"
	"fmt"
	"time"

	"github.com/gofastr/store/abi"
)

// ListPastSessions returns up to limit session summaries, the most recently
// active first (limit 0 means all). Summaries are maintained on append, so
// the cost does not grow with the number of events.
func (s *Store) ListPastSessions(ctx context.Context, limit int) ([]abi.PastSession, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list past sessions: %w: negative limit %d", ErrInvalidArgument, limit)
	}
	lim := int64(limit)
	if limit == 0 {
		lim = -1
	}
	var out []abi.PastSession
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(`SELECT s.id, s.first_ts, s.last_ts, s.events, s.last_turn, s.tool_calls,
				coalesce(s.first_user_message, ''), p.session IS NOT NULL
			FROM sessions s LEFT JOIN pins p ON p.session = s.id
			ORDER BY s.last_ts DESC, s.id LIMIT ?`)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, lim); err != nil {
			return err
		}
		for st.Step() {
			out = append(out, abi.PastSession{
				ID:               abi.SessionID(st.ColumnText(0)),
				FirstSeen:        time.Unix(0, st.ColumnInt64(1)),
				LastSeen:         time.Unix(0, st.ColumnInt64(2)),
				Events:           st.ColumnInt(3),
				LastTurn:         st.ColumnInt(4),
				ToolCalls:        st.ColumnInt(5),
				FirstUserMessage: st.ColumnText(6),
				Pinned:           st.ColumnBool(7),
			})
		}
		return st.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list past sessions: %w", err)
	}
	return out, nil
}

// Pin exempts session sess from [Store.ApplyRetention] and
// [Store.DropMetadata] until [Store.Unpin]. Pinning is persistent and
// idempotent, and a session may be pinned before it has events.
func (s *Store) Pin(ctx context.Context, sess abi.SessionID) error {
	if sess == "" {
		return ErrEmptySession
	}
	pinnedAt, err := s.nanos("pin time", time.Time{})
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	return s.write(ctx, func(tx *wtx) error { return tx.insertPin(sess, pinnedAt) })
}

// insertPin pins session sess as of pinnedAt (Unix nanoseconds), unless
// it is pinned already.
func (t *wtx) insertPin(sess abi.SessionID, pinnedAt int64) error {
	_, err := t.exec(`INSERT INTO pins (session, pinned_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, string(sess), pinnedAt)
	return err
}

// Unpin removes the pin of session sess, if any.
func (s *Store) Unpin(ctx context.Context, sess abi.SessionID) error {
	if sess == "" {
		return ErrEmptySession
	}
	return s.write(ctx, func(tx *wtx) error {
		_, err := tx.exec(`DELETE FROM pins WHERE session = ?`, string(sess))
		return err
	})
}

// Pinned returns the pinned sessions, in no particular order.
func (s *Store) Pinned(ctx context.Context) ([]abi.SessionID, error) {
	var out []abi.SessionID
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(`SELECT session FROM pins`)
		if err != nil {
			return err
		}
		defer st.Reset()
		for st.Step() {
			out = append(out, abi.SessionID(st.ColumnText(0)))
		}
		return st.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("pinned: %w", err)
	}
	return out, nil
}
