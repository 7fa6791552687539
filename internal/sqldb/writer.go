package sqldb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// maxBatch bounds how many writes share one transaction.
const maxBatch = 512

// maxLinger bounds how long a batch waits for callers that are about to
// enqueue (see writer.loop). It is small against an fsync (~0.5 ms on an
// SSD), so a lone caller never waits and concurrent ones share commits.
const maxLinger = 200 * time.Microsecond

// Request is one write for [DB.Submit].
type Request struct {
	// Fn makes the write, inside the batch's transaction. Its error fails
	// only this write.
	Fn func(tx *Tx) error

	// Rerun says Fn may run twice: it changes nothing outside the
	// transaction (beyond drawing counter values, which may then be
	// skipped). A batch of such writes runs without savepoints, which
	// cost two statements a write, and only on a failure rolls back and
	// runs again with them.
	Rerun bool

	// After, if not nil, runs on the write connection once Fn's
	// transaction has committed, outside any transaction (a VACUUM, a
	// checkpoint). Its error is the write's result, though Fn's change
	// is committed.
	After func(c *sqlite3.Conn) error
}

// Tx is what a write function gets: the write connection, inside the
// batch's transaction (and, unless the batch runs optimistically, inside a
// savepoint of its own), with a cache of prepared statements. It is valid
// only until the function returns.
type Tx struct {
	w *writer
	// drawn[i] says the transaction has read counter i (and so must store
	// the writer's last value of it before it commits); see Next.
	drawn []bool
}

// Conn returns the write connection.
func (t *Tx) Conn() *sqlite3.Conn { return t.w.c }

// Stmt returns a cached prepared statement of the write connection.
// Callers Reset it when done and never Close it.
func (t *Tx) Stmt(query string) (*sqlite3.Stmt, error) { return t.w.stmt(query) }

// Exec runs a cached statement with positional arguments (see [Bind]) and
// returns the number of rows it changed.
func (t *Tx) Exec(query string, args ...any) (int64, error) {
	st, err := t.w.stmt(query)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	if err := Bind(st, args...); err != nil {
		return 0, err
	}
	if err := st.Exec(); err != nil {
		return 0, err
	}
	return t.w.c.Changes(), nil
}

// writer owns the database's only write connection and group-commits: a
// goroutine takes every write queued while the previous commit was
// syncing, runs each in its own savepoint, and commits them together with
// one fsync. Each write then reports its own result, so one bad write never
// fails another, and a write reported as successful is durable.
type writer struct {
	c     *sqlite3.Conn
	reqs  chan *writeReq
	quit  chan struct{}
	wg    sync.WaitGroup
	stmts map[string]*sqlite3.Stmt // owned by the writer goroutine

	// open opens a new write connection (after discard), with the
	// database's pragmas; c is nil between discard and the next batch.
	open func() (*sqlite3.Conn, error)

	mu     sync.RWMutex // held for reading while enqueueing
	closed bool

	// waiting counts callers on their way to submit, in it, or waiting
	// for their result (see DB.Enter).
	waiting atomic.Int64

	// commits and committed count batches and the writes in them.
	commits, committed atomic.Int64

	// schema's counters: their statements, and the last value this
	// writer handed out of each (never lowered, so a value drawn by a
	// transaction that rolled back is not handed out again). Owned by
	// the writer goroutine.
	schema     *Schema
	counterSQL []counterSQL
	last       []uint64

	tx Tx // the transaction in progress; reset by begin
}

type writeReq struct {
	ctx context.Context
	Request
	done chan error
}

func newWriter(c *sqlite3.Conn, s *Schema, open func() (*sqlite3.Conn, error)) *writer {
	w := &writer{
		c:      c,
		open:   open,
		reqs:   make(chan *writeReq, maxBatch),
		quit:   make(chan struct{}),
		stmts:  make(map[string]*sqlite3.Stmt),
		schema: s,
		last:   make([]uint64, len(s.Counters)),
	}
	for _, k := range s.Counters {
		w.counterSQL = append(w.counterSQL, newCounterSQL(k))
	}
	w.tx = Tx{w: w, drawn: make([]bool, len(s.Counters))}
	w.wg.Add(1)
	go w.loop()
	return w
}

// Enter counts a caller that will call [DB.Submit] shortly, until the
// returned function is called. Callers that prepare their write first
// (encode, compress) enter before they start, so that the batch their
// write can join waits for them; with a single caller a batch never waits.
// [DB.Write] enters by itself.
func (db *DB) Enter() (leave func()) {
	w := db.w
	w.waiting.Add(1)
	return func() { w.waiting.Add(-1) }
}

// Write runs fn in the next group commit and returns once it is durable,
// counting the caller as [DB.Enter] does. A context canceled before fn
// starts returns the context's error and writes nothing; once fn has
// started, Write waits for the commit, so the result always says whether
// the write happened. The error of fn, or of the commit, is the result.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	defer db.Enter()()
	return db.Submit(ctx, Request{Fn: fn})
}

// Submit is [DB.Write] for a request with options, for a caller that
// counts itself with [DB.Enter] (or does not need to).
func (db *DB) Submit(ctx context.Context, r Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := db.w
	req := &writeReq{ctx: ctx, Request: r, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.reqs <- req:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	return <-req.done
}

// loop commits batches until close. A batch takes every queued write, then
// lingers up to maxLinger while it holds fewer writes than there are
// callers on their way (see Enter) or than the previous batch had: those
// callers are about to enqueue, and including them halves the number of
// fsyncs. With a single caller the batch never waits.
func (w *writer) loop() {
	defer w.wg.Done()
	batch := make([]*writeReq, 0, maxBatch)
	prev := 0 // size of the previous batch
	linger := time.NewTimer(maxLinger)
	linger.Stop() // since Go 1.23, Stop and Reset leave no stale tick behind
	for {
		select {
		case r := <-w.reqs:
			batch = append(batch[:0], r)
			lingering := false
		fill:
			for len(batch) < maxBatch {
				select {
				case r := <-w.reqs:
					batch = append(batch, r)
					continue
				default:
				}
				if int64(len(batch)) >= max(w.waiting.Load(), int64(prev)) {
					break
				}
				if !lingering {
					linger.Reset(maxLinger)
					lingering = true
				}
				select {
				case r := <-w.reqs:
					batch = append(batch, r)
				case <-linger.C:
					lingering = false
					break fill
				}
			}
			if lingering {
				linger.Stop()
			}
			prev = len(batch)
			w.commits.Add(1)
			w.committed.Add(int64(len(batch)))
			w.commit(batch)
		case <-w.quit:
			for {
				select {
				case r := <-w.reqs:
					w.commit([]*writeReq{r})
				default:
					return
				}
			}
		}
	}
}

// commit runs a batch in one transaction (see transact), then each
// committed write's After, and reports every write's result, in order.
//
// SQLite running out of memory (go-sqlite3 panics with it) fails the
// writes it touched with [ErrNoMemory], not the process: a panic in the
// transaction fails the whole batch, none of it acknowledged (SQLite
// rolls the transaction back, and so does closing the connection); a
// panic in an After fails that write (its Fn's change is committed);
// the connection is discarded, and the later writes' Afters run on a new
// one. After a panic in the transaction, the next batch opens a new
// connection.
func (w *writer) commit(batch []*writeReq) {
	res := make([]error, len(batch))
	failAll := func(err error) {
		for _, r := range batch {
			r.done <- err
		}
	}
	if w.c == nil {
		if err := w.reconnect(); err != nil {
			failAll(err)
			return
		}
	}
	if err := w.guard(func() { w.transact(batch, res) }); err != nil {
		w.discard()
		failAll(err)
		return
	}
	for i, r := range batch {
		if res[i] == nil && r.After != nil {
			var perr error
			if w.c == nil {
				// An earlier After ran out of memory: this write's
				// change is committed, so its After runs on a new
				// connection.
				if err := w.reconnect(); err != nil {
					perr = fmt.Errorf("the write committed, but its After could not run on a new connection: %w", err)
				}
			}
			if perr == nil {
				if err := w.guard(func() { perr = r.After(w.c) }); err != nil {
					perr = err
					w.discard()
				} else if errors.Is(perr, ErrNoMemory) { // After recovered it (GuardNoMemory)
					w.discard()
				}
			}
			if perr != nil {
				res[i] = fmt.Errorf("after commit: %w", w.annotate(perr))
			}
		}
		r.done <- res[i]
	}
}

// transact runs a batch in one transaction, with a savepoint around each
// write so that a failure fails only its own write, and records each
// write's result in res. A batch of writes that may run twice first runs
// without savepoints, and only on a failure rolls back and runs again
// with them.
func (w *writer) transact(batch []*writeReq, res []error) {
	errs := res
	optimistic := true
	for _, r := range batch {
		optimistic = optimistic && r.Rerun
	}
	ran, ok := 0, false
	if optimistic {
		ran, ok = w.run(batch, errs, false)
	}
	if !ok {
		clear(errs)
		ran, _ = w.run(batch, errs, true)
	}
	var err error
	switch {
	case w.c.GetAutocommit():
	case ran > 0:
		if err = w.tx.saveCounters(); err != nil {
			break
		}
		err = w.c.Exec("COMMIT")
	default:
		err = w.c.Exec("ROLLBACK")
	}
	if err != nil {
		err = fmt.Errorf("commit: %w", w.annotate(err))
		if !w.c.GetAutocommit() {
			w.c.Exec("ROLLBACK")
		}
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
}

// guard runs fn and turns go-sqlite3's out-of-memory panic into an error
// matching [ErrNoMemory]; any other panic goes on.
func (w *writer) guard(fn func()) error { return guard(fn) }

// GuardNoMemory runs fn, a use of a connection, and returns go-sqlite3's
// out-of-memory panic as an error matching [ErrNoMemory]; any other panic
// goes on. A [Request.After] that wraps its error (to give it a meaning of
// its own) uses it; the writer then discards the connection as it does
// when the panic reaches it.
func GuardNoMemory(fn func()) error { return guard(fn) }

// guard is GuardNoMemory.
func guard(fn func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if !isNoMemory(v) {
				panic(v)
			}
			err = fmt.Errorf("%w: %v", ErrNoMemory, v)
		}
	}()
	fn()
	return nil
}

// discard closes the write connection after SQLite ran out of memory in
// it: closing rolls back a transaction still open and frees the
// connection's Wasm memory. The next batch opens a new connection.
func (w *writer) discard() {
	for q, st := range w.stmts {
		w.guard(func() { st.Close() })
		delete(w.stmts, q)
	}
	if w.c != nil {
		w.guard(func() {
			if !w.c.GetAutocommit() {
				w.c.Exec("ROLLBACK")
			}
		})
		w.guard(func() { w.c.Close() })
		w.c = nil
	}
}

// reconnect opens a new write connection after discard. Its error
// matches ErrNoMemory (the reason the last one was discarded) and wraps
// the cause.
func (w *writer) reconnect() error {
	var c *sqlite3.Conn
	var err error
	if gerr := w.guard(func() { c, err = w.open() }); gerr != nil {
		err = gerr
	}
	if err != nil {
		if !errors.Is(err, ErrNoMemory) {
			err = fmt.Errorf("%w: %w", ErrNoMemory, err)
		}
		return fmt.Errorf("reopen the write connection: %w", err)
	}
	w.c = c
	return nil
}

// annotate adds to err, returned by a call on the write connection, the
// typed error the VFS reported for it (sqlitevfs.ConnError). It must run
// before the connection is used again.
func (w *writer) annotate(err error) error { return annotate(w.c, err) }

// run executes the batch's writes in a new transaction, recording each
// write's error in errs, and returns how many succeeded. Without isolate,
// it stops at the first failure, rolls back and returns ok false.
func (w *writer) run(batch []*writeReq, errs []error, isolate bool) (ran int, ok bool) {
	if err := w.begin(); err != nil {
		err = w.annotate(err)
		for i := range batch {
			errs[i] = fmt.Errorf("begin: %w", err)
		}
		return 0, true
	}
	tx := &w.tx
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if !isolate {
			if err := r.Fn(tx); err != nil {
				w.annotate(err) // forget the typed error: the batch runs again
				if !w.c.GetAutocommit() {
					w.c.Exec("ROLLBACK")
				}
				return 0, false
			}
			ran++
			continue
		}
		if err := w.exec0("SAVEPOINT w"); err != nil {
			errs[i] = w.annotate(err)
			continue
		}
		if err := r.Fn(tx); err != nil {
			err = w.annotate(err)
			errs[i] = err
			if w.c.GetAutocommit() {
				// The error aborted the whole transaction: the writes
				// before it are gone too. Report that, start over.
				for j := range i {
					if errs[j] == nil {
						errs[j] = fmt.Errorf("transaction aborted by a concurrent write: %w", err)
					}
				}
				ran = 0
				if err := w.begin(); err != nil {
					err = w.annotate(err)
					for j := i + 1; j < len(batch); j++ {
						errs[j] = fmt.Errorf("begin: %w", err)
					}
					return 0, true
				}
				continue
			}
			w.exec0("ROLLBACK TO w")
		} else {
			ran++
		}
		w.exec0("RELEASE w")
	}
	return ran, true
}

// begin starts a write transaction, taking SQLite's write lock (waiting
// for other connections up to the busy timeout).
func (w *writer) begin() error {
	clear(w.tx.drawn)
	return w.c.Exec("BEGIN IMMEDIATE")
}

// exec0 executes a cached statement without arguments.
func (w *writer) exec0(query string) error {
	st, err := w.stmt(query)
	if err != nil {
		return err
	}
	err = st.Exec()
	st.Reset()
	return err
}

// stmt returns a cached prepared statement.
func (w *writer) stmt(query string) (*sqlite3.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, _, err := w.c.Prepare(query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

// close finishes queued writes and closes the connection.
func (w *writer) close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	close(w.quit)
	w.wg.Wait()
	for _, st := range w.stmts {
		st.Close()
	}
	if w.c == nil { // discarded after running out of memory
		return nil
	}
	return w.c.Close()
}
