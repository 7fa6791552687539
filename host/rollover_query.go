package host

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
)

// EventsSince returns up to limit events of session sess with ID greater
// than since, oldest first, from every month (see [Store.EventsSince];
// limit 0 means no limit). Event IDs increase across months, so a reader
// can tail a session across the change of month exactly as on one Store:
// every month but the newest is sealed before it is read, and the newest
// month's IDs are above every sealed month's, so each call returns every
// event committed since the previous one, none skipped or repeated.
func (m *MonthlyRollover) EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error) {
	if sess == "" {
		return nil, ErrEmptySession
	}
	if limit < 0 {
		return nil, fmt.Errorf("events since: %w: negative limit %d", ErrInvalidArgument, limit)
	}
	stores, err := m.all()
	if err != nil {
		return nil, fmt.Errorf("events since: %w", err)
	}
	var out []abi.EventEnvelope
	// Once out holds limit events, a later month can only contribute
	// events below the last of them (copied forward by
	// DropMonthsBefore): months read after that are bounded by it.
	bound := uint64(math.MaxInt64)
	for _, s := range stores {
		if s.skip(since, bound) {
			continue
		}
		evs, err := s.eventsBetween(ctx, sess, since, bound, limit)
		if s.gone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("events since: %s: %w", s.path, err)
		}
		if len(evs) == 0 {
			continue
		}
		if len(out) > 0 && evs[0].ID <= out[len(out)-1].ID {
			out = append(out, evs...)
			slices.SortStableFunc(out, func(a, b abi.EventEnvelope) int { return cmp.Compare(a.ID, b.ID) })
			// A copy interrupted before its month was deleted
			// holds the same events twice, under the same IDs.
			out = slices.CompactFunc(out, func(a, b abi.EventEnvelope) bool { return a.ID == b.ID })
		} else {
			out = append(out, evs...)
		}
		if limit > 0 && len(out) >= limit {
			out = out[:limit]
			bound = out[limit-1].ID
		}
	}
	return out, nil
}

// eventsBetween is Store.EventsSince bounded above: the events of sess
// with since < ID < until, oldest first, at most limit (0: no limit).
func (s *Store) eventsBetween(ctx context.Context, sess abi.SessionID, since, until uint64, limit int) ([]abi.EventEnvelope, error) {
	if since >= math.MaxInt64 || until <= since+1 {
		return nil, nil
	}
	lim := int64(limit)
	if limit == 0 {
		lim = -1
	}
	var out []abi.EventEnvelope
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(`SELECT id, turn, kind, ts, format, payload FROM events WHERE session = ? AND id > ? AND id < ? ORDER BY id LIMIT ?`)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, string(sess), since, until, lim); err != nil {
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
	return out, err
}

// ListPastSessions returns up to limit session summaries across every
// month, the most recently active first (limit 0 means all). A session
// that spans months reads as one: its event and tool call counts summed,
// first and last activity merged, the first user message of its earliest
// month that has one, pinned if pinned in any month. It reads every
// month's summaries, so its cost grows with the number of sessions in
// all months, not with limit.
func (m *MonthlyRollover) ListPastSessions(ctx context.Context, limit int) ([]abi.PastSession, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list past sessions: %w: negative limit %d", ErrInvalidArgument, limit)
	}
	stores, err := m.all()
	if err != nil {
		return nil, fmt.Errorf("list past sessions: %w", err)
	}
	merged := map[abi.SessionID]*abi.PastSession{}
	for _, s := range stores {
		ps, err := s.ListPastSessions(ctx, 0)
		if s.gone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list past sessions: %s: %w", s.path, err)
		}
		for _, p := range ps {
			q := merged[p.ID]
			if q == nil {
				p := p
				merged[p.ID] = &p
				continue
			}
			if p.FirstSeen.Before(q.FirstSeen) {
				q.FirstSeen = p.FirstSeen
				if p.FirstUserMessage != "" {
					q.FirstUserMessage = p.FirstUserMessage
				}
			} else if q.FirstUserMessage == "" {
				q.FirstUserMessage = p.FirstUserMessage
			}
			if p.LastSeen.After(q.LastSeen) {
				q.LastSeen = p.LastSeen
			}
			q.Events += p.Events
			q.ToolCalls += p.ToolCalls
			q.LastTurn = max(q.LastTurn, p.LastTurn)
			q.Pinned = q.Pinned || p.Pinned
		}
	}
	out := make([]abi.PastSession, 0, len(merged))
	for _, p := range merged {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b abi.PastSession) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// OrphanIntents returns the tool intents of session sess (every session
// if sess is empty) that have no outcome in any month, oldest first: an
// intent recorded in one month whose outcome landed in the next is not an
// orphan. A call recorded again in a later month counts as that month's.
func (m *MonthlyRollover) OrphanIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error) {
	stores, err := m.all()
	if err != nil {
		return nil, fmt.Errorf("orphan intents: %w", err)
	}
	type key struct {
		sess abi.SessionID
		call string
	}
	cand := map[key]abi.ToolIntent{}
	for _, s := range stores {
		in, err := s.OrphanIntents(ctx, sess)
		if s.gone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("orphan intents: %s: %w", s.path, err)
		}
		for _, i := range in {
			cand[key{i.Session, i.CallID}] = i
		}
	}
	var out []abi.ToolIntent
	for k, in := range cand {
		done := false
		for _, s := range stores {
			if done, err = s.hasOutcome(ctx, k.sess, k.call); s.gone(err) {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("orphan intents: %s: %w", s.path, err)
			}
			if done {
				break
			}
		}
		if !done {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b abi.ToolIntent) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Session, b.Session); c != 0 {
			return c
		}
		return cmp.Compare(a.CallID, b.CallID)
	})
	return out, nil
}

// hasOutcome reports whether the store holds an outcome of the call.
func (s *Store) hasOutcome(ctx context.Context, sess abi.SessionID, callID string) (bool, error) {
	found := false
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(`SELECT 1 FROM tool_outcomes WHERE session = ? AND call_id = ?`)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, string(sess), callID); err != nil {
			return err
		}
		found = st.Step()
		return st.Err()
	})
	return found, err
}

// AttemptsForTurn returns every attempt of one turn of session sess across
// months, in ID order (see [Store.AttemptsForTurn]): a turn that straddles
// the change of month reads whole.
func (m *MonthlyRollover) AttemptsForTurn(ctx context.Context, sess string, turn int) ([]abi.ProviderAttempt, error) {
	if sess == "" {
		return nil, fmt.Errorf("attempts for turn: %w", ErrEmptySession)
	}
	stores, err := m.all()
	if err != nil {
		return nil, fmt.Errorf("attempts for turn: %w", err)
	}
	var out []abi.ProviderAttempt
	for _, s := range stores {
		as, err := s.AttemptsForTurn(ctx, sess, turn)
		if s.gone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("attempts for turn: %s: %w", s.path, err)
		}
		out = append(out, as...)
	}
	slices.SortStableFunc(out, func(a, b abi.ProviderAttempt) int { return cmp.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b abi.ProviderAttempt) bool { return a.ID == b.ID }), nil
}

// LocalCostNanosInPeriod returns the exact sum, in nano-dollars, of the
// estimated costs of the attempts at provider that started in [start,
// end), in every month (see [Store.LocalCostNanosInPeriod]): an attempt
// counts by its start time, whichever month file holds it, and once even
// if a [MonthlyRollover.DropMonthsBefore] killed midway left a copy of it
// in two months. A sum beyond int64 nano-dollars is an error wrapping
// [ErrInvalidArgument].
func (m *MonthlyRollover) LocalCostNanosInPeriod(ctx context.Context, provider string, start, end time.Time) (abi.NanoUSD, error) {
	n, err := m.periodSum(ctx, "local cost", localCostQuery, provider, start, end)
	return abi.NanoUSD(n), err
}

// periodSum adds up, over every month, query (an aggregate of the
// attempts at provider that started in [start, end), see
// Store.periodQuery), counting each attempt ID once. An attempt is in two
// months only as a copy DropMonthsBefore made into a newer month, whose
// ID is then at most the last attempt ID of the months before it: only
// those rows (none, in the common case; a range of the primary key finds
// them) are collected, newest month first, and each older month's
// aggregate leaves out the IDs collected from newer months, so the
// newest copy counts.
func (m *MonthlyRollover) periodSum(ctx context.Context, what, query, provider string, start, end time.Time) (int64, error) {
	stores, err := m.all()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	var sum int64
	var newer []int64 // IDs of copies held by newer months
	for i := len(stores) - 1; i >= 0; i-- {
		s := stores[i]
		n, err := s.periodQuery(ctx, what, query, provider, start, end)
		if s.gone(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", s.path, err)
		}
		from, _ := storable("period start", start) // checked by periodQuery
		to, _ := storable("period end", end)
		if len(newer) > 0 {
			ids, _ := json.Marshal(newer)
			var dup int64
			err := s.read(ctx, func(q *rtx) error {
				return queryRows(q, query+` AND id IN (SELECT value FROM json_each(?4))`, []any{provider, from, to, string(ids)},
					func(st *sqlite3.Stmt) error { dup = st.ColumnInt64(0); return nil })
			})
			if s.gone(err) {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("%s: %s: %w", what, s.path, err)
			}
			n -= dup
		}
		if i > 0 {
			below := int64(math.MaxInt64)
			if f := stores[i-1].sealed; f != nil {
				below = f.attempts
			}
			err := s.read(ctx, func(q *rtx) error {
				return queryRows(q, `SELECT id FROM provider_attempts WHERE id <= ?1 AND +provider = ?2 AND +started_at >= ?3 AND +started_at < ?4`,
					[]any{below, provider, from, to}, func(st *sqlite3.Stmt) error {
						newer = append(newer, st.ColumnInt64(0))
						return nil
					})
			})
			if s.gone(err) {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("%s: %s: %w", what, s.path, err)
			}
		}
		if n > math.MaxInt64-sum {
			return 0, fmt.Errorf("%s: %w: the sum exceeds int64", what, ErrInvalidArgument)
		}
		sum += n
	}
	return sum, nil
}

// LocalCostInPeriod is [MonthlyRollover.LocalCostNanosInPeriod] in
// dollars, converted once from the exact sum.
func (m *MonthlyRollover) LocalCostInPeriod(ctx context.Context, provider string, start, end time.Time) (float64, error) {
	n, err := m.LocalCostNanosInPeriod(ctx, provider, start, end)
	if err != nil {
		return 0, err
	}
	return n.USD(), nil
}
