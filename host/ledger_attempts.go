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

// ErrAttemptConflict is returned (wrapped, naming the source and the
// attempt ID) by [CostLedger.RecordAttempt] and [CostLedger.SyncAttempts]
// when the ledger holds, under the same source and attempt ID, an entry
// of another attempt: one that differs in session, provider, model,
// start time, cost or token counts. Most often the source name was used
// before for another store, for instance a store removed and created
// again at the same path: its attempt IDs start over at 1, so they name
// attempts the ledger already holds for the old store. Nothing of the
// conflicting attempt is stored. To recover, record the new store under
// a source name never used before; the entries of the old store stay
// under the old name. It does not match [ErrInvalidArgument]: the
// attempt is valid, the name is not.
var ErrAttemptConflict = errors.New("host: ledger holds another attempt under this source and attempt ID")

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
// Never reuse a name for another store either: a store removed and
// created again at the same path is another store, whose attempt IDs
// start over at 1, and needs a name not used before (the path with the
// time it was created, say). Recording an attempt under a source and
// attempt ID whose entry holds another attempt (another session,
// provider, model, start time, cost or token counts) returns an error
// matching [ErrAttemptConflict] and stores nothing.
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
// entry's limits, except that the session ID, like a session store's,
// may be of any length) and nothing is stored; so does an attempt that
// would take an hourly total or its session's total beyond int64
// nano-dollars (about 9.2e9 USD; the error also matches
// [ErrCostOverflow]).
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
// with an error matching [ErrInvalidArgument]. A nil from is an error
// matching [ErrInvalidArgument].
//
// The ledger takes every attempt a session store takes, with one
// exception: an attempt that would take an hourly total or its session's
// total beyond int64 nano-dollars (about 9.2e9 USD) matches
// [ErrInvalidArgument] and [ErrCostOverflow]. An attempt the ledger
// cannot store (that one, or a malformed attempt from another
// [AttemptSource]) stops the sync with an error naming its ID: every
// attempt before it is recorded and confirmed, it and the attempts after
// it are not, and each later sync stops at it again, so the attempts
// after it reach the ledger only by [CostLedger.RecordAttempt].
//
// Each sync also compares the last attempt it confirmed with its entry,
// when the source still holds it, as it compares every attempt it reads
// with an entry recorded before: a source name reused for another store
// (see [CostLedger.RecordAttempt]) fails with an error matching
// [ErrAttemptConflict], naming the source and the attempt ID, instead of
// skipping that store's attempts; nothing after the conflicting attempt
// is recorded. Sync the new store under a new source name.
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
		// Read from the last synced attempt itself, so that its entry is
		// compared with it again: a source name reused for another store
		// fails there with ErrAttemptConflict instead of skipping the new
		// store's first attempts.
		from0 := max(after-1, 0)
		page, err := from.AttemptsSince(ctx, from0, syncPage)
		if err != nil {
			return n, fmt.Errorf("%s: read %s: %w", op, source, err)
		}
		// A page out of order would break the promise of synced entries
		// (and one that repeats could make this loop forever).
		prev := from0
		for _, a := range page {
			if a.ID <= prev {
				return n, fmt.Errorf("%s: %w: %s returned attempt %d after attempt %d: not in ID order", op, ErrInvalidArgument, source, a.ID, prev)
			}
			prev = a.ID
		}
		if len(page) == 0 || prev <= after {
			if len(page) > 0 {
				// Only the last synced attempt: compare it.
				if _, _, err := l.recordAttempts(ctx, op, source, page, true); err != nil {
					return n, err
				}
			}
			return n, nil
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
// ledger does not hold yet, and returns the entry ID of each attempt it
// stored or found (stored now or before) and how many it added. With
// synced (a sync's page, every attempt of source from the previous synced
// one on) it marks each entry synced.
//
// It writes the attempts in one transaction. When one of them cannot be
// stored (bad input, a conflicting entry, a total beyond int64), it
// stores every attempt before that one, returns their IDs and the error
// naming that attempt, and stores none after it: a sync then keeps its
// progress up to the attempt that stops it.
func (l *CostLedger) recordAttempts(ctx context.Context, op, source string, as []abi.ProviderAttempt, synced bool) ([]int64, int, error) {
	defer l.db.Enter()()
	if err := checkSource(source); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", op, err)
	}
	name := len(as) > 1
	es := make([]LedgerEntry, 0, len(as))
	ts := make([]int64, 0, len(as))
	var bad error
	for _, a := range as {
		e, err := attemptEntry(a)
		var t int64
		if err == nil {
			// A session store takes session IDs of any length.
			t, err = l.checkEntryLimit(&e, false)
		}
		if err != nil {
			if name {
				err = fmt.Errorf("attempt %d: %w", a.ID, err)
			}
			bad = fmt.Errorf("%s: %w", op, err)
			break
		}
		es = append(es, e)
		ts = append(ts, t)
	}
	if len(es) == 0 {
		return nil, 0, bad
	}
	ids, added, err := l.writeAttempts(ctx, op, source, es, ts, synced, name)
	if err != nil && len(es) > 1 && (errors.Is(err, ErrAttemptConflict) || errors.Is(err, ErrCostOverflow)) {
		// One entry of the page cannot be stored: store the ones before
		// it, one transaction each, to find it and keep the progress.
		ids, added = ids[:0], 0
		for i := range es {
			id, n, err := l.writeAttempts(ctx, op, source, es[i:i+1], ts[i:i+1], synced, true)
			added += n
			if err != nil {
				return ids, added, err
			}
			ids = append(ids, id[0])
		}
		err = nil
	}
	if err != nil {
		return nil, 0, err
	}
	return ids, added, bad
}

// writeAttempts stores the checked entries es, of times ts, from source,
// that the ledger does not hold yet, in one write transaction (see
// recordAttempts). With name, errors name the attempt that caused them.
func (l *CostLedger) writeAttempts(ctx context.Context, op, source string, es []LedgerEntry, ts []int64, synced, name bool) ([]int64, int, error) {
	ids := make([]int64, len(es))
	var added int
	var last int64 // the attempt being written
	// The write may run twice (see sqldb.Request): it starts over each
	// time and changes nothing outside the transaction but the IDs it
	// draws.
	err := l.db.Submit(ctx, sqldb.Request{Rerun: true, Fn: func(t *sqldb.Tx) error {
		added = 0
		for i := range es {
			last = es[i].AttemptID
			id, found, err := findAttempt(t, source, ts[i], &es[i], synced)
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
	if err == nil {
		return ids, added, nil
	}
	at := ""
	if name {
		at = fmt.Sprintf("attempt %d: ", last)
	}
	var c *attemptConflict
	switch {
	case errors.As(err, &c):
		return nil, 0, fmt.Errorf("%s: %w", op, c.err(source))
	case errors.Is(err, sqlite3.CONSTRAINT_CHECK):
		// Only the rollups' CHECK can fail for a checked entry.
		return nil, 0, fmt.Errorf("%s: %s%w: %w: an hourly or session total would exceed it (%w)", op, at, ErrInvalidArgument, ErrCostOverflow, err)
	}
	return nil, 0, l.wrap(op, err)
}

// attemptConflict is the error of findAttempt for an entry that holds
// another attempt under the same source and attempt ID.
type attemptConflict struct {
	attempt int64
	fields  []string // what differs
}

func (c *attemptConflict) Error() string { return "attempt conflict" }

// err returns the error callers see, naming source, the attempt ID and
// which fields differ (not their values).
func (c *attemptConflict) err(source string) error {
	return fmt.Errorf("%w: source %q, attempt %d: the ledger's entry has another %s", ErrAttemptConflict, source, c.attempt, strings.Join(c.fields, ", "))
}

// findAttempt returns the ID of the entry of attempt e from source, if
// there is one, inside the write transaction t; with synced it marks the
// entry synced. An entry that differs from e (of time ts) in what
// identifies an attempt (session, provider, model, start time, cost,
// token counts) fails with an *attemptConflict.
func findAttempt(t *sqldb.Tx, source string, ts int64, e *LedgerEntry, synced bool) (id int64, found bool, err error) {
	st, err := t.Stmt(`SELECT id, ts, synced, session, provider, model, nusd,
		input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens
		FROM entries WHERE source = ? AND attempt_id = ?`)
	if err != nil {
		return 0, false, err
	}
	if err := sqldb.Bind(st, source, e.AttemptID); err != nil {
		st.Reset()
		return 0, false, err
	}
	if !st.Step() {
		err := st.Err()
		st.Reset()
		return 0, false, err
	}
	id, ets, was := st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnBool(2)
	var diff []string
	for _, f := range []struct {
		name string
		same bool
	}{
		{"session", st.ColumnText(3) == e.Session},
		{"provider", st.ColumnText(4) == e.Provider},
		{"model", st.ColumnText(5) == e.Model},
		{"start time", ets == ts},
		{"cost", st.ColumnInt64(6) == int64(e.Cost)},
		{"token counts", st.ColumnInt64(7) == int64(e.InputTokens) && st.ColumnInt64(8) == int64(e.OutputTokens) &&
			st.ColumnInt64(9) == int64(e.CacheReadTokens) && st.ColumnInt64(10) == int64(e.CacheWriteTokens) &&
			st.ColumnInt64(11) == int64(e.CacheWrite1hTokens)},
	} {
		if !f.same {
			diff = append(diff, f.name)
		}
	}
	if err := st.Reset(); err != nil {
		return 0, false, err
	}
	if diff != nil {
		return 0, false, &attemptConflict{attempt: e.AttemptID, fields: diff}
	}
	if synced && !was {
		if _, err := t.Exec(`UPDATE entries SET synced = 1 WHERE ts = ? AND id = ?`, ets, id); err != nil {
			return 0, false, err
		}
	}
	return id, true, nil
}
