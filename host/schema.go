package host

import (
	"fmt"

	"github.com/ncruces/go-sqlite3"
)

// applicationID marks an SQLite file as a session store ("gfst").
const applicationID = 0x67667374

// migrations[i] brings the schema from version i to i+1. Append only:
// released migrations are never edited, so every older store can move
// forward. SchemaVersion is len(migrations).
var migrations = []string{
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

	// 2: zstd dictionaries trained from the store's payloads (codec.go);
	// events in formatZstdDict name theirs in the frame header.
	`CREATE TABLE dicts (
		id      INTEGER PRIMARY KEY, -- zstd dictionary ID, as in the dictionary and the frames
		created INTEGER NOT NULL,    -- Unix nanoseconds
		oldest  INTEGER NOT NULL,    -- smallest events.ts among the training samples
		dict    BLOB    NOT NULL     -- zstd dictionary format
	);`,
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// checkStore returns the schema version of the store in c (0 for an empty
// database), or an error if c holds something else or a newer schema. It
// only reads, and reads application_id, user_version and the schema in one
// read transaction (or in the caller's transaction, if one is open), so a
// store another process is creating at the same moment is seen either
// empty or complete, never half-made.
func checkStore(c *sqlite3.Conn) (_ int, err error) {
	if c.GetAutocommit() {
		if err := c.Exec("BEGIN"); err != nil {
			return 0, err
		}
		defer func() {
			if cerr := c.Exec("COMMIT"); err == nil && cerr != nil {
				err = cerr
			}
		}()
	}
	return readStoreVersion(c)
}

func readStoreVersion(c *sqlite3.Conn) (int, error) {
	app, err := pragmaInt(c, "application_id")
	if err != nil {
		return 0, err
	}
	version, err := pragmaInt(c, "user_version")
	if err != nil {
		return 0, err
	}
	switch {
	case app == 0:
		n, err := queryInt(c, "SELECT count(*) FROM sqlite_schema")
		if err != nil {
			return 0, err
		}
		if n != 0 || version != 0 {
			return 0, ErrNotStore
		}
	case app != applicationID:
		return 0, ErrNotStore
	case version > SchemaVersion:
		return 0, fmt.Errorf("%w: file has version %d, this build supports up to %d", ErrNewerSchema, version, SchemaVersion)
	}
	return version, nil
}

// migrate checks that c holds a session store (or an empty database) and
// applies the missing migrations. The check and the migrations are one
// write transaction (BEGIN IMMEDIATE, waiting up to the connection's busy
// timeout for the write lock): processes that open a new store at the
// same moment take turns, the first creates the schema and the others
// re-read application_id and user_version inside their own transaction
// and find the store complete. Nothing is written to a file that is not a
// store or has a newer schema. A store that is already current is
// recognized in a read transaction, without waiting for the write lock
// (a committed schema version never goes back).
func migrate(c *sqlite3.Conn) (err error) {
	if version, err := checkStore(c); err != nil || version == SchemaVersion {
		return err
	}
	if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.Exec("ROLLBACK")
		}
	}()
	version, err := checkStore(c)
	if err != nil {
		return err
	}
	for v := version; v < SchemaVersion; v++ {
		if err := c.Exec(migrations[v]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	if version < SchemaVersion {
		err = c.Exec(fmt.Sprintf("PRAGMA application_id=%d; PRAGMA user_version=%d", applicationID, SchemaVersion))
		if err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
	}
	if err := c.Exec("COMMIT"); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}

func pragmaInt(c *sqlite3.Conn, name string) (int, error) {
	return queryInt(c, "PRAGMA "+name)
}

// queryInt runs a query that returns one integer.
func queryInt(c *sqlite3.Conn, query string, args ...any) (int, error) {
	st, _, err := c.Prepare(query)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := bindAll(st, args...); err != nil {
		return 0, err
	}
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt(0), st.Err()
}

// bindAll binds positional arguments of the types this package uses.
func bindAll(st *sqlite3.Stmt, args ...any) error {
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case nil:
			err = st.BindNull(i + 1)
		case int:
			err = st.BindInt64(i+1, int64(v))
		case int64:
			err = st.BindInt64(i+1, v)
		case uint64:
			err = st.BindInt64(i+1, int64(v))
		case string:
			err = st.BindText(i+1, v)
		case []byte:
			if v == nil {
				err = st.BindNull(i + 1)
			} else {
				err = st.BindBlob(i+1, v)
			}
		case bool:
			err = st.BindBool(i+1, v)
		default:
			panic(fmt.Sprintf("host: bindAll: unsupported type %T", a))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
