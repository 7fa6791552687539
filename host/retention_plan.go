package host

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gofastr/store/abi"
)

// A RetentionPlan says what [Store.ApplyRetention] with a payload TTL and
// [Store.DropMetadata] with a metadata age would remove, per session,
// counted in one read transaction without changing anything.
type RetentionPlan struct {
	// PayloadCutoff is the time before which payloads would be dropped;
	// zero when no payload TTL was given.
	PayloadCutoff time.Time `json:"payload_cutoff,omitzero"`
	// MetadataCutoff is the time before which rows would be deleted; zero
	// when no metadata age was given.
	MetadataCutoff time.Time `json:"metadata_cutoff,omitzero"`
	// Sessions lists the sessions with anything to remove, by ID. Pinned
	// sessions are exempt from retention and never listed.
	Sessions []SessionRetention `json:"sessions"`
}

// SessionRetention counts what a retention run would remove from one
// session. With both a payload TTL and a metadata age, an event can count
// in both Payloads and Events, as it does in the results of
// ApplyRetention followed by DropMetadata.
type SessionRetention struct {
	Session abi.SessionID `json:"session"`
	// Payloads is the number of events whose payload ApplyRetention would
	// drop.
	Payloads int64 `json:"payloads"`
	// Events is the number of events DropMetadata would delete.
	Events int64 `json:"events"`
	// ToolCalls is the number of tool intents DropMetadata would delete.
	ToolCalls int64 `json:"tool_calls"`
	// Attempts is the number of provider attempts DropMetadata would
	// delete (see [CostLedger.SyncAttempts] to keep their costs).
	Attempts int64 `json:"attempts"`
}

// Totals returns the sums over every session of the plan; its Session is
// empty.
func (p *RetentionPlan) Totals() SessionRetention {
	var t SessionRetention
	for _, s := range p.Sessions {
		t.Payloads += s.Payloads
		t.Events += s.Events
		t.ToolCalls += s.ToolCalls
		t.Attempts += s.Attempts
	}
	return t
}

// PlanRetention counts, per session, what ApplyRetention(ctx, payloadTTL)
// followed by DropMetadata(ctx, metadataAge, nil) would remove now, and
// changes nothing: it is the dry run of a retention. A zero duration
// leaves that step out; both zero, or either negative, is an error
// matching [ErrInvalidArgument], as is a cutoff outside the storable
// range. The cutoffs are computed from the store's clock exactly as the
// two methods compute theirs, so with nothing written in between, the
// totals equal the counts they return.
func (s *Store) PlanRetention(ctx context.Context, payloadTTL, metadataAge time.Duration) (*RetentionPlan, error) {
	if payloadTTL == 0 && metadataAge == 0 {
		return nil, fmt.Errorf("plan retention: %w: neither a payload TTL nor a metadata age given", ErrInvalidArgument)
	}
	plan := &RetentionPlan{}
	payloadCut, metaCut := int64(math.MinInt64), int64(math.MinInt64) // nothing is older
	if payloadTTL != 0 {
		c, err := s.cutoff("payload ttl", payloadTTL)
		if err != nil {
			return nil, fmt.Errorf("plan retention: %w", err)
		}
		payloadCut, plan.PayloadCutoff = c, time.Unix(0, c)
	}
	if metadataAge != 0 {
		c, err := s.cutoff("metadata age", metadataAge)
		if err != nil {
			return nil, fmt.Errorf("plan retention: %w", err)
		}
		metaCut, plan.MetadataCutoff = c, time.Unix(0, c)
	}
	bySession := map[abi.SessionID]*SessionRetention{}
	get := func(id string) *SessionRetention {
		sr := bySession[abi.SessionID(id)]
		if sr == nil {
			sr = &SessionRetention{Session: abi.SessionID(id)}
			bySession[sr.Session] = sr
		}
		return sr
	}
	err := s.read(ctx, func(q *rtx) error {
		for _, c := range []struct {
			query string
			add   func(sr *SessionRetention, a, b int64)
		}{
			{`SELECT session, sum(ts < ?1 AND payload IS NOT NULL), sum(ts < ?2) FROM events
				WHERE ((ts < ?1 AND payload IS NOT NULL) OR ts < ?2) AND ` + notPinned + ` GROUP BY session`,
				func(sr *SessionRetention, a, b int64) { sr.Payloads += a; sr.Events += b }},
			{`SELECT session, 0, count(*) FROM tool_intents WHERE started_at < ?2 AND ` + notPinned + ` GROUP BY session`,
				func(sr *SessionRetention, _, b int64) { sr.ToolCalls += b }},
			{`SELECT session, 0, count(*) FROM provider_attempts WHERE started_at < ?2 AND ` + notPinned + ` GROUP BY session`,
				func(sr *SessionRetention, _, b int64) { sr.Attempts += b }},
		} {
			st, err := q.stmt(c.query)
			if err != nil {
				return err
			}
			if err := bindAll(st, payloadCut, metaCut); err != nil {
				st.Reset()
				return err
			}
			for st.Step() {
				c.add(get(st.ColumnText(0)), st.ColumnInt64(1), st.ColumnInt64(2))
			}
			err = st.Err()
			st.Reset()
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan retention: %w", err)
	}
	plan.Sessions = make([]SessionRetention, 0, len(bySession))
	for _, sr := range bySession {
		plan.Sessions = append(plan.Sessions, *sr)
	}
	slices.SortFunc(plan.Sessions, func(a, b SessionRetention) int {
		if a.Session < b.Session {
			return -1
		}
		if a.Session > b.Session {
			return 1
		}
		return 0
	})
	return plan, nil
}
