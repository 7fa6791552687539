package host

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
)

// RecordToolIntent records that a tool call is about to run; write it
// before running the tool. Arguments are redacted before they are stored;
// an empty ArgsHash is filled with [HashArgs] of the arguments as given.
// Recording the same call (session and call ID) again replaces it.
func (s *Store) RecordToolIntent(ctx context.Context, in abi.ToolIntent) error {
	r, err := s.prepareIntent(in)
	if err != nil {
		return fmt.Errorf("record tool intent: %w", err)
	}
	err = s.write(ctx, func(tx *wtx) error {
		if err := tx.checkSealed(); err != nil {
			return err
		}
		return tx.insertIntent(&r)
	})
	if err != nil {
		return fmt.Errorf("record tool intent: %w", err)
	}
	return nil
}

// intentRow is a tool intent checked and redacted for storing (see
// prepareIntent and wtx.insertIntent).
type intentRow struct {
	session, callID, tool, hash string
	turn                        int
	args                        []byte // redacted; nil without arguments
	started                     int64  // Unix nanoseconds
}

// prepareIntent checks in, fills its arguments' hash and redacts them.
func (s *Store) prepareIntent(in abi.ToolIntent) (intentRow, error) {
	if err := checkCall(in.Session, in.CallID); err != nil {
		return intentRow{}, err
	}
	if in.Tool == "" {
		return intentRow{}, fmt.Errorf("%w: empty tool name", ErrInvalidArgument)
	}
	r := intentRow{session: string(in.Session), callID: in.CallID, tool: in.Tool, hash: in.ArgsHash, turn: in.Turn}
	if r.hash == "" {
		r.hash = HashArgs(in.Args)
	}
	if in.Args != nil {
		var err error
		if r.args, err = s.redactJSON(in.Args); err != nil {
			return intentRow{}, err
		}
	}
	var err error
	if r.started, err = s.nanos("tool start time", in.StartedAt); err != nil {
		return intentRow{}, err
	}
	return r, nil
}

// insertIntent stores r, replacing the intent of the same call.
func (t *wtx) insertIntent(r *intentRow) error {
	_, err := t.exec(`INSERT OR REPLACE INTO tool_intents (session, call_id, turn, tool, args_hash, args, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.session, r.callID, r.turn, r.tool, r.hash, r.args, r.started)
	return err
}

// RecordToolOutcome records how a tool call ended. Result and Error are
// redacted before they are stored. Recording the same call again replaces
// the outcome.
func (s *Store) RecordToolOutcome(ctx context.Context, out abi.ToolOutcome) error {
	r, err := s.prepareOutcome(out)
	if err != nil {
		return fmt.Errorf("record tool outcome: %w", err)
	}
	err = s.write(ctx, func(tx *wtx) error {
		if err := tx.checkSealed(); err != nil {
			return err
		}
		return tx.insertOutcome(&r)
	})
	if err != nil {
		return fmt.Errorf("record tool outcome: %w", err)
	}
	return nil
}

// outcomeRow is a tool outcome checked and redacted for storing (see
// prepareOutcome and wtx.insertOutcome).
type outcomeRow struct {
	session, callID, status, errText string
	result                           []byte // redacted; nil without a result
	ended                            int64  // Unix nanoseconds
}

// prepareOutcome checks out and redacts its result and error.
func (s *Store) prepareOutcome(out abi.ToolOutcome) (outcomeRow, error) {
	if err := checkCall(out.Session, out.CallID); err != nil {
		return outcomeRow{}, err
	}
	if out.Status == "" {
		return outcomeRow{}, fmt.Errorf("%w: empty status", ErrInvalidArgument)
	}
	r := outcomeRow{session: string(out.Session), callID: out.CallID, status: out.Status}
	var err error
	if out.Result != nil {
		if r.result, err = s.redactJSON(out.Result); err != nil {
			return outcomeRow{}, err
		}
	}
	if r.ended, err = s.nanos("tool end time", out.EndedAt); err != nil {
		return outcomeRow{}, err
	}
	r.errText = s.redactText(out.Error)
	return r, nil
}

// insertOutcome stores r, replacing the outcome of the same call.
func (t *wtx) insertOutcome(r *outcomeRow) error {
	_, err := t.exec(`INSERT OR REPLACE INTO tool_outcomes (session, call_id, status, result, error, ended_at) VALUES (?, ?, ?, ?, ?, ?)`,
		r.session, r.callID, r.status, r.result, r.errText, r.ended)
	return err
}

func checkCall(sess abi.SessionID, callID string) error {
	if sess == "" {
		return ErrEmptySession
	}
	if callID == "" {
		return fmt.Errorf("%w: empty call ID", ErrInvalidArgument)
	}
	return nil
}

// OrphanIntents returns the tool intents of session sess that have no
// outcome, oldest first: the calls a harness must resolve after a crash.
// An empty sess returns the orphans of every session.
func (s *Store) OrphanIntents(ctx context.Context, sess abi.SessionID) ([]abi.ToolIntent, error) {
	return s.queryIntents(ctx, "orphan intents", `SELECT i.session, i.call_id, i.turn, i.tool, i.args_hash, i.args, i.started_at
		FROM tool_intents i
		WHERE (?1 = '' OR i.session = ?1)
		  AND NOT EXISTS (SELECT 1 FROM tool_outcomes o WHERE o.session = i.session AND o.call_id = i.call_id)
		ORDER BY i.started_at, i.session, i.call_id`, sess)
}

// queryIntents runs query, which selects session, call_id, turn, tool,
// args_hash, args and started_at of tool_intents with sess bound as ?1,
// and returns the intents it yields; what names the query in errors.
func (s *Store) queryIntents(ctx context.Context, what, query string, sess abi.SessionID) ([]abi.ToolIntent, error) {
	var out []abi.ToolIntent
	err := s.read(ctx, func(q *rtx) error {
		st, err := q.stmt(query)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, string(sess)); err != nil {
			return err
		}
		for st.Step() {
			in := abi.ToolIntent{
				Session:   abi.SessionID(st.ColumnText(0)),
				CallID:    st.ColumnText(1),
				Turn:      st.ColumnInt(2),
				Tool:      st.ColumnText(3),
				ArgsHash:  st.ColumnText(4),
				StartedAt: time.Unix(0, st.ColumnInt64(6)),
			}
			if st.ColumnType(5) != sqlite3.NULL {
				in.Args = json.RawMessage(st.ColumnBlob(5, nil))
			}
			out = append(out, in)
		}
		return st.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
