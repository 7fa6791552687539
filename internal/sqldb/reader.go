package sqldb

import (
	"context"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
)

// ReadTx is what a read function gets: one read-only connection, inside a
// read transaction, so everything it reads is one consistent snapshot,
// with a cache of prepared statements. It is valid only until the function
// returns.
type ReadTx struct {
	c     *sqlite3.Conn
	stmts map[string]*sqlite3.Stmt
}

// Conn returns the read connection.
func (q *ReadTx) Conn() *sqlite3.Conn { return q.c }

// Stmt returns a cached prepared statement of the read connection.
// Callers Reset it when done and never Close it.
func (q *ReadTx) Stmt(query string) (*sqlite3.Stmt, error) {
	if st, ok := q.stmts[query]; ok {
		return st, nil
	}
	st, _, err := q.c.Prepare(query)
	if err != nil {
		return nil, err
	}
	q.stmts[query] = st
	return st, nil
}

func (q *ReadTx) close() {
	for _, st := range q.stmts {
		st.Close()
	}
	q.c.Close()
}

// Read runs fn on a pooled read connection inside one read transaction,
// and returns fn's error. Close waits for reads in progress. If SQLite
// runs out of memory (go-sqlite3 panics with it), the error matches
// [ErrNoMemory] and the connection is discarded.
func (db *DB) Read(ctx context.Context, fn func(q *ReadTx) error) (err error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	r, err := db.borrow(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			if !isNoMemory(v) {
				panic(v)
			}
			r.discard()
			err = fmt.Errorf("%w: %v", ErrNoMemory, v)
		}
	}()
	if err := r.c.Exec("BEGIN"); err != nil {
		err = annotate(r.c, err)
		db.giveBack(r)
		return err
	}
	err = annotate(r.c, fn(r))
	r.c.Exec("COMMIT")
	db.giveBack(r)
	return err
}

// discard closes a read connection in which SQLite ran out of memory,
// ignoring a second out-of-memory panic.
func (q *ReadTx) discard() {
	for query, st := range q.stmts {
		delete(q.stmts, query)
		guard(func() { st.Close() })
	}
	guard(func() { q.c.Close() })
}

// borrow takes a read connection from the pool or opens one.
func (db *DB) borrow(ctx context.Context) (*ReadTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case r := <-db.readers:
		return r, nil
	default:
	}
	o := db.opts
	o.ReadOnly = true
	c, err := engine.Open(db.path, o)
	if err != nil {
		return nil, annotate(nil, err)
	}
	if db.rcache != "" {
		if err := c.Exec(db.rcache); err != nil {
			err = annotate(c, err)
			c.Close()
			return nil, err
		}
	}
	return &ReadTx{c: c, stmts: make(map[string]*sqlite3.Stmt)}, nil
}

// giveBack returns a read connection to the pool, or closes it if the
// pool is full.
func (db *DB) giveBack(r *ReadTx) {
	select {
	case db.readers <- r:
	default:
		r.close()
	}
}
