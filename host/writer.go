package host

import (
	"context"
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

// writer owns the store's only write connection and group-commits: a
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

	mu     sync.RWMutex // held for reading while enqueueing
	closed bool

	// waiting counts callers on their way to do, in it, or waiting for
	// their result (see enter).
	waiting atomic.Int64

	// commits and committed count batches and the writes in them, for
	// the benchmarks' writes-per-commit figure.
	commits, committed atomic.Int64

	// lastID is the last event ID this writer handed out, and idTx says
	// the current transaction has read the "event_id" counter (and so
	// must store lastID in it before it commits). Owned by the writer
	// goroutine; see nextEventID.
	lastID uint64
	idTx   bool
}

type writeReq struct {
	ctx context.Context
	fn  func(tx *wtx) error
	// rerun says fn may run twice: it changes nothing outside the
	// transaction (beyond drawing event IDs, which may then be skipped).
	rerun bool
	post  func(c *sqlite3.Conn) error // run after the batch commits, outside it
	done  chan error
}

// wtx is what a write function gets: the connection, inside a savepoint
// of the batch's transaction, and a cache of prepared statements.
type wtx struct {
	w *writer
}

// Conn returns the write connection.
func (t *wtx) Conn() *sqlite3.Conn { return t.w.c }

// enter counts a caller that will call do shortly, until the returned
// function is called. Callers enter before their own preparation
// (redaction, compression), so a batch can wait for them.
func (w *writer) enter() (leave func()) {
	w.waiting.Add(1)
	return func() { w.waiting.Add(-1) }
}

// nextEventID assigns the next event ID, from the database, not from
// memory: the first call in a transaction reads the "event_id" counter,
// and the transaction stores the last ID it drew there before it commits
// (see writer.commit), so one counter read and one counter write serve a
// whole group commit.
//
// IDs are strictly increasing across every Store on the file, in this and
// other processes, and never reused: the transaction holds SQLite's write
// lock from BEGIN IMMEDIATE to COMMIT, so no other writer can draw IDs or
// commit in between, and it reads the counter as the last commit left it.
// Writes draw IDs only inside such transactions, so commits happen in ID
// order: a reader's snapshot holds every committed event up to its highest
// ID, and a reader that has seen ID n never later sees a new event below
// n. IDs drawn by writes that roll back are skipped: this writer never
// hands them out again, and the counter is only ever raised.
func (t *wtx) nextEventID() (uint64, error) {
	w := t.w
	if !w.idTx {
		// The counter is written with every transaction that draws IDs;
		// a store without it has never had one, or was filled by other
		// means.
		st, err := w.stmt(`SELECT coalesce((SELECT value FROM counters WHERE name = 'event_id'), (SELECT max(id) FROM events), 0)`)
		if err != nil {
			return 0, fmt.Errorf("read event ID counter: %w", err)
		}
		var stored int64
		if st.Step() {
			stored = st.ColumnInt64(0)
		}
		err = st.Err()
		st.Reset()
		if err != nil {
			return 0, fmt.Errorf("read event ID counter: %w", err)
		}
		w.lastID = max(w.lastID, uint64(stored))
		w.idTx = true
	}
	w.lastID++
	return w.lastID, nil
}

// exec runs a cached statement with args and returns the number of rows
// it changed.
func (t *wtx) exec(query string, args ...any) (int64, error) {
	st, err := t.w.stmt(query)
	if err != nil {
		return 0, err
	}
	defer st.Reset()
	if err := bindAll(st, args...); err != nil {
		return 0, err
	}
	if err := st.Exec(); err != nil {
		return 0, err
	}
	return t.w.c.Changes(), nil
}

func newWriter(c *sqlite3.Conn) (*writer, error) {
	w := &writer{
		c:     c,
		reqs:  make(chan *writeReq, maxBatch),
		quit:  make(chan struct{}),
		stmts: make(map[string]*sqlite3.Stmt),
	}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

// do runs fn in the next group commit and waits until it is durable. A
// context canceled before fn starts returns the context's error and writes
// nothing; once fn has started, do waits for the commit, so the result
// always says whether the write happened.
func (w *writer) do(ctx context.Context, fn func(tx *wtx) error, post func(c *sqlite3.Conn) error) error {
	return w.submit(ctx, &writeReq{fn: fn, post: post})
}

// doRerun is do for a fn that may run twice (see writeReq.rerun), which
// lets its batch skip savepoints.
func (w *writer) doRerun(ctx context.Context, fn func(tx *wtx) error) error {
	return w.submit(ctx, &writeReq{fn: fn, rerun: true})
}

func (w *writer) submit(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.ctx, r.done = ctx, make(chan error, 1)
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.reqs <- r:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	return <-r.done
}

// loop commits batches until close. A batch takes every queued write, then
// lingers up to maxLinger while it holds fewer writes than there are
// callers on their way (see enter) or than the previous batch had: those
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

// commit runs a batch in one transaction, with a savepoint around each
// write so that a failure fails only its own write. A batch of writes that
// may run twice first runs without savepoints, which cost two statements a
// write, and only on a failure rolls back and runs again with them.
func (w *writer) commit(batch []*writeReq) {
	errs := make([]error, len(batch))
	optimistic := true
	for _, r := range batch {
		optimistic = optimistic && r.rerun
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
		if w.idTx {
			if err = w.saveLastID(); err != nil {
				w.c.Exec("ROLLBACK")
				break
			}
		}
		err = w.c.Exec("COMMIT")
	default:
		err = w.c.Exec("ROLLBACK")
	}
	if err != nil {
		if !w.c.GetAutocommit() {
			w.c.Exec("ROLLBACK")
		}
		err = fmt.Errorf("commit: %w", vfsError(w.c, err))
	}
	for i, r := range batch {
		if errs[i] == nil && err == nil && r.post != nil {
			if perr := r.post(w.c); perr != nil {
				errs[i] = fmt.Errorf("after commit: %w", vfsError(w.c, perr))
			}
		}
		if errs[i] != nil {
			r.done <- errs[i]
		} else {
			r.done <- err
		}
	}
}

// run executes the batch's writes in a new transaction, recording each
// write's error in errs, and returns how many succeeded. Without isolate,
// it stops at the first failure, rolls back and returns ok false.
func (w *writer) run(batch []*writeReq, errs []error, isolate bool) (ran int, ok bool) {
	if err := w.begin(); err != nil {
		err = vfsError(w.c, err)
		for i := range batch {
			errs[i] = fmt.Errorf("begin: %w", err)
		}
		return 0, true
	}
	tx := &wtx{w: w}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if !isolate {
			if err := r.fn(tx); err != nil {
				vfsError(w.c, err) // forget the typed error: the batch runs again
				if !w.c.GetAutocommit() {
					w.c.Exec("ROLLBACK")
				}
				return 0, false
			}
			ran++
			continue
		}
		if err := w.exec0("SAVEPOINT w"); err != nil {
			errs[i] = vfsError(w.c, err)
			continue
		}
		if err := r.fn(tx); err != nil {
			err = vfsError(w.c, err)
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
					err = vfsError(w.c, err)
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
	w.idTx = false
	return w.c.Exec("BEGIN IMMEDIATE")
}

// saveLastID stores the last ID handed out in the event_id counter, in the
// batch's transaction, so that the next transaction, of any writer in any
// process, and this one after a restart, continues above it.
func (w *writer) saveLastID() error {
	st, err := w.stmt(`INSERT INTO counters (name, value) VALUES ('event_id', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`)
	if err != nil {
		return err
	}
	defer st.Reset()
	if err := st.BindInt64(1, int64(w.lastID)); err != nil {
		return err
	}
	return st.Exec()
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
	return w.c.Close()
}
