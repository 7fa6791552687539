package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
)

// MaxLedgerSource is the longest source name, in bytes, that
// [CostLedger.RecordAttempt] and [CostLedger.SyncAttempts] accept: long
// enough for a path.
const MaxLedgerSource = 4096

// syncPage is how many attempts SyncAttempts reads and records at once,
// in one read of the source and one write transaction of the ledger.
const syncPage = 512

// AttemptSource is where [CostLedger.SyncAttempts] reads attempts from:
// a [Store] or a [MonthlyRollover]. AttemptsSince returns up to limit
// attempts (0: no limit) with an ID above afterID, in ID order, and must
// return every such attempt up to the last it returns: the attempts of
// a store commit in ID order, so any snapshot of it has that property.
type AttemptSource interface {
	AttemptsSince(ctx context.Context, afterID int64, limit int) ([]abi.ProviderAttempt, error)
}

var _ AttemptSource = (*Store)(nil)

// RecordAttempt stores the cost of attempt a, which a session store
// recorded and named source holds, as a ledger entry, once per source
// and attempt ID: recording the same attempt again returns the ID of
// the entry already stored and changes nothing. So a harness that
// records an attempt in its session store and then in the ledger can
// retry the second step after a crash, or leave it to
// [CostLedger.SyncAttempts], without counting the attempt twice.
//
// source names the session store (or [MonthlyRollover]) the attempt came
// from, since attempt IDs are unique only within one: its path, or a
// name the caller chooses. Use one name per store or rollover, the same
// every time the harness starts, and never two names for one store; it
// must be UTF-8 text without NUL bytes, of 1 to [MaxLedgerSource] bytes.
//
// The entry is a's session, provider, model, request ID and token
// counts; its AttemptID is a.ID, which must be above 0 (an attempt as
// [Store.RecordAttempt] returned or a read of the store returns it); its
// Cost is a.EstimatedUSD in nano-dollars, converted as the store
// converts it, so the entry costs exactly the nano-dollars the store
// holds (up to 2^51, about 2.25 million dollars, beyond which float64
// dollars no longer carry every nano-dollar); its Time is a.StartedAt, not
// the end: reconciliations take an attempt by its start, as
// [Store.LocalCostNanosInPeriod] does, so the ledger and the store
// assign an attempt to the same period. Bad input returns an error
// matching [ErrInvalidArgument] (see [CostLedger.RecordEntry] for the
// entry's limits) and nothing is stored.
func (l *CostLedger) RecordAttempt(ctx context.Context, source string, a abi.ProviderAttempt) (int64, error) {
	const op = "record attempt cost"
	if l.closed.Load() {
		return 0, l.wrap(op, sqldb.ErrClosed)
	}
	ids, _, err := l.recordAttempts(ctx, op, source, []abi.ProviderAttempt{a}, false)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// SyncAttempts records in the ledger every attempt of from that it does
// not hold yet for source (see [CostLedger.RecordAttempt] for source and
// the entries), and returns how many it added. It reads from the attempts
// after the highest attempt ID a sync of source has confirmed, in pages,
// each recorded in one transaction; the progress is in the entries
// themselves, so a sync interrupted at any point, or run by several
// handles and processes at once, leaves every attempt recorded exactly
// once when one of them completes. Attempts recorded with RecordAttempt
// since the last sync are read again and skipped: callers may record
// attempts out of order (from concurrent goroutines, say), so only a
// sync, which sees the store's attempts in ID order, can tell that none
// is missing below an ID.
//
// Run it after each attempt, on a schedule, or before deleting attempts
// from the session store ([Store.DropMetadata],
// [MonthlyRollover.DropMonthsBefore]): an attempt deleted before any
// sync read it never reaches the ledger. A source that returns attempts
// out of ID order, or at or below the ID asked after, fails the sync
// with an error matching [ErrInvalidArgument]. An attempt the ledger cannot
// store (a session ID beyond [MaxAttemptString] bytes) stops the sync
// with an error naming its ID, matching [ErrInvalidArgument]; the
// attempts before it stay recorded. A nil from is an error matching
// [ErrInvalidArgument].
func (l *CostLedger) SyncAttempts(ctx context.Context, source string, from AttemptSource) (n int, err error) {
	const op = "sync attempt costs"
	if l.closed.Load() {
		return 0, l.wrap(op, sqldb.ErrClosed)
	}
	if err := checkSource(source); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if from == nil {
		return 0, fmt.Errorf("%s: %w: nil attempt source", op, ErrInvalidArgument)
	}
	for {
		after, err := l.syncedThrough(ctx, source)
		if err != nil {
			return n, l.wrap(op, err)
		}
		page, err := from.AttemptsSince(ctx, after, syncPage)
		if err != nil {
			return n, fmt.Errorf("%s: read %s: %w", op, source, err)
		}
		if len(page) == 0 {
			return n, nil
		}
		// A page out of order would break the promise of synced entries
		// (and one that repeats could make this loop forever).
		for _, a := range page {
			if a.ID <= after {
				return n, fmt.Errorf("%s: %w: %s returned attempt %d after attempt %d: not in ID order", op, ErrInvalidArgument, source, a.ID, after)
			}
			after = a.ID
		}
		_, added, err := l.recordAttempts(ctx, op, source, page, true)
		n += added
		if err != nil {
			return n, err
		}
		if len(page) < syncPage {
			return n, nil
		}
	}
}

// syncedThrough returns the highest attempt ID of source that a sync
// stored or confirmed, 0 if none.
func (l *CostLedger) syncedThrough(ctx context.Context, source string) (int64, error) {
	var id int64
	err := l.db.Read(ctx, func(t *sqldb.ReadTx) error {
		var err error
		id, err = querySum(t, `SELECT coalesce(max(attempt_id), 0) FROM entries WHERE source = ? AND synced = 1`, source)
		return err
	})
	return id, err
}

// checkSource checks a source name.
func checkSource(source string) error {
	switch {
	case source == "":
		return fmt.Errorf("%w: empty source", ErrInvalidArgument)
	case len(source) > MaxLedgerSource:
		return fmt.Errorf("%w: source of %d bytes, at most %d", ErrInvalidArgument, len(source), MaxLedgerSource)
	case !utf8.ValidString(source) || strings.IndexByte(source, 0) >= 0:
		return fmt.Errorf("%w: source is not UTF-8 text without NUL bytes", ErrInvalidArgument)
	}
	return nil
}

// attemptEntry returns the ledger entry of attempt a.
func attemptEntry(a abi.ProviderAttempt) (LedgerEntry, error) {
	if a.ID <= 0 {
		return LedgerEntry{}, fmt.Errorf("%w: attempt ID %d, want one above 0", ErrInvalidArgument, a.ID)
	}
	if a.StartedAt.IsZero() {
		return LedgerEntry{}, fmt.Errorf("%w: attempt %d: zero start time", ErrInvalidArgument, a.ID)
	}
	cost, err := toNanoUSD("estimated cost", a.EstimatedUSD)
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("attempt %d: %w", a.ID, err)
	}
	return LedgerEntry{
		Time:    a.StartedAt,
		Session: a.Session, Provider: a.Provider, Model: a.Model,
		RequestID: a.RequestID, AttemptID: a.ID,
		InputTokens: a.InputTokens, OutputTokens: a.OutputTokens,
		CacheReadTokens: a.CacheReadTokens, CacheWriteTokens: a.CacheWriteTokens,
		CacheWrite1hTokens: a.CacheWrite1hTokens,
		Cost:               cost,
	}, nil
}

// recordAttempts stores the entries of attempts as, from source, that the
// ledger does not hold yet, in one write transaction, and returns the
// entry ID of each attempt (stored now or before) and how many it added.
// With synced (a sync's page, every attempt of source from the previous
// synced one on) it marks each entry synced.
func (l *CostLedger) recordAttempts(ctx context.Context, op, source string, as []abi.ProviderAttempt, synced bool) ([]int64, int, error) {
	defer l.db.Enter()()
	if err := checkSource(source); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", op, err)
	}
	es := make([]LedgerEntry, len(as))
	ts := make([]int64, len(as))
	for i, a := range as {
		e, err := attemptEntry(a)
		if err == nil {
			ts[i], err = l.checkEntry(&e)
		}
		if err != nil {
			if len(as) > 1 {
				err = fmt.Errorf("attempt %d: %w", a.ID, err)
			}
			return nil, 0, fmt.Errorf("%s: %w", op, err)
		}
		es[i] = e
	}
	ids := make([]int64, len(as))
	var added int
	// The write may run twice (see sqldb.Request): it starts over each
	// time and changes nothing outside the transaction but the IDs it
	// draws.
	err := l.db.Submit(ctx, sqldb.Request{Rerun: true, Fn: func(t *sqldb.Tx) error {
		added = 0
		for i := range es {
			id, found, err := findAttempt(t, source, es[i].AttemptID, synced)
			if err != nil {
				return err
			}
			if !found {
				if id, err = insertEntry(t, ts[i], &es[i], source, synced); err != nil {
					return err
				}
				added++
			}
			ids[i] = id
		}
		return nil
	}})
	if errors.Is(err, sqlite3.CONSTRAINT_CHECK) {
		// Only the rollups' CHECK can fail for a checked entry.
		return nil, 0, fmt.Errorf("%s: %w: %w: an hourly or session total would exceed it (%w)", op, ErrInvalidArgument, ErrCostOverflow, err)
	}
	if err != nil {
		return nil, 0, l.wrap(op, err)
	}
	return ids, added, nil
}

// findAttempt returns the ID of the entry of attempt id from source, if
// there is one, inside the write transaction t; with synced it marks the
// entry synced.
func findAttempt(t *sqldb.Tx, source string, attempt int64, synced bool) (id int64, found bool, err error) {
	st, err := t.Stmt(`SELECT id, ts, synced FROM entries WHERE source = ? AND attempt_id = ?`)
	if err != nil {
		return 0, false, err
	}
	if err := sqldb.Bind(st, source, attempt); err != nil {
		st.Reset()
		return 0, false, err
	}
	if !st.Step() {
		err := st.Err()
		st.Reset()
		return 0, false, err
	}
	id, ts, was := st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnBool(2)
	if err := st.Reset(); err != nil {
		return 0, false, err
	}
	if synced && !was {
		if _, err := t.Exec(`UPDATE entries SET synced = 1 WHERE ts = ? AND id = ?`, ts, id); err != nil {
			return 0, false, err
		}
	}
	return id, true, nil
}
