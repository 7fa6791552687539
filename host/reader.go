package host

import (
	"context"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
)

// readerCache sizes each read connection's page cache: 8 MiB of decrypted
// pages, so re-reading recent sessions costs no decryption.
const readerCache = "PRAGMA cache_size=-8192"

// rconn is a pooled read-only connection with its prepared statements.
type rconn struct {
	c     *sqlite3.Conn
	stmts map[string]*sqlite3.Stmt
}

// rtx is what a read function gets: one connection, inside a read
// transaction, so everything it reads is one consistent snapshot.
type rtx struct{ r *rconn }

// stmt returns a cached prepared statement; callers Reset it when done.
func (q *rtx) stmt(query string) (*sqlite3.Stmt, error) {
	if st, ok := q.r.stmts[query]; ok {
		return st, nil
	}
	st, _, err := q.r.c.Prepare(query)
	if err != nil {
		return nil, err
	}
	q.r.stmts[query] = st
	return st, nil
}

func (r *rconn) close() {
	for _, st := range r.stmts {
		st.Close()
	}
	r.c.Close()
}

// read runs fn on a pooled read connection inside one read transaction.
// Close waits for reads in progress.
func (s *Store) read(ctx context.Context, fn func(q *rtx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	r, err := s.borrow(ctx)
	if err != nil {
		return err
	}
	if err := r.c.Exec("BEGIN"); err != nil {
		err = vfsError(r.c, err)
		s.giveBack(r)
		return err
	}
	err = vfsError(r.c, fn(&rtx{r: r}))
	r.c.Exec("COMMIT")
	s.giveBack(r)
	return err
}

// borrow takes a read connection from the pool or opens one.
func (s *Store) borrow(ctx context.Context) (*rconn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case r := <-s.readers:
		return r, nil
	default:
	}
	o := s.opts
	o.ReadOnly = true
	c, err := engine.Open(s.path, o)
	if err != nil {
		return nil, err
	}
	if err := c.Exec(readerCache); err != nil {
		err = vfsError(c, err)
		c.Close()
		return nil, err
	}
	return &rconn{c: c, stmts: make(map[string]*sqlite3.Stmt)}, nil
}

// giveBack returns a read connection to the pool, or closes it if the
// pool is full.
func (s *Store) giveBack(r *rconn) {
	select {
	case s.readers <- r:
	default:
		r.close()
	}
}
