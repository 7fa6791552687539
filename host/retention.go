package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/sqldb"
)

// DefaultMetadataAge is the default age after which DropMetadata deletes
// event rows: 180 days.
const DefaultMetadataAge = 180 * 24 * time.Hour

// notPinned is the SQL condition that keeps pinned sessions out of
// retention; ?1 is the cutoff in Unix nanoseconds.
const notPinned = `session NOT IN (SELECT session FROM pins)`

// ApplyRetention drops the payloads of events older than ttl, leaving
// metadata-only rows (their Payload reads back nil), and drops tool
// arguments and results as old. Pinned sessions are exempt. It returns the
// number of events whose payload was dropped.
//
// Dropped content is gone from the files, not just unreachable: the store
// runs with secure_delete, rewrites the database (VACUUM) and truncates the
// WAL after the change commits. That costs time and I/O in proportion to
// the store; run retention periodically (daily), not per event.
//
// The cutoff is the store's current time ([Config.WithClock]) minus ttl.
// A ttl that is not positive, or a current time or cutoff outside the
// storable range (Unix nanoseconds in an int64, 1677-09-21 to 2262-04-11 UTC), is an error matching
// [ErrInvalidArgument], and nothing changes. The highest cutoff applied
// is recorded in the store: no Store on the file, in this process or
// another, then stores a compression dictionary trained on older content.
func (s *Store) ApplyRetention(ctx context.Context, ttl time.Duration) (int64, error) {
	cutoff, err := s.cutoff("ttl", ttl)
	if err != nil {
		return 0, fmt.Errorf("apply retention: %w", err)
	}
	var n int64
	err = s.writeThenPurge(ctx, func(tx *wtx) error {
		if _, err := tx.exec(`UPDATE sessions SET first_user_message = NULL
			WHERE first_user_event IN (SELECT id FROM events WHERE ts < ?1 AND payload IS NOT NULL AND `+notPinned+`)`, cutoff); err != nil {
			return err
		}
		var err error
		if n, err = tx.exec(`UPDATE events SET payload = NULL, format = 0
			WHERE ts < ?1 AND payload IS NOT NULL AND `+notPinned, cutoff); err != nil {
			return err
		}
		if _, err := tx.exec(`UPDATE tool_intents SET args = NULL
			WHERE started_at < ?1 AND args IS NOT NULL AND `+notPinned, cutoff); err != nil {
			return err
		}
		if _, err = tx.exec(`UPDATE tool_outcomes SET result = NULL, error = NULL
			WHERE ended_at < ?1 AND (result IS NOT NULL OR error IS NOT NULL) AND `+notPinned, cutoff); err != nil {
			return err
		}
		return s.retireDicts(tx, cutoff)
	})
	if err != nil {
		if errors.Is(err, ErrNotErased) {
			return n, fmt.Errorf("apply retention: dropped %d payloads: %w", n, err)
		}
		return 0, fmt.Errorf("apply retention: %w", err)
	}
	return n, nil
}

// DropMetadata deletes event rows older than age, and tool intents and
// outcomes and provider attempts (by start time) as old, except those of
// pinned sessions and of exemptSessions. Attempts are session metadata
// like the rest: once deleted they no longer count in
// [Store.LocalCostInPeriod], so sum a period's cost before its attempts
// reach that age.
// Session summaries are recomputed from the rows that remain; a session
// with no rows left disappears from ListPastSessions. It returns the number
// of events deleted. [DefaultMetadataAge] is the usual age. Like
// [Store.ApplyRetention], it erases the deleted content from the files; if
// that fails after the deletion committed, it returns the number deleted
// with an error matching [ErrNotErased]. Its cutoff is checked and
// recorded as ApplyRetention's.
func (s *Store) DropMetadata(ctx context.Context, age time.Duration, exemptSessions []string) (int64, error) {
	cutoff, err := s.cutoff("age", age)
	if err != nil {
		return 0, fmt.Errorf("drop metadata: %w", err)
	}
	var n int64
	err = s.writeThenPurge(ctx, func(tx *wtx) error {
		c := tx.Conn()
		if err := c.Exec(`CREATE TEMP TABLE IF NOT EXISTS exempt (session TEXT PRIMARY KEY); DELETE FROM temp.exempt;
			CREATE TEMP TABLE IF NOT EXISTS touched (session TEXT PRIMARY KEY); DELETE FROM temp.touched;`); err != nil {
			return err
		}
		for _, e := range exemptSessions {
			if _, err := tx.exec(`INSERT OR IGNORE INTO temp.exempt VALUES (?)`, e); err != nil {
				return err
			}
		}
		keep := notPinned + ` AND session NOT IN (SELECT session FROM temp.exempt)`
		if _, err := tx.exec(`INSERT OR IGNORE INTO temp.touched SELECT DISTINCT session FROM events WHERE ts < ?1 AND `+keep, cutoff); err != nil {
			return err
		}
		var err error
		if n, err = tx.exec(`DELETE FROM events WHERE ts < ?1 AND `+keep, cutoff); err != nil {
			return err
		}
		if _, err := tx.exec(`DELETE FROM tool_intents WHERE started_at < ?1 AND `+keep, cutoff); err != nil {
			return err
		}
		if _, err := tx.exec(`DELETE FROM tool_outcomes WHERE ended_at < ?1 AND `+keep, cutoff); err != nil {
			return err
		}
		if _, err := tx.exec(`DELETE FROM provider_attempts WHERE started_at < ?1 AND `+keep, cutoff); err != nil {
			return err
		}
		if err := resummarize(tx); err != nil {
			return err
		}
		return s.retireDicts(tx, cutoff)
	})
	if err != nil {
		if errors.Is(err, ErrNotErased) {
			return n, fmt.Errorf("drop metadata: deleted %d events: %w", n, err)
		}
		return 0, fmt.Errorf("drop metadata: %w", err)
	}
	return n, nil
}

// cutoff returns the cutoff of a retention keeping what is younger than d
// (named name in errors): the store's current time (Config.WithClock)
// minus d, in Unix nanoseconds. A d that is not positive, a current time
// or a cutoff outside the storable range (see nanos) is an error wrapping
// ErrInvalidArgument: Unix nanoseconds cannot represent it, and a cutoff
// computed anyway would wrap around and drop recent content.
func (s *Store) cutoff(name string, d time.Duration) (int64, error) {
	if d <= 0 {
		return 0, fmt.Errorf("%w: %s must be positive, got %v", ErrInvalidArgument, name, d)
	}
	now := s.now()
	if now.Before(minTime) || now.After(maxTime) {
		return 0, fmt.Errorf("%w: the clock's time %v is outside the storable range (%d to %d)",
			ErrInvalidArgument, now, minTime.Year(), maxTime.Year())
	}
	c := now.Add(-d)
	if c.Before(minTime) || c.After(maxTime) {
		return 0, fmt.Errorf("%w: cutoff %v (the clock's time %v minus %s %v) is outside the storable range (%d to %d)",
			ErrInvalidArgument, c, now, name, d, minTime.Year(), maxTime.Year())
	}
	return c.UnixNano(), nil
}

// resummarize recomputes the summaries of the sessions in temp.touched.
func resummarize(tx *wtx) error {
	return tx.Conn().Exec(`
		DELETE FROM sessions WHERE id IN (SELECT session FROM temp.touched)
			AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session = sessions.id);
		UPDATE sessions SET
			first_ts = (SELECT min(ts) FROM events e WHERE e.session = sessions.id),
			last_ts = (SELECT max(ts) FROM events e WHERE e.session = sessions.id),
			events = (SELECT count(*) FROM events e WHERE e.session = sessions.id),
			last_turn = (SELECT max(turn) FROM events e WHERE e.session = sessions.id),
			tool_calls = (SELECT count(*) FROM events e WHERE e.session = sessions.id AND e.kind = 'tool_call'),
			first_user_message = iif(EXISTS (SELECT 1 FROM events e WHERE e.session = sessions.id AND e.id = sessions.first_user_event), first_user_message, NULL),
			first_user_event = iif(EXISTS (SELECT 1 FROM events e WHERE e.session = sessions.id AND e.id = sessions.first_user_event), first_user_event, NULL)
		WHERE id IN (SELECT session FROM temp.touched);
		DELETE FROM temp.touched; DELETE FROM temp.exempt;`)
}

// writeThenPurge runs fn in a group commit, then rewrites the database
// and truncates the WAL, so that no copy of dropped content is left in the
// files. secure_delete zeroes deleted cells, but rebalancing a b-tree page
// can leave fragments of old cells in the page's unused space, and only a
// VACUUM rewrites every page. The VACUUM builds the new database in a
// temporary file, which the store's VFS (encrypting or plaintext) keeps
// in Go memory; it costs time and I/O in proportion to the store.
func (s *Store) writeThenPurge(ctx context.Context, fn func(tx *wtx) error) error {
	return s.db.Submit(ctx, sqldb.Request{
		Fn: func(t *sqldb.Tx) error { return fn((*wtx)(t)) },
		// After runs only once fn's change committed: whatever fails
		// now leaves the content dropped but not erased.
		After: purge,
	})
}

// purge rewrites the database on c and truncates its WAL. The VACUUM
// builds the copy in a temporary file (every connection runs with
// temp_store=file, see engine.Open), not in SQLite's Wasm heap, which is
// capped. Its error matches ErrNotErased (and ErrNoMemory if SQLite ran
// out of memory).
func purge(c *sqlite3.Conn) error {
	var err error
	// SQLite running out of memory is an error too (ErrNoMemory).
	if gerr := sqldb.GuardNoMemory(func() { err = c.Exec("VACUUM") }); gerr != nil {
		err = gerr
	}
	if err != nil {
		err = fmt.Errorf("vacuum: %w", err)
	}
	if err == nil {
		if gerr := sqldb.GuardNoMemory(func() { _, _, err = c.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE) }); gerr != nil {
			err = gerr
		}
		if err != nil {
			err = fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err != nil {
		return &notErasedError{err}
	}
	return nil
}

// notErasedError is the error of a purge (VACUUM, checkpoint) that failed
// after the change it follows committed: it matches [ErrNotErased] and
// wraps the cause.
type notErasedError struct{ err error }

func (e *notErasedError) Error() string {
	return fmt.Sprintf("%v: %v", ErrNotErased, e.err)
}

func (e *notErasedError) Unwrap() []error { return []error{ErrNotErased, e.err} }
