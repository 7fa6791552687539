package host

import (
	"context"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/sqldb"
)

// rtx is a read transaction on one of the store's pooled read connections
// (sqldb.ReadTx): everything it reads is one consistent snapshot.
type rtx sqldb.ReadTx

// stmt returns a cached prepared statement; callers Reset it when done.
func (q *rtx) stmt(query string) (*sqlite3.Stmt, error) {
	return (*sqldb.ReadTx)(q).Stmt(query)
}

// read runs fn on a pooled read connection inside one read transaction
// (see sqldb.DB.Read). Close waits for reads in progress.
func (s *Store) read(ctx context.Context, fn func(q *rtx) error) error {
	return s.db.Read(ctx, func(q *sqldb.ReadTx) error { return fn((*rtx)(q)) })
}
