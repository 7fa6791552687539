package jsonl

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/gofastr/store/abi"
)

// Source is what [Export] reads from: the read methods of a session
// store, which *host.Store and *host.MonthlyRollover have.
type Source interface {
	ListPastSessions(ctx context.Context, limit int) ([]abi.PastSession, error)
	EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error)
	ToolIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error)
	ToolOutcomes(ctx context.Context, sess abi.SessionID) ([]abi.ToolOutcome, error)
	AttemptsSince(ctx context.Context, afterID int64, limit int) ([]abi.ProviderAttempt, error)
	Pinned(ctx context.Context) ([]abi.SessionID, error)
}

// exportPage is how many events or attempts Export reads per call.
const exportPage = 1000

// Export writes the given sessions of src to w in the form (see the
// package documentation for the order of records), or every session src
// lists, sorted by ID, when none is given; a session asked for twice is
// written once, and a session with no records writes nothing. Event and
// attempt IDs are renumbered from 1 in the order written. Attempts are
// found by one pass over all of src's attempts. Export flushes what it wrote; on an error, the output may end after any
// complete line.
func Export(ctx context.Context, src Source, w io.Writer, sessions ...abi.SessionID) (Stats, error) {
	var st Stats
	if len(sessions) == 0 {
		past, err := src.ListPastSessions(ctx, 0)
		if err != nil {
			return st, fmt.Errorf("jsonl: export: %w", err)
		}
		for _, p := range past {
			sessions = append(sessions, p.ID)
		}
		slices.Sort(sessions)
	}
	var order []abi.SessionID
	want := map[abi.SessionID]bool{}
	for _, s := range sessions {
		if s == "" {
			return st, fmt.Errorf("jsonl: export: %w: empty session ID", ErrInvalidRecord)
		}
		if !want[s] {
			want[s] = true
			order = append(order, s)
		}
	}
	attempts, err := sessionAttempts(ctx, src, want)
	if err != nil {
		return st, fmt.Errorf("jsonl: export: %w", err)
	}
	pinned, err := src.Pinned(ctx)
	if err != nil {
		return st, fmt.Errorf("jsonl: export: %w", err)
	}
	pinned = slices.Clone(pinned)
	slices.Sort(pinned)
	jw := NewWriter(w)
	var eventID, attemptID int64
	put := func(r Record) error {
		if err := jw.Write(r); err != nil {
			return fmt.Errorf("jsonl: export: %w", err)
		}
		return nil
	}
	for _, sess := range order {
		for since := uint64(0); ; {
			evs, err := src.EventsSince(ctx, sess, since, exportPage)
			if err != nil {
				return st, fmt.Errorf("jsonl: export: session %q: %w", sess, err)
			}
			for _, e := range evs {
				since = e.ID
				eventID++
				e.ID = uint64(eventID)
				if err := put(Record{Type: TypeEvent, Event: &e}); err != nil {
					return st, err
				}
				st.Events++
				if e.Payload == nil {
					st.DroppedPayloads++
				}
			}
			if len(evs) < exportPage {
				break
			}
		}
		intents, err := src.ToolIntents(ctx, sess)
		if err != nil {
			return st, fmt.Errorf("jsonl: export: session %q: %w", sess, err)
		}
		for _, in := range intents {
			if err := put(Record{Type: TypeToolIntent, Intent: &in}); err != nil {
				return st, err
			}
			st.ToolIntents++
		}
		outcomes, err := src.ToolOutcomes(ctx, sess)
		if err != nil {
			return st, fmt.Errorf("jsonl: export: session %q: %w", sess, err)
		}
		for _, o := range outcomes {
			if err := put(Record{Type: TypeToolOutcome, Outcome: &o}); err != nil {
				return st, err
			}
			st.ToolOutcomes++
		}
		for _, a := range attempts[sess] {
			attemptID++
			a.ID = attemptID
			if err := put(Record{Type: TypeAttempt, Attempt: &a}); err != nil {
				return st, err
			}
			st.Attempts++
		}
		if _, ok := slices.BinarySearch(pinned, sess); ok {
			if err := put(Record{Type: TypePin, Session: sess}); err != nil {
				return st, err
			}
			st.Pins++
		}
	}
	if err := jw.Flush(); err != nil {
		return st, fmt.Errorf("jsonl: export: %w", err)
	}
	return st, nil
}

// sessionAttempts returns the attempts of the wanted sessions, in ID
// order, by session.
func sessionAttempts(ctx context.Context, src Source, want map[abi.SessionID]bool) (map[abi.SessionID][]abi.ProviderAttempt, error) {
	out := map[abi.SessionID][]abi.ProviderAttempt{}
	for after := int64(0); ; {
		page, err := src.AttemptsSince(ctx, after, exportPage)
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			after = a.ID
			if want[abi.SessionID(a.Session)] {
				out[abi.SessionID(a.Session)] = append(out[abi.SessionID(a.Session)], a)
			}
		}
		if len(page) < exportPage {
			break
		}
	}
	for _, as := range out {
		slices.SortFunc(as, func(a, b abi.ProviderAttempt) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out, nil
}
