package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/sqldb"
	"github.com/gofastr/store/keyring"
)

// ErrLedgerClosed is returned (wrapped) by every method of a [CostLedger]
// after Close, Close excepted. The error also matches [ErrClosed].
var ErrLedgerClosed = errors.New("host: cost ledger closed")

// ErrCostOverflow is returned (wrapped) by the methods of a [CostLedger]
// when a total would exceed int64 nano-dollars (about 9.2e9 USD): by a
// read whose total would, and, together with [ErrInvalidArgument], by a
// write that would take an hourly total or a session's total there
// (nothing is stored).
var ErrCostOverflow = errors.New("host: cost total beyond int64 nano-dollars")

// ledgerAppID marks an SQLite file as a cost ledger ("gfcl"), distinct
// from a session store's applicationID: neither opens as the other.
const ledgerAppID = 0x6766636c

// LedgerSchemaVersion is the schema version of the cost ledgers this
// package writes; a ledger of a higher version fails to open with
// [ErrNewerSchema].
const LedgerSchemaVersion = 2

// ledgerMigrations[i] brings a ledger from version i to i+1. Append only,
// like the session store's migrations.
var ledgerMigrations = [LedgerSchemaVersion]string{
	// 1: cost entries and their hourly rollups.
	//
	// Entries are clustered by time (ts, id): the part of a period that
	// does not fill whole hours is one range scan, and no secondary
	// index slows the write. provider_hours and session_hours hold, per
	// provider or session and per hour (Unix nanoseconds / 3.6e12,
	// rounded down), the sum of the entries' costs, updated in the write
	// transaction of each entry: a total over a long period reads one
	// row per name and hour instead of every entry. They are clustered
	// by name, so totals per name stream out of one scan without a sort
	// (and one provider's hours are one range). session_totals holds
	// each session's total over all time, for totals by session without
	// a period: one row per session, nothing to add up. Their CHECK turns
	// an integer overflow (which SQLite would make a float) into a failed
	// write. IDs come from the "entry_id" counter.
	sqldb.CountersTable + `

	CREATE TABLE entries (
		ts                 INTEGER NOT NULL, -- Unix nanoseconds
		id                 INTEGER NOT NULL, -- strictly increasing in the ledger, never reused
		session            TEXT    NOT NULL,
		provider           TEXT    NOT NULL,
		model              TEXT    NOT NULL,
		request_id         TEXT    NOT NULL, -- '' when none
		attempt_id         INTEGER NOT NULL, -- 0 when none
		input_tokens       INTEGER NOT NULL,
		output_tokens      INTEGER NOT NULL,
		cache_read_tokens  INTEGER NOT NULL,
		cache_write_tokens INTEGER NOT NULL,
		nusd               INTEGER NOT NULL CHECK (typeof(nusd) = 'integer' AND nusd >= 0), -- nano-dollars
		PRIMARY KEY (ts, id)
	) WITHOUT ROWID;

	CREATE TABLE provider_hours (
		provider TEXT    NOT NULL,
		hour     INTEGER NOT NULL,
		nusd     INTEGER NOT NULL CHECK (typeof(nusd) = 'integer'),
		entries  INTEGER NOT NULL,
		PRIMARY KEY (provider, hour)
	) WITHOUT ROWID;

	CREATE TABLE session_hours (
		session TEXT    NOT NULL,
		hour    INTEGER NOT NULL,
		nusd    INTEGER NOT NULL CHECK (typeof(nusd) = 'integer'),
		entries INTEGER NOT NULL,
		PRIMARY KEY (session, hour)
	) WITHOUT ROWID;

	CREATE TABLE session_totals (
		session TEXT    PRIMARY KEY,
		nusd    INTEGER NOT NULL CHECK (typeof(nusd) = 'integer'),
		entries INTEGER NOT NULL
	) WITHOUT ROWID;`,

	// 2: 1-hour cache writes apart, and entries recorded from a session
	// store's attempts (CostLedger.RecordAttempt, SyncAttempts).
	//
	// source names the session store an attempt entry came from (NULL
	// for other entries); entries_attempt makes (source, attempt_id)
	// unique, so an attempt is recorded once however often it is
	// offered. synced is 1 on the attempt entries a SyncAttempts stored
	// or confirmed: every attempt of that source up to such an entry's
	// attempt ID is in the ledger (the store commits attempts in ID
	// order, and a sync records all it reads), which RecordAttempt alone
	// does not promise, since callers may record out of order.
	// entries_synced finds a source's highest synced attempt in one seek.
	// Entries of version 1 read 0 1-hour cache write tokens.
	`ALTER TABLE entries ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE entries ADD COLUMN source TEXT;
	ALTER TABLE entries ADD COLUMN synced INTEGER NOT NULL DEFAULT 0;
	CREATE UNIQUE INDEX entries_attempt ON entries (source, attempt_id) WHERE source IS NOT NULL;
	CREATE INDEX entries_synced ON entries (source, attempt_id) WHERE synced = 1;`,
}

// ledgerEntryIDs is the counter ledger entry IDs are drawn from.
var ledgerEntryIDs = &sqldb.Counter{Name: "entry_id"}

// ledgerSchema is what package sqldb needs to open, check and migrate a
// cost ledger.
var ledgerSchema = &sqldb.Schema{
	AppID:      ledgerAppID,
	Migrations: ledgerMigrations[:],
	Counters:   []*sqldb.Counter{ledgerEntryIDs},
}

// bucket is the width of a rollup bucket: one hour, in nanoseconds.
const bucket = int64(time.Hour)

// DefaultCostLedgerPath returns the default cost ledger location, beside
// the default session store ([DefaultPath]):
// $XDG_STATE_HOME/gofastr/costs.db (~/.local/state/gofastr/costs.db).
func DefaultCostLedgerPath() string { return filepath.Join(stateDir(), "costs.db") }

// CostLedger is a durable record of money spent at model providers, in
// its own SQLite file, apart from the session store: retention, deleted
// sessions and the removal of whole session stores never touch it. Its
// methods are safe for concurrent use, by many handles in one process and
// by many processes on the same file; writes group-commit as a [Store]'s
// do, and a Record that returned nil is on stable storage.
//
// Amounts are kept as integer nano-dollars ([abi.NanoUSD]), so totals
// are exact sums; float64 dollars appear only at the API's edge (Record,
// CostByProvider, CostBySession). Next to every entry the ledger keeps
// per-hour totals by provider and by session, updated in the entry's
// write transaction, so totals over long periods read one row per hour
// and name.
type CostLedger struct {
	path string
	now  func() time.Time // Config.WithClock
	lock *keyring.StoreLock
	db   *sqldb.DB

	closed    atomic.Bool // set by Close before it closes db
	closeOnce sync.Once
	closeErr  error
}

// LedgerEntry is one cost entry of a [CostLedger].
type LedgerEntry struct {
	// ID is assigned by the ledger (strictly increasing in the ledger,
	// never reused); it is ignored by RecordEntry.
	ID int64

	// Time is when the cost was incurred; zero means the ledger's
	// current time ([Config.WithClock]). Periods and hourly totals are
	// taken by it.
	Time time.Time

	// Session, Provider and Model name where the money went; all three
	// are required.
	Session  string
	Provider string
	Model    string

	// RequestID is the provider's request ID, if it surfaced one;
	// AttemptID the ID [Store.RecordAttempt] assigned, if any (0: none).
	// RecordEntry stores every entry it is given; to record an attempt
	// once however often it is offered, use [CostLedger.RecordAttempt].
	RequestID string
	AttemptID int64

	// Token counts, none negative: CacheWriteTokens are 5-minute cache
	// writes, CacheWrite1hTokens 1-hour ones (see
	// [abi.ProviderAttempt.CacheWrite1hTokens]).
	InputTokens        int
	OutputTokens       int
	CacheReadTokens    int
	CacheWriteTokens   int
	CacheWrite1hTokens int

	// Cost is the amount, in nano-dollars; it must not be negative.
	Cost abi.NanoUSD
}

// OpenCostLedger opens (or creates) the plaintext cost ledger at path
// with the default [Config]: [OpenCostLedgerWithConfig] with NewConfig().
func OpenCostLedger(path string) (*CostLedger, error) {
	return OpenCostLedgerWithConfig(path, NewConfig())
}

// OpenCostLedgerWithConfig opens (or creates) the cost ledger at path as
// cfg says, with the open machinery of [OpenWithConfig] and the same
// guarantees: processes that create a new ledger at once all succeed;
// the ledger holds its store lock <path>.lock shared while it is open;
// with [Config.WithKEKSource] it is encrypted under its own data key,
// wrapped in <path>.dek (never the session store's key), and [Rekey] and
// keyring.RotateKEK work on it as on a store; [Config.WithKey] takes a
// raw data key. [Encrypt] converts session stores only and refuses a
// plaintext ledger with [ErrNotStore]: create a ledger encrypted if it is
// to be encrypted. A session store opened as a ledger, or a ledger opened as
// a session store, fails with an error wrapping [ErrNotStore] that names
// the path, and is left unchanged; a ledger of a newer schema fails with
// [ErrNewerSchema]; a missing database next to its DEK header fails with
// [ErrDatabaseLost]; a ledger opened with the wrong KEK fails with
// keyring.ErrWrongKEK, with the wrong data key with
// sqlitevfs.ErrWrongKey; an encrypted ledger opened as plaintext fails
// with [ErrEncryptedStore], a plaintext one opened encrypted with
// [ErrPlaintextStore], and a plaintext ledger with a DEK header beside it
// with keyring.ErrHeaderExists, as a store.
//
// Of the Config, the ledger uses the key options, WithReaders,
// WithBusyTimeout, WithClock (the time of an entry given without one)
// and WithCacheDir; redactors and the payload size do not apply to it.
// Provider, model, session and request IDs are stored as given.
func OpenCostLedgerWithConfig(path string, cfg Config) (*CostLedger, error) {
	l := &CostLedger{path: path, now: cfg.clock}
	if l.now == nil {
		l.now = time.Now
	}
	db, lock, err := openFile(path, ledgerSchema, cfg, func(key []byte) (*sqldb.DB, error) {
		return sqldb.Open(path, ledgerSchema, sqldb.Options{
			Key:         key,
			Readers:     cfg.readerCount(),
			BusyTimeout: cfg.busy,
		})
	})
	if err != nil {
		return nil, err
	}
	l.db, l.lock = db, lock
	return l, nil
}

// Path returns the path the ledger was opened with.
func (l *CostLedger) Path() string { return l.path }

// Close waits for reads and writes in progress, then releases the ledger.
// Later calls return the first call's result; other methods return
// [ErrLedgerClosed].
func (l *CostLedger) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		l.closeErr = l.db.Close()
		l.lock.Close() // after the last connection is closed
	})
	return l.closeErr
}

// Record stores one cost entry of usd dollars, incurred now (the ledger's
// clock, [Config.WithClock]): [CostLedger.RecordEntry] with the amount
// rounded to the nearest nano-dollar. usd must be a finite amount from 0
// to about 9.2e9 USD.
func (l *CostLedger) Record(ctx context.Context, session, provider, model string, inputTokens, outputTokens int, usd float64) error {
	if l.closed.Load() {
		return l.wrap("record cost", sqldb.ErrClosed)
	}
	n, err := toNanoUSD("cost", usd)
	if err != nil {
		return fmt.Errorf("record cost: %w", err)
	}
	_, err = l.RecordEntry(ctx, LedgerEntry{
		Session: session, Provider: provider, Model: model,
		InputTokens: inputTokens, OutputTokens: outputTokens, Cost: n,
	})
	return err
}

// RecordEntry stores e and returns the ID it assigns: strictly increasing
// within the ledger, never reused, across every handle on the file in
// this process and others. When it returns nil the entry, and the hourly
// totals that count it, are on stable storage.
//
// Session, Provider and Model must be set and, with RequestID, are UTF-8
// text without NUL bytes, of at most [MaxAttemptString] bytes; token
// counts, AttemptID and Cost must not be negative; Time must lie in the
// storable range (Unix nanoseconds in an int64, 1677-09-21 to 2262-04-11 UTC). Bad input returns an error
// matching [ErrInvalidArgument] (an empty session also matches
// [ErrEmptySession]), and nothing is stored. So does an entry that would
// take an hourly total or a session's total beyond int64 nano-dollars
// (about 9.2e9 USD; the error also matches [ErrCostOverflow]).
func (l *CostLedger) RecordEntry(ctx context.Context, e LedgerEntry) (int64, error) {
	if l.closed.Load() {
		return 0, l.wrap("record cost", sqldb.ErrClosed)
	}
	defer l.db.Enter()()
	ts, err := l.checkEntry(&e)
	if err != nil {
		return 0, fmt.Errorf("record cost: %w", err)
	}
	var id int64
	// The write may run twice (see sqldb.Request): it changes nothing
	// outside the transaction but the ID it draws.
	err = l.db.Submit(ctx, sqldb.Request{Rerun: true, Fn: func(t *sqldb.Tx) error {
		var err error
		id, err = insertEntry(t, ts, &e, nil, false)
		return err
	}})
	if errors.Is(err, sqlite3.CONSTRAINT_CHECK) {
		// Only the rollups' CHECK can fail for a checked entry.
		return 0, fmt.Errorf("record cost: %w: %w: an hourly or session total would exceed it (%w)", ErrInvalidArgument, ErrCostOverflow, err)
	}
	if err != nil {
		return 0, l.wrap("record cost", err)
	}
	return id, nil
}

// insertEntry inserts the checked entry e, of time ts, and counts it in
// the hourly totals, inside the write transaction t; it returns the ID it
// drew. source is the entry's source (a string) or nil, synced whether a
// sync stores it (see ledger migration 2).
func insertEntry(t *sqldb.Tx, ts int64, e *LedgerEntry, source any, synced bool) (int64, error) {
	u, err := t.Next(ledgerEntryIDs)
	if err != nil {
		return 0, err
	}
	id := int64(u)
	if _, err := t.Exec(insertEntrySQL, ts, id, e.Session, e.Provider, e.Model, e.RequestID, e.AttemptID,
		e.InputTokens, e.OutputTokens, e.CacheReadTokens, e.CacheWriteTokens, e.CacheWrite1hTokens, int64(e.Cost),
		source, synced); err != nil {
		return 0, err
	}
	hour := hourOf(ts)
	if _, err := t.Exec(addProviderHourSQL, hour, e.Provider, int64(e.Cost)); err != nil {
		return 0, err
	}
	if _, err := t.Exec(addSessionHourSQL, hour, e.Session, int64(e.Cost)); err != nil {
		return 0, err
	}
	if _, err := t.Exec(addSessionTotalSQL, e.Session, int64(e.Cost)); err != nil {
		return 0, err
	}
	return id, nil
}

// The statements of insertEntry.
const (
	insertEntrySQL = `INSERT INTO entries (ts, id, session, provider, model, request_id, attempt_id,
			input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, nusd,
			source, synced)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	addProviderHourSQL = `INSERT INTO provider_hours (hour, provider, nusd, entries) VALUES (?, ?, ?, 1)
		ON CONFLICT (provider, hour) DO UPDATE SET nusd = nusd + excluded.nusd, entries = entries + 1`
	addSessionHourSQL = `INSERT INTO session_hours (hour, session, nusd, entries) VALUES (?, ?, ?, 1)
		ON CONFLICT (session, hour) DO UPDATE SET nusd = nusd + excluded.nusd, entries = entries + 1`
	addSessionTotalSQL = `INSERT INTO session_totals (session, nusd, entries) VALUES (?, ?, 1)
		ON CONFLICT (session) DO UPDATE SET nusd = nusd + excluded.nusd, entries = entries + 1`
)

// checkEntry validates e, fills in its time if zero, and returns the time
// as Unix nanoseconds.
func (l *CostLedger) checkEntry(e *LedgerEntry) (int64, error) {
	return l.checkEntryLimit(e, true)
}

// checkEntryLimit is checkEntry; without limitSession a session ID of any
// length passes, as a session store takes (see attemptEntry).
func (l *CostLedger) checkEntryLimit(e *LedgerEntry, limitSession bool) (int64, error) {
	if e.Session == "" {
		return 0, fmt.Errorf("%w: %w", ErrInvalidArgument, ErrEmptySession)
	}
	for _, f := range []struct{ name, v string }{{"session", e.Session}, {"provider", e.Provider}, {"model", e.Model}, {"request ID", e.RequestID}} {
		if f.v == "" && f.name != "request ID" {
			return 0, fmt.Errorf("%w: empty %s", ErrInvalidArgument, f.name)
		}
		if len(f.v) > MaxAttemptString && (limitSession || f.name != "session") {
			return 0, fmt.Errorf("%w: %s of %d bytes, at most %d", ErrInvalidArgument, f.name, len(f.v), MaxAttemptString)
		}
		if !utf8.ValidString(f.v) || strings.IndexByte(f.v, 0) >= 0 {
			return 0, fmt.Errorf("%w: %s is not UTF-8 text without NUL bytes", ErrInvalidArgument, f.name)
		}
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"input", e.InputTokens}, {"output", e.OutputTokens}, {"cache read", e.CacheReadTokens}, {"cache write", e.CacheWriteTokens},
		{"1-hour cache write", e.CacheWrite1hTokens}} {
		if f.n < 0 {
			return 0, fmt.Errorf("%w: negative %s tokens %d", ErrInvalidArgument, f.name, f.n)
		}
	}
	if e.AttemptID < 0 {
		return 0, fmt.Errorf("%w: negative attempt ID %d", ErrInvalidArgument, e.AttemptID)
	}
	if e.Cost < 0 {
		return 0, fmt.Errorf("%w: negative cost %d nano-dollars", ErrInvalidArgument, e.Cost)
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	return storable("entry time", e.Time)
}

// hourOf returns the rollup hour of Unix nanoseconds ts (rounded down,
// also before 1970).
func hourOf(ts int64) int64 {
	h := ts / bucket
	if ts%bucket < 0 {
		h--
	}
	return h
}

// CostByProvider returns the cost of the entries since since (inclusive),
// in dollars, per provider: [CostLedger.CostByProviderNanos], each total
// converted once. A zero since counts every entry.
func (l *CostLedger) CostByProvider(ctx context.Context, since time.Time) (map[string]float64, error) {
	n, err := l.CostByProviderNanos(ctx, since)
	return toUSDMap(n), err
}

// CostBySession returns the cost of the entries since since (inclusive),
// in dollars, per session: [CostLedger.CostBySessionNanos], each total
// converted once. A zero since counts every entry.
func (l *CostLedger) CostBySession(ctx context.Context, since time.Time) (map[string]float64, error) {
	n, err := l.CostBySessionNanos(ctx, since)
	return toUSDMap(n), err
}

// CostByProviderNanos returns the exact cost, in nano-dollars, of the
// entries at or after since, per provider; providers without such entries
// are absent. A zero since counts every entry; otherwise since must lie in
// the storable range. The whole hours of the period are read from the
// hourly totals, the rest from the entries, all in one consistent
// snapshot. A total beyond int64 nano-dollars is an error matching
// [ErrCostOverflow].
func (l *CostLedger) CostByProviderNanos(ctx context.Context, since time.Time) (map[string]abi.NanoUSD, error) {
	return l.costBy(ctx, "cost by provider", since, providerTotals)
}

// CostBySessionNanos is [CostLedger.CostByProviderNanos] per session;
// with a zero since it reads each session's total over all time, which
// the ledger keeps too.
func (l *CostLedger) CostBySessionNanos(ctx context.Context, since time.Time) (map[string]abi.NanoUSD, error) {
	return l.costBy(ctx, "cost by session", since, sessionTotals)
}

// totalsSQL are the queries of a total by one column: over the hourly
// totals from an hour on, over the entries in [from, to], and, if not
// empty, over all time.
type totalsSQL struct{ hours, entries, all string }

var (
	providerTotals = totalsSQL{
		hours:   `SELECT json_group_object(provider, t) FROM (SELECT provider, sum(nusd) AS t FROM provider_hours WHERE hour >= ? GROUP BY provider)`,
		entries: `SELECT json_group_object(provider, t) FROM (SELECT provider, sum(nusd) AS t FROM entries WHERE ts >= ? AND ts <= ? GROUP BY provider)`,
	}
	sessionTotals = totalsSQL{
		hours:   `SELECT json_group_object(session, t) FROM (SELECT session, sum(nusd) AS t FROM session_hours WHERE hour >= ? GROUP BY session)`,
		entries: `SELECT json_group_object(session, t) FROM (SELECT session, sum(nusd) AS t FROM entries WHERE ts >= ? AND ts <= ? GROUP BY session)`,
		all:     `SELECT json_group_object(session, nusd) FROM session_totals`,
	}
)

// costBy runs the queries of q for the period from since on.
func (l *CostLedger) costBy(ctx context.Context, op string, since time.Time, q totalsSQL) (map[string]abi.NanoUSD, error) {
	if l.closed.Load() {
		return nil, l.wrap(op, sqldb.ErrClosed)
	}
	from := int64(math.MinInt64)
	if !since.IsZero() {
		var err error
		if from, err = storable("since", since); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	// The first whole hour at or after from, h0; the entries before it
	// are read one by one. Near the ends of the storable range the hour
	// boundaries fall outside int64: an hour that starts before the
	// range is not whole, and the entries of the range's last partial
	// hour are read one by one.
	h0 := hourOf(from)
	if from != h0*bucket || h0 == hourOf(math.MinInt64) {
		h0++
	}
	last := int64(math.MaxInt64) // the last entry time before h0
	if h0 <= hourOf(math.MaxInt64) {
		last = h0*bucket - 1
	}
	out := make(map[string]abi.NanoUSD)
	err := l.db.Read(ctx, func(t *sqldb.ReadTx) error {
		if since.IsZero() && q.all != "" {
			return addTotals(t, out, q.all)
		}
		if err := addTotals(t, out, q.hours, h0); err != nil {
			return err
		}
		if from <= last {
			return addTotals(t, out, q.entries, from, last)
		}
		return nil
	})
	if err != nil {
		return nil, l.wrap(op, err)
	}
	return out, nil
}

// addTotals runs query, which returns one JSON object of names and
// sums (json_group_object: one row, one string, instead of a row per
// name), and adds the sums to out.
func addTotals(t *sqldb.ReadTx, out map[string]abi.NanoUSD, query string, args ...any) error {
	st, err := t.Stmt(query)
	if err != nil {
		return err
	}
	defer st.Reset()
	if err := sqldb.Bind(st, args...); err != nil {
		return err
	}
	if !st.Step() {
		if err := st.Err(); err != nil {
			return err
		}
		return errors.New("no totals")
	}
	return parseTotals(st.ColumnRawText(0), out)
}

// parseTotals adds the totals of obj, a JSON object of names and integers
// that are not negative, as SQLite's json_group_object writes it (no
// white space), to out.
func parseTotals(obj []byte, out map[string]abi.NanoUSD) error {
	bad := func(at int) error { return fmt.Errorf("totals: malformed JSON at byte %d of %d", at, len(obj)) }
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return bad(0)
	}
	for i := 1; i < len(obj)-1; {
		if obj[i] != '"' {
			return bad(i)
		}
		// The key ends at the first quote that is not escaped.
		start, end, escaped := i, i+1, false
		for ; end < len(obj) && obj[end] != '"'; end++ {
			switch {
			case obj[end] < 0x20:
				return bad(end)
			case obj[end] == '\\':
				escaped = true
				end++
			}
		}
		if end >= len(obj)-1 || obj[end+1] != ':' {
			return bad(i)
		}
		i = end + 2
		j := i
		for j < len(obj) && obj[j] >= '0' && obj[j] <= '9' {
			j++
		}
		n, err := strconv.ParseInt(string(obj[i:j]), 10, 64)
		if err != nil || obj[i] == '0' && j > i+1 {
			return bad(i)
		}
		switch {
		case j == len(obj)-1: // the closing brace
		case obj[j] == ',' && j+1 < len(obj)-1:
			j++
		default:
			return bad(j)
		}
		i = j
		var name string
		if escaped {
			if err := json.Unmarshal(obj[start:end+1], &name); err != nil {
				return bad(start)
			}
		} else {
			name = string(obj[start+1 : end])
		}
		sum, ok := addNanos(int64(out[name]), n)
		if !ok {
			return fmt.Errorf("%w: %s", ErrCostOverflow, name)
		}
		out[name] = abi.NanoUSD(sum)
	}
	return nil
}

// addNanos adds two amounts that are not negative, reporting overflow.
func addNanos(a, b int64) (int64, bool) {
	s := a + b
	return s, s >= a
}

// CostInPeriod returns the exact cost, in nano-dollars, of the entries at
// provider in [start, end): the ledger's side of a reconciliation against
// the provider's billing. The provider must not be empty, start and end
// must lie in the storable range (zero times are not), and end must not
// be before start (equal is an empty period). Whole hours are read from
// the hourly totals, the rest from the entries, in one snapshot. A total
// beyond int64 nano-dollars is an error matching [ErrCostOverflow].
func (l *CostLedger) CostInPeriod(ctx context.Context, provider string, start, end time.Time) (abi.NanoUSD, error) {
	const op = "cost in period"
	if l.closed.Load() {
		return 0, l.wrap(op, sqldb.ErrClosed)
	}
	if provider == "" {
		return 0, fmt.Errorf("%s: %w: empty provider", op, ErrInvalidArgument)
	}
	from, err := storable("period start", start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	to, err := storable("period end", end)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if to < from {
		return 0, fmt.Errorf("%s: %w: period ends (%v) before it starts (%v)", op, ErrInvalidArgument, end, start)
	}
	// Whole hours [h0, h1); the entries of [from, h0) and [h1, to) one by
	// one. A period within one hour has no whole hour.
	h0, h1 := hourOf(from), hourOf(to)
	if from != h0*bucket {
		h0++
	}
	var sum int64
	err = l.db.Read(ctx, func(t *sqldb.ReadTx) error {
		type part struct {
			query    string
			from, to int64
		}
		parts := []part{{periodEntriesSQL, from, to}}
		if h0 < h1 {
			parts = []part{{periodHoursSQL, h0, h1}, {periodEntriesSQL, from, h0 * bucket}, {periodEntriesSQL, h1 * bucket, to}}
		}
		for _, p := range parts {
			n, err := querySum(t, p.query, provider, p.from, p.to)
			if err != nil {
				return err
			}
			var ok bool
			if sum, ok = addNanos(sum, n); !ok {
				return ErrCostOverflow
			}
		}
		return nil
	})
	if err != nil {
		return 0, l.wrap(op, err)
	}
	return abi.NanoUSD(sum), nil
}

// LocalCostNanosInPeriod is [CostLedger.CostInPeriod] under the name and
// signature of [Store.LocalCostNanosInPeriod], so that a ledger can stand
// wherever a store is the local side of a reconciliation.
func (l *CostLedger) LocalCostNanosInPeriod(ctx context.Context, provider string, start, end time.Time) (abi.NanoUSD, error) {
	return l.CostInPeriod(ctx, provider, start, end)
}

// The queries of CostInPeriod.
const (
	periodHoursSQL   = `SELECT coalesce(sum(nusd), 0) FROM provider_hours WHERE hour >= ?2 AND hour < ?3 AND provider = ?1`
	periodEntriesSQL = `SELECT coalesce(sum(nusd), 0) FROM entries WHERE ts >= ?2 AND ts < ?3 AND provider = ?1`
)

// querySum runs a query that returns one integer sum.
func querySum(t *sqldb.ReadTx, query string, args ...any) (int64, error) {
	st, err := t.Stmt(query)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	if err := sqldb.Bind(st, args...); err != nil {
		return 0, err
	}
	if !st.Step() {
		if err := st.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("no sum")
	}
	if st.ColumnType(0) != sqlite3.INTEGER {
		return 0, ErrCostOverflow
	}
	return st.ColumnInt64(0), nil
}

// wrap names the operation in err and makes a closed database's error
// match ErrLedgerClosed, an overflowing sum's ErrCostOverflow.
func (l *CostLedger) wrap(op string, err error) error {
	switch {
	case errors.Is(err, sqldb.ErrClosed):
		return fmt.Errorf("%s: %w (%w)", op, ErrLedgerClosed, err)
	case errors.Is(err, sqlite3.ERROR) && strings.Contains(err.Error(), "integer overflow"):
		// SQLite's sum() of integers fails so rather than round.
		return fmt.Errorf("%s: %w (%w)", op, ErrCostOverflow, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// toUSDMap converts nano-dollar totals to dollars; nil stays nil.
func toUSDMap(n map[string]abi.NanoUSD) map[string]float64 {
	if n == nil {
		return nil
	}
	out := make(map[string]float64, len(n))
	for k, v := range n {
		out[k] = v.USD()
	}
	return out
}
