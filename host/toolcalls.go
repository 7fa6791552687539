package host

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
)

// ToolIntents returns every tool intent recorded for session sess, with
// or without an outcome, ordered by start time and then call ID. Use
// [Store.OrphanIntents] for the intents that lack an outcome.
func (s *Store) ToolIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error) {
	if sess == "" {
		return nil, fmt.Errorf("tool intents: %w", ErrEmptySession)
	}
	return s.queryIntents(ctx, "tool intents", `SELECT session, call_id, turn, tool, args_hash, args, started_at
		FROM tool_intents WHERE session = ?1 ORDER BY started_at, call_id`, sess)
}

// ToolOutcomes returns every tool outcome recorded for session sess,
// ordered by end time and then call ID.
func (s *Store) ToolOutcomes(ctx context.Context, sess abi.SessionID) ([]abi.ToolOutcome, error) {
	if sess == "" {
		return nil, fmt.Errorf("tool outcomes: %w", ErrEmptySession)
	}
	var out []abi.ToolOutcome
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(`SELECT call_id, status, result, error, ended_at
			FROM tool_outcomes WHERE session = ? ORDER BY ended_at, call_id`)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, string(sess)); err != nil {
			return err
		}
		for st.Step() {
			o := abi.ToolOutcome{
				Session: sess,
				CallID:  st.ColumnText(0),
				Status:  st.ColumnText(1),
				Error:   st.ColumnText(3),
				EndedAt: time.Unix(0, st.ColumnInt64(4)),
			}
			if st.ColumnType(2) != sqlite3.NULL {
				o.Result = json.RawMessage(st.ColumnBlob(2, nil))
			}
			out = append(out, o)
		}
		return st.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("tool outcomes: %w", err)
	}
	return out, nil
}

// ToolIntents returns every tool intent of session sess recorded in any
// month (see [Store.ToolIntents]); a call recorded again in a later month
// counts as that month's.
func (m *MonthlyRollover) ToolIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error) {
	out, err := acrossMonths(m, func(s *Store) ([]abi.ToolIntent, error) { return s.ToolIntents(ctx, sess) },
		func(in abi.ToolIntent) string { return in.CallID },
		func(a, b abi.ToolIntent) int {
			return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.CallID, b.CallID))
		})
	if err != nil {
		return nil, fmt.Errorf("tool intents: %w", err)
	}
	return out, nil
}

// ToolOutcomes returns every tool outcome of session sess recorded in any
// month (see [Store.ToolOutcomes]); a call recorded again in a later month
// counts as that month's.
func (m *MonthlyRollover) ToolOutcomes(ctx context.Context, sess abi.SessionID) ([]abi.ToolOutcome, error) {
	out, err := acrossMonths(m, func(s *Store) ([]abi.ToolOutcome, error) { return s.ToolOutcomes(ctx, sess) },
		func(o abi.ToolOutcome) string { return o.CallID },
		func(a, b abi.ToolOutcome) int {
			return cmp.Or(a.EndedAt.Compare(b.EndedAt), cmp.Compare(a.CallID, b.CallID))
		})
	if err != nil {
		return nil, fmt.Errorf("tool outcomes: %w", err)
	}
	return out, nil
}

// acrossMonths reads a session's rows of every month, oldest month first,
// keeps the newest month's row per key, and sorts the result.
func acrossMonths[T any](m *MonthlyRollover, read func(*Store) ([]T, error), key func(T) string, order func(a, b T) int) ([]T, error) {
	stores, err := m.all()
	if err != nil {
		return nil, err
	}
	byKey := map[string]T{}
	for _, s := range stores {
		rows, err := read(s.Store)
		if s.gone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		for _, r := range rows {
			byKey[key(r)] = r
		}
	}
	out := make([]T, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	slices.SortFunc(out, order)
	return out, nil
}
