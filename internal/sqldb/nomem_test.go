package sqldb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// heapLimit caps SQLite's heap on the connections of these tests
// (PRAGMA hard_heap_limit; every connection is its own Wasm instance, so
// the limit is the connection's): a cheap stand-in for the 256 MiB the
// Wasm memory is capped at.
const heapLimit = 8 << 20

// TestNoMemoryWrite: SQLite running out of memory in a write fails that
// write with ErrNoMemory instead of panicking the process; the write is
// rolled back, writes acknowledged before are kept, and the next write
// runs on a new connection (with the database's pragmas).
func TestNoMemoryWrite(t *testing.T) {
	ctx := context.Background()
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprintf("encrypted=%v", key != nil), func(t *testing.T) {
			db, err := Open(tempPath(t), toy, Options{Key: key, Pragmas: []string{fmt.Sprintf("hard_heap_limit=%d", heapLimit)}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Write(ctx, func(tx *Tx) error { _, err := addItem(tx, "before"); return err }); err != nil {
				t.Fatal(err)
			}
			err = db.Write(ctx, func(tx *Tx) error {
				if _, err := addItem(tx, "doomed"); err != nil {
					return err
				}
				// A value of twice the heap limit.
				_, err := tx.Exec(`UPDATE items SET note = hex(randomblob(?)) WHERE owner = 'doomed'`, heapLimit)
				return err
			})
			if !errors.Is(err, ErrNoMemory) {
				t.Fatalf("write beyond the heap limit: %v, want ErrNoMemory", err)
			}
			// The next write opens a new connection, with the limit.
			var limit int64
			if err := db.Write(ctx, func(tx *Tx) error {
				if _, err := addItem(tx, "after"); err != nil {
					return err
				}
				limit, err = QueryInt(tx.Conn(), `PRAGMA hard_heap_limit`)
				return err
			}); err != nil {
				t.Fatalf("write after running out of memory: %v", err)
			}
			if limit != heapLimit {
				t.Errorf("new write connection: hard_heap_limit %d, want the pragma's %d", limit, heapLimit)
			}
			for owner, want := range map[string]int64{"before": 1, "doomed": 0, "after": 1} {
				if n := countItems(t, db, "owner = ?", owner); n != want {
					t.Errorf("%d items of %q, want %d", n, owner, want)
				}
			}
		})
	}
}

// TestNoMemoryAfter: running out of memory in a Request's After fails
// that write with ErrNoMemory, though its change is committed, whether
// the panic reaches the writer or After recovers it with GuardNoMemory
// and wraps the error; the next write runs on a new connection.
func TestNoMemoryAfter(t *testing.T) {
	ctx := context.Background()
	db, err := Open(tempPath(t), toy, Options{Pragmas: []string{fmt.Sprintf("hard_heap_limit=%d", heapLimit)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	outOfMemory := func(c *sqlite3.Conn) error {
		_, err := QueryInt(c, `SELECT length(randomblob(?))`, 2*heapLimit)
		return err
	}
	errWrapped := errors.New("wrapped")
	for _, tc := range []struct {
		name  string
		after func(c *sqlite3.Conn) error
		want  []error
	}{
		{"panic", outOfMemory, []error{ErrNoMemory}},
		{"guarded", func(c *sqlite3.Conn) error {
			var err error
			if gerr := GuardNoMemory(func() { err = outOfMemory(c) }); gerr != nil {
				err = gerr
			}
			return fmt.Errorf("%w: %w", errWrapped, err)
		}, []error{ErrNoMemory, errWrapped}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owner := "kept-" + tc.name
			err := db.Submit(ctx, Request{
				Fn:    func(tx *Tx) error { _, err := addItem(tx, owner); return err },
				After: tc.after,
			})
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Fatalf("After beyond the heap limit: %v, want %v", err, want)
				}
			}
			if n := countItems(t, db, "owner = ?", owner); n != 1 {
				t.Errorf("%d items committed before the failing After, want 1", n)
			}
			if db.w.c != nil {
				t.Errorf("the write connection was kept after running out of memory")
			}
			if err := db.Write(ctx, func(tx *Tx) error { _, err := addItem(tx, "next"); return err }); err != nil {
				t.Fatalf("write after running out of memory: %v", err)
			}
		})
	}
}

// TestNoMemoryRead: running out of memory in a read fails it with
// ErrNoMemory, and later reads work.
func TestNoMemoryRead(t *testing.T) {
	ctx := context.Background()
	db := openToy(t, tempPath(t), testKey)
	err := db.Read(ctx, func(q *ReadTx) error {
		if err := q.Conn().Exec(fmt.Sprintf("PRAGMA hard_heap_limit=%d", heapLimit)); err != nil {
			return err
		}
		_, err := QueryInt(q.Conn(), `SELECT length(randomblob(?))`, 2*heapLimit)
		return err
	})
	if !errors.Is(err, ErrNoMemory) {
		t.Fatalf("read beyond the heap limit: %v, want ErrNoMemory", err)
	}
	if n := countItems(t, db, "1"); n != 0 {
		t.Errorf("%d items, want 0", n)
	}
}

// TestLargeWriteTempStore: a write that changes more pages than SQLite's
// heap can hold, inside its savepoint, completes: the savepoint journal
// (the original of every page the write changes) goes to a temporary
// file of the VFS (temp_store=file, see engine.Open), not into the heap.
// With temp_store=memory the same write runs out of memory, which is how
// retention of a large month used to fail.
func TestLargeWriteTempStore(t *testing.T) {
	ctx := context.Background()
	// Twice the heap limit of rows, on pages of their own (no overflow
	// pages, which an update frees instead of journaling).
	const items, noteSize = 16000, 1000
	for _, tc := range []struct {
		tempStore string
		want      error
	}{{"", nil}, {"memory", ErrNoMemory}} {
		for _, key := range [][]byte{nil, testKey} {
			t.Run(fmt.Sprintf("temp_store=%s/encrypted=%v", tc.tempStore, key != nil), func(t *testing.T) {
				pragmas := []string{fmt.Sprintf("hard_heap_limit=%d", heapLimit)}
				if tc.tempStore != "" {
					pragmas = append(pragmas, "temp_store="+tc.tempStore)
				}
				db, err := Open(tempPath(t), toy, Options{Key: key, Pragmas: pragmas})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				note := strings.Repeat("n", noteSize)
				for i := 0; i < items; i += 1000 {
					if err := db.Write(ctx, func(tx *Tx) error {
						for range 1000 {
							if _, err := tx.Exec(`INSERT INTO items (owner, note) VALUES ('o', ?)`, note); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						t.Fatal(err)
					}
				}
				var changed int64
				err = db.Write(ctx, func(tx *Tx) error {
					var err error
					changed, err = tx.Exec(`UPDATE items SET note = 'x'`)
					return err
				})
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("large update: %v, want %v", err, tc.want)
				}
				wantShort := int64(items)
				if tc.want != nil {
					wantShort = 0
				} else if changed != items {
					t.Errorf("large update changed %d rows, want %d", changed, items)
				}
				if n := countItems(t, db, "note = 'x'"); n != wantShort {
					t.Errorf("%d items updated, want %d", n, wantShort)
				}
			})
		}
	}
}
