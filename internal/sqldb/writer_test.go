package sqldb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// blockWriter runs a write that holds the writer until the returned
// function is called, which then waits for that write's result. Writes
// submitted meanwhile queue up for the next batch.
func blockWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), func(tx *Tx) error {
			close(started)
			<-unblock
			_, err := addItem(tx, "blocker")
			return err
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking write: %v", err)
		}
	}
}

// waitQueued waits until n writes are queued for db's writer.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(db.w.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes queued after 10 s", len(db.w.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommitShares queues writes while the writer is busy: they all
// commit in the next transaction, one commit for all of them.
func TestGroupCommitShares(t *testing.T) {
	db := openToy(t, tempPath(t), nil)
	release := blockWriter(t, db)
	c0, w0 := db.BatchStats()
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := db.Write(context.Background(), func(tx *Tx) error {
				_, err := addItem(tx, fmt.Sprint("w", i))
				return err
			})
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		})
	}
	waitQueued(t, db, n)
	release()
	wg.Wait()
	c1, w1 := db.BatchStats()
	if c1-c0 != 1 || w1-w0 != n {
		t.Errorf("%d queued writes took %d commits (%d writes counted), want 1", n, c1-c0, w1-w0)
	}
	if got := countItems(t, db, "owner LIKE 'w%'"); got != n {
		t.Errorf("%d items committed, want %d", got, n)
	}
}

// TestGroupCommitConcurrent: writers that write at the same time share
// commits.
func TestGroupCommitConcurrent(t *testing.T) {
	db := openToy(t, tempPath(t), nil)
	const writers, each = 16, 20
	c0, w0 := db.BatchStats()
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range each {
				err := db.Write(context.Background(), func(tx *Tx) error {
					_, err := addItem(tx, fmt.Sprint("w", i, "-", j))
					return err
				})
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	c1, w1 := db.BatchStats()
	commits, writes := c1-c0, w1-w0
	t.Logf("%d writes in %d commits", writes, commits)
	if writes != writers*each || commits >= writes {
		t.Errorf("%d concurrent writes took %d commits: none shared", writes, commits)
	}
}

// TestGroupCommitIsolation puts failing writes in a batch with good ones:
// each gets its own result, and only the good ones commit. With savepoints
// from the start (Write) and with the optimistic batch that reruns with
// them after the failure (Submit with Rerun).
func TestGroupCommitIsolation(t *testing.T) {
	for _, rerun := range []bool{false, true} {
		t.Run(fmt.Sprint("rerun=", rerun), func(t *testing.T) {
			db := openToy(t, tempPath(t), nil)
			boom := errors.New("boom")
			writes := map[string]func(tx *Tx) error{
				"good1": func(tx *Tx) error { _, err := addItem(tx, "good1"); return err },
				"boom": func(tx *Tx) error {
					if _, err := addItem(tx, "boom"); err != nil {
						return err
					}
					return boom
				},
				"good2": func(tx *Tx) error { _, err := addItem(tx, "good2"); return err },
				"constraint": func(tx *Tx) error {
					if _, err := addItem(tx, "constraint"); err != nil {
						return err
					}
					_, err := tx.Exec(`INSERT INTO items (id, owner) VALUES ((SELECT max(id) FROM items), 'dup')`)
					return err
				},
			}
			release := blockWriter(t, db)
			c0, _ := db.BatchStats()
			var mu sync.Mutex
			results := map[string]error{}
			var wg sync.WaitGroup
			for name, fn := range writes {
				wg.Go(func() {
					err := db.Submit(context.Background(), Request{Fn: fn, Rerun: rerun})
					mu.Lock()
					results[name] = err
					mu.Unlock()
				})
			}
			waitQueued(t, db, len(writes))
			release()
			wg.Wait()
			if c1, _ := db.BatchStats(); c1-c0 != 1 {
				t.Fatalf("the writes took %d batches, want 1", c1-c0)
			}
			if results["good1"] != nil || results["good2"] != nil {
				t.Errorf("good writes failed beside bad ones: %v, %v", results["good1"], results["good2"])
			}
			if !errors.Is(results["boom"], boom) {
				t.Errorf("failing write: %v, want %v", results["boom"], boom)
			}
			if !errors.Is(results["constraint"], sqlite3.CONSTRAINT) {
				t.Errorf("duplicate insert: %v, want a constraint error", results["constraint"])
			}
			if n := countItems(t, db, "owner IN ('good1', 'good2')"); n != 2 {
				t.Errorf("%d of the 2 good writes committed", n)
			}
			if n := countItems(t, db, "owner IN ('boom', 'constraint', 'dup')"); n != 0 {
				t.Errorf("%d rows of failed writes committed", n)
			}
		})
	}
}

// TestWriteCanceled: a context canceled before the write starts writes
// nothing and returns the context's error.
func TestWriteCanceled(t *testing.T) {
	db := openToy(t, tempPath(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := db.Write(ctx, func(tx *Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("canceled write: ran %v, %v", ran, err)
	}
}

// TestAfter: After runs once the write committed, on the write
// connection, and its error is the write's result.
func TestAfter(t *testing.T) {
	db := openToy(t, tempPath(t), nil)
	boom := errors.New("after failed")
	var committed int64
	err := db.Submit(context.Background(), Request{
		Fn: func(tx *Tx) error { _, err := addItem(tx, "a"); return err },
		After: func(c *sqlite3.Conn) error {
			if !c.GetAutocommit() {
				return errors.New("After runs inside a transaction")
			}
			var err error
			committed, err = QueryInt(c, `SELECT count(*) FROM items`)
			if err != nil {
				return err
			}
			return boom
		},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("write with a failing After: %v, want %v", err, boom)
	}
	if committed != 1 {
		t.Fatalf("After saw %d items, want the committed one", committed)
	}
}

// TestClosed: after Close, reads and writes fail with ErrClosed, and Close
// returns its first result again.
func TestClosed(t *testing.T) {
	db, err := Open(tempPath(t), toy, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := db.Write(context.Background(), func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := db.Read(context.Background(), func(*ReadTx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
}

// TestCloseCheckpoints: after writes and reads, Close leaves every commit
// in the database file itself, with no WAL left behind.
func TestCloseCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(path, toy, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := db.Write(context.Background(), func(tx *Tx) error { _, err := addItem(tx, "x"); return err }); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			countItems(t, db, "1") // opens read connections
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if b := fileBytesOK(path + "-wal"); len(b) > 0 {
		t.Errorf("-wal of %d bytes left after Close", len(b))
	}
	if n := rawInt(t, path, `SELECT count(*) FROM items`); n != 50 {
		t.Errorf("the database file holds %d of 50 items", n)
	}
}
