package sqldb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

var errNotErasedStandIn = errors.New("not erased")

// TestNoMemoryLaterAfters puts two writes with an After in one batch, the
// first After running out of memory: the second write's change is
// committed, so its After must still run (on a new connection) and its
// error, if any, be its own, never a bare ErrNoMemory that reads as a
// rolled-back write.
func TestNoMemoryLaterAfters(t *testing.T) {
	ctx := context.Background()
	db, err := Open(tempPath(t), toy, Options{Pragmas: []string{fmt.Sprintf("hard_heap_limit=%d", heapLimit)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	purgeLike := func(oom bool) func(c *sqlite3.Conn) error {
		return func(c *sqlite3.Conn) error {
			var err error
			if gerr := GuardNoMemory(func() {
				if oom {
					_, err = QueryInt(c, `SELECT length(randomblob(?))`, 2*heapLimit)
				} else {
					err = c.Exec("VACUUM")
				}
			}); gerr != nil {
				err = gerr
			}
			if err != nil {
				return fmt.Errorf("%w: %w", errNotErasedStandIn, err)
			}
			return nil
		}
	}
	for round := 0; round < 20; round++ {
		l1, l2 := db.Enter(), db.Enter()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("r%d-%d", round, i)
				errs[i] = db.Submit(ctx, Request{Fn: func(tx *Tx) error { _, err := addItem(tx, owner); return err }, After: purgeLike(i == 0)})
				if i == 0 {
					l1()
				} else {
					l2()
				}
			}()
		}
		wg.Wait()
		c, _ := db.BatchStats()
		for i, err := range errs {
			owner := fmt.Sprintf("r%d-%d", round, i)
			n := countItems(t, db, "owner = ?", owner)
			if n == 1 && err != nil && !errors.Is(err, errNotErasedStandIn) {
				t.Errorf("round %d (commits %d): write %d committed, error %v does not carry After's own error", round, c, i, err)
				return
			}
		}
	}
}
