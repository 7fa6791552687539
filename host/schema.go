package host

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/sqldb"
	"github.com/gofastr/store/internal/zdict"
)

// applicationID marks an SQLite file as a session store ("gfst").
const applicationID = 0x67667374

// migrations[i] brings the schema from version i to i+1. Append only:
// released migrations are never edited, so every older store can move
// forward. Adding one raises SchemaVersion, the array's length (an
// element left empty fails TestMigrations). Package sqldb applies them
// (see schema).
var migrations = [SchemaVersion]string{
	// 1: events, session summaries, tool intents and outcomes, pins.
	//
	// Events are clustered by session: a session's events share b-tree
	// pages however many sessions write at once, so reading one back
	// touches few pages. IDs are assigned by the writer from the
	// "event_id" counter, which never goes back. There is no index on ts:
	// only retention filters by time, and it rewrites the whole database
	// anyway, while every append would pay for the index.
	`CREATE TABLE events (
		session TEXT    NOT NULL,
		id      INTEGER NOT NULL,  -- strictly increasing in the store, never reused
		turn    INTEGER NOT NULL,
		kind    TEXT    NOT NULL,
		ts      INTEGER NOT NULL,  -- Unix nanoseconds
		format  INTEGER NOT NULL,  -- payload storage format (formatRaw, formatZstd, ...)
		size    INTEGER NOT NULL,  -- payload size before compression
		payload BLOB,              -- NULL: dropped by retention (metadata only)
		PRIMARY KEY (session, id)
	) WITHOUT ROWID;

	CREATE TABLE counters (
		name  TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	) WITHOUT ROWID;

	CREATE TABLE sessions (
		id                 TEXT PRIMARY KEY,
		first_ts           INTEGER NOT NULL,
		last_ts            INTEGER NOT NULL,
		events             INTEGER NOT NULL,
		last_turn          INTEGER NOT NULL,
		tool_calls         INTEGER NOT NULL,
		first_user_event   INTEGER,  -- events.id of the first user message
		first_user_message TEXT      -- redacted preview; NULL once retention drops it
	) WITHOUT ROWID;
	CREATE INDEX sessions_last_ts ON sessions (last_ts);

	CREATE TABLE pins (
		session   TEXT PRIMARY KEY,
		pinned_at INTEGER NOT NULL
	) WITHOUT ROWID;

	CREATE TABLE tool_intents (
		session    TEXT    NOT NULL,
		call_id    TEXT    NOT NULL,
		turn       INTEGER NOT NULL,
		tool       TEXT    NOT NULL,
		args_hash  TEXT    NOT NULL,
		args       BLOB,
		started_at INTEGER NOT NULL,
		PRIMARY KEY (session, call_id)
	) WITHOUT ROWID;

	CREATE TABLE tool_outcomes (
		session  TEXT    NOT NULL,
		call_id  TEXT    NOT NULL,
		status   TEXT    NOT NULL,
		result   BLOB,
		error    TEXT,
		ended_at INTEGER NOT NULL,
		PRIMARY KEY (session, call_id)
	) WITHOUT ROWID;`,

	// 2: zstd dictionaries trained from the store's payloads (dicts.go, internal/zdict);
	// events in formatZstdDict name theirs in the frame header.
	`CREATE TABLE dicts (
		id      INTEGER PRIMARY KEY, -- zstd dictionary ID, as in the dictionary and the frames
		created INTEGER NOT NULL,    -- Unix nanoseconds
		oldest  INTEGER NOT NULL,    -- smallest events.ts among the training samples
		dict    BLOB    NOT NULL     -- zstd dictionary format
	);`,

	// 3: provider attempts (attempts.go). IDs come from the "attempt_id"
	// counter. Money is in integer nano-dollars (1e-9 USD), so sums are
	// exact; each price column is per million tokens and NULL when the
	// snapshot had none (price_source NULL: no snapshot at all). The cost
	// index covers LocalCostInPeriod; the turn index serves
	// AttemptsForTurn, in ID order (the rowid ends every index entry).
	`CREATE TABLE provider_attempts (
		id                 INTEGER PRIMARY KEY, -- strictly increasing in the store, never reused
		session            TEXT    NOT NULL,
		turn               INTEGER NOT NULL,
		provider           TEXT    NOT NULL,
		model              TEXT    NOT NULL,
		request_id         TEXT    NOT NULL,    -- '' when the provider surfaced none
		started_at         INTEGER NOT NULL,    -- Unix nanoseconds
		ended_at           INTEGER NOT NULL,    -- Unix nanoseconds
		reason             TEXT    NOT NULL,
		input_tokens       INTEGER NOT NULL,
		output_tokens      INTEGER NOT NULL,
		cache_read_tokens  INTEGER NOT NULL,
		cache_write_tokens INTEGER NOT NULL,
		estimated_nusd     INTEGER NOT NULL,    -- local estimate, nano-dollars
		price_source       TEXT,
		price_input        INTEGER,             -- nano-dollars per million tokens
		price_output       INTEGER,
		price_cache_read   INTEGER,
		price_cache_write  INTEGER
	);
	CREATE INDEX provider_attempts_cost ON provider_attempts (provider, started_at, estimated_nusd);
	CREATE INDEX provider_attempts_turn ON provider_attempts (session, turn);`,

	// 4: reconciliations of local cost estimates against providers'
	// billing (reconcile.go). IDs come from the "reconciliation_id"
	// counter. Amounts are integer nano-dollars; the variance is not
	// stored but computed (upstream - local). The indexes serve
	// LatestReconciliation and Reconciliations for one provider.
	`CREATE TABLE reconciliations (
		id            INTEGER PRIMARY KEY, -- strictly increasing in the store, never reused
		provider      TEXT    NOT NULL,
		period_start  INTEGER NOT NULL,    -- Unix nanoseconds, inclusive
		period_end    INTEGER NOT NULL,    -- Unix nanoseconds, exclusive
		upstream_nusd INTEGER NOT NULL,    -- the provider's figure, nano-dollars
		local_nusd    INTEGER NOT NULL,    -- the store's estimate, nano-dollars
		ran_at        INTEGER NOT NULL     -- Unix nanoseconds
	);
	CREATE INDEX reconciliations_ran ON reconciliations (provider, ran_at);
	CREATE INDEX reconciliations_period ON reconciliations (provider, period_start);`,

	// 5: 1-hour cache writes of provider attempts, apart from the
	// 5-minute ones of cache_write_tokens, and their price (attempts.go);
	// the count of attempts without a price behind a reconciliation's
	// local amount (reconcile.go). Rows from before read 0 tokens, no
	// price and 0 unpriced attempts. The partial index holds only the
	// attempts nobody priced (an unpriced snapshot, or neither snapshot
	// nor cost), so counting them in a period reads those alone; its
	// WHERE clause is unpricedCondition's text, which a query must repeat
	// to use the index.
	`ALTER TABLE provider_attempts ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE provider_attempts ADD COLUMN price_cache_write_1h INTEGER; -- nano-dollars per million tokens
	ALTER TABLE reconciliations ADD COLUMN local_unpriced INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX provider_attempts_unpriced ON provider_attempts (provider, started_at)
		WHERE (substr(price_source, 1, 10) = 'unpriced: ' OR price_source IS NULL AND estimated_nusd = 0);`,

	// 6: the keys of the batches Store.WriteBatches wrote (batch.go), so
	// that a batch offered again under its key is skipped. A key is
	// inserted in the transaction that writes its batch's records, so a
	// key is there exactly when its records were committed. Keys are
	// kept until the store is deleted: neither retention nor a month's
	// rollover removes them.
	`CREATE TABLE batch_keys (
		key        BLOB PRIMARY KEY,   -- abi.Batch.Key's bytes, at most abi.MaxBatchKey
		written_at INTEGER NOT NULL    -- Unix nanoseconds (the store's clock)
	) WITHOUT ROWID;`,

	// 7: the store's identity (Store.ID): 16 random bytes in lowercase
	// hex, drawn once, in the migration's transaction, so that processes
	// opening a new path at once all see the same ID, and never changed.
	// A store from before gets its ID here.
	`CREATE TABLE store_id (
		one INTEGER PRIMARY KEY CHECK (one = 1), -- a single row
		id  TEXT    NOT NULL
	);
	INSERT INTO store_id (one, id) VALUES (1, lower(hex(randomblob(16))));`,
}

// SchemaVersion is the schema version this package writes: the number of
// migrations. A store of a higher version fails to open with
// [ErrNewerSchema].
const SchemaVersion = 7

// eventIDs is the counter event IDs are drawn from (see wtx.nextEventID).
// A store without its row has never drawn an ID, or was filled by other
// means: IDs then continue above the largest in the events table.
var eventIDs = &sqldb.Counter{Name: "event_id", Floor: "SELECT max(id) FROM events"}

// dictIDs is the counter compression dictionary IDs are drawn from (see
// allocDictID): above every ID in the dicts table while the counter has no
// row (stores written before it), and never below zdict.MinID.
var dictIDs = &sqldb.Counter{Name: "dict_id", Floor: fmt.Sprintf("SELECT max(coalesce(max(id), 0), %d) FROM dicts", zdict.MinID-1)}

// attemptIDs is the counter provider attempt IDs are drawn from (see
// Store.RecordAttempt); above every ID in the table while it has no row.
var attemptIDs = &sqldb.Counter{Name: "attempt_id", Floor: "SELECT max(id) FROM provider_attempts"}

// reconciliationIDs is the counter reconciliation IDs are drawn from (see
// Store.SaveReconciliation); above every ID in the table while it has no
// row.
var reconciliationIDs = &sqldb.Counter{Name: "reconciliation_id", Floor: "SELECT max(id) FROM reconciliations"}

// The counters table also holds the "retention_cutoff" row, which is not
// a counter of package sqldb: the highest retention cutoff ever applied,
// raised by retention and read before a dictionary is inserted (see
// recordCutoff and the dictionary protocol in dicts.go).

// schema is what package sqldb needs to open, check and migrate a store.
var schema = &sqldb.Schema{
	AppID:      applicationID,
	Migrations: migrations[:],
	Counters:   []*sqldb.Counter{eventIDs, dictIDs, attemptIDs, reconciliationIDs},
}

// bindAll binds positional arguments (see sqldb.Bind).
func bindAll(st *sqlite3.Stmt, args ...any) error { return sqldb.Bind(st, args...) }
