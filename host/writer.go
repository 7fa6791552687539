package host

import (
	"context"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/sqldb"
)

// wtx is a write transaction of the store's group-committing writer
// (sqldb.Tx), with this package's helpers. A *sqldb.Tx converts to a *wtx
// and back at no cost.
type wtx sqldb.Tx

func (t *wtx) sqldb() *sqldb.Tx { return (*sqldb.Tx)(t) }

// Conn returns the write connection.
func (t *wtx) Conn() *sqlite3.Conn { return t.sqldb().Conn() }

// stmt returns a cached prepared statement; callers Reset it when done.
func (t *wtx) stmt(query string) (*sqlite3.Stmt, error) { return t.sqldb().Stmt(query) }

// exec runs a cached statement with args and returns the number of rows
// it changed.
func (t *wtx) exec(query string, args ...any) (int64, error) {
	return t.sqldb().Exec(query, args...)
}

// nextEventID assigns the next event ID from the "event_id" counter, in
// the database: strictly increasing across every Store on the file, in
// this and other processes, and never reused (see sqldb.Counter). Events
// therefore commit in ID order: a reader's snapshot holds every committed
// event up to its highest ID, and a reader that has seen ID n never later
// sees a new event below n.
func (t *wtx) nextEventID() (uint64, error) { return t.sqldb().Next(eventIDs) }

// write runs fn in the writer's next group commit and waits until it is
// durable (see sqldb.DB.Write).
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	return s.db.Write(ctx, func(t *sqldb.Tx) error { return fn((*wtx)(t)) })
}
