package sqldb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/internal/testkit/proc"
)

func mustAdd(t *testing.T, db *DB, owner string) uint64 {
	t.Helper()
	var id uint64
	err := db.Write(context.Background(), func(tx *Tx) error {
		var err error
		id, err = addItem(tx, owner)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCounterRolledBack checks that values drawn by a write that rolls
// back are never handed out again by its DB, that another DB on the same
// file continues above every committed value, and that a DB opened later
// continues above both.
func TestCounterRolledBack(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprint("encrypted=", key != nil), func(t *testing.T) {
			path := tempPath(t)
			a, b := openToy(t, path, key), openToy(t, path, key)
			first := mustAdd(t, a, "a")
			boom := errors.New("boom")
			var drawn uint64
			err := a.Write(context.Background(), func(tx *Tx) error {
				for range 3 {
					id, err := tx.Next(toyIDs)
					if err != nil {
						return err
					}
					drawn = id
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("failing write: %v, want %v", err, boom)
			}
			if drawn <= first {
				t.Fatalf("rolled-back write drew %d after %d", drawn, first)
			}
			if id := mustAdd(t, a, "a"); id <= drawn {
				t.Errorf("after a rolled-back write that drew %d, the same DB handed out %d", drawn, id)
			}
			last := mustAdd(t, a, "a")
			if id := mustAdd(t, b, "b"); id <= last {
				t.Errorf("second DB handed out %d after the first committed %d", id, last)
			} else {
				last = id
			}
			if id := mustAdd(t, a, "a"); id <= last {
				t.Errorf("first DB handed out %d after the second committed %d", id, last)
			} else {
				last = id
			}
			a.Close()
			b.Close()
			if id := mustAdd(t, openToy(t, path, key), "c"); id <= last {
				t.Errorf("reopened database handed out %d after %d", id, last)
			}
		})
	}
}

// TestCounterRerunSkips: values drawn by an optimistic batch that fails
// and reruns with savepoints are skipped, not reused.
func TestCounterRerunSkips(t *testing.T) {
	db := openToy(t, tempPath(t), nil)
	mustAdd(t, db, "first")
	release := blockWriter(t, db)
	var ids []uint64 // drawn by the good write, run by the writer goroutine
	var wg sync.WaitGroup
	wg.Go(func() {
		err := db.Submit(context.Background(), Request{Rerun: true, Fn: func(tx *Tx) error {
			id, err := addItem(tx, "good")
			ids = append(ids, id)
			return err
		}})
		if err != nil {
			t.Errorf("good write: %v", err)
		}
	})
	waitQueued(t, db, 1) // the good write runs first in the batch
	wg.Go(func() {
		db.Submit(context.Background(), Request{Rerun: true, Fn: func(tx *Tx) error {
			if _, err := tx.Next(toyIDs); err != nil {
				return err
			}
			return errors.New("fails")
		}})
	})
	waitQueued(t, db, 2)
	release()
	wg.Wait()
	// The good write ran in the optimistic pass and again with
	// savepoints; the second run drew anew.
	if len(ids) != 2 || ids[1] <= ids[0] {
		t.Fatalf("the good write drew %v, want two increasing IDs", ids)
	}
	if n := countItems(t, db, "owner = 'good' AND id = ?", ids[1]); n != 1 {
		t.Fatalf("the good write's item does not have ID %d", ids[1])
	}
	if next := mustAdd(t, db, "next"); next <= ids[1]+1 {
		t.Errorf("after the batch the counter handed out %d, at or below what the failed write drew (%v and one more)", next, ids)
	}
}

// TestCounterFloor: a counter without its row continues above its floor
// query (data written before the counter), and is never lowered once
// stored.
func TestCounterFloor(t *testing.T) {
	path := tempPath(t)
	db := openToy(t, path, nil)
	err := db.Write(context.Background(), func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO items (id, owner) VALUES (41, 'old')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if id := mustAdd(t, db, "new"); id != 42 {
		t.Fatalf("first value above an item of ID 41: %d, want 42", id)
	}
	db.Close()
	if n := rawInt(t, path, `SELECT value FROM counters WHERE name = 'item_id'`); n != 42 {
		t.Fatalf("stored counter %d, want 42", n)
	}
	rawExec(t, path, nil, `DELETE FROM items`)
	if id := mustAdd(t, openToy(t, path, nil), "after"); id != 43 {
		t.Fatalf("after deleting every item the counter handed out %d, want 43", id)
	}
}

// TestCounterUnknown: drawing from a counter the schema does not declare
// fails the write.
func TestCounterUnknown(t *testing.T) {
	db := openToy(t, tempPath(t), nil)
	err := db.Write(context.Background(), func(tx *Tx) error {
		_, err := tx.Next(&Counter{Name: "item_id"}) // same name, not the schema's
		return err
	})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Next of an undeclared counter: %v", err)
	}
}

// counterArgs are the parameters of a TestCounterProcesses child.
type counterArgs struct {
	Path      string
	Name      string
	T0        int64 // Unix nanoseconds to start at
	For       time.Duration
	Encrypted bool
}

// TestCounterProcesses runs two processes that write items to one file
// at the same time, each drawing IDs from the counter: every write checks,
// holding the write lock, that its ID is above every committed one, the IDs
// are distinct, and the two processes' writes interleave.
func TestCounterProcesses(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprint("encrypted=", enc), func(t *testing.T) {
			path := tempPath(t)
			var key []byte
			if enc {
				key = testKey
			}
			openToy(t, path, key).Close() // the schema exists before the children start
			d := 1500 * time.Millisecond
			if testing.Short() {
				d = 700 * time.Millisecond
			}
			// A loaded machine may start one child late; run another
			// period then, at most three.
			for period := 1; ; period++ {
				runCounterChildren(t, path, enc, d)
				switches, items := counterSwitches(t, path, key)
				t.Logf("period %d: %d items, the writer changes %d times in ID order", period, items, switches)
				if switches >= 2 {
					return
				}
				if period == 3 {
					t.Fatal("the two processes did not write at the same time: the test proved nothing")
				}
			}
		})
	}
}

// runCounterChildren runs the two children of TestCounterProcesses for d.
func runCounterChildren(t *testing.T, path string, enc bool, d time.Duration) {
	t.Helper()
	t0 := time.Now().Add(2 * time.Second)
	var children []*proc.Proc
	for _, name := range []string{"p1", "p2"} {
		children = append(children, proc.Start(t, proc.Spec{
			Test: "TestCounterProcessesChild",
			Args: counterArgs{Path: path, Name: name, T0: t0.UnixNano(), For: d, Encrypted: enc},
			Env:  []string{childEnv(t)},
		}))
	}
	for i, p := range children {
		if err := p.Wait(); err != nil {
			t.Fatalf("child %d: %v", i+1, err)
		}
	}
}

// counterSwitches returns how often the writer of the items changes in ID
// order, and the number of items.
func counterSwitches(t *testing.T, path string, key []byte) (switches, items int) {
	t.Helper()
	db := openToy(t, path, key)
	defer db.Close()
	var owners []string
	err := db.Read(context.Background(), func(q *ReadTx) error {
		st, err := q.Stmt(`SELECT owner FROM items ORDER BY id`)
		if err != nil {
			return err
		}
		defer st.Reset()
		for st.Step() {
			owners = append(owners, st.ColumnText(0))
		}
		return st.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(owners); i++ {
		if owners[i] != owners[i-1] {
			switches++
		}
	}
	return switches, len(owners)
}

// TestCounterProcessesChild is a child process of TestCounterProcesses.
func TestCounterProcessesChild(t *testing.T) {
	if !proc.InTest(t) {
		t.Skip("helper process of TestCounterProcesses")
	}
	var a counterArgs
	if err := proc.Args(&a); err != nil {
		t.Fatal(err)
	}
	var key []byte
	if a.Encrypted {
		key = testKey
	}
	db := openToy(t, a.Path, key)
	name := a.Name
	time.Sleep(time.Until(time.Unix(0, a.T0)))
	end := time.Now().Add(a.For)
	var prev uint64
	for n := 0; time.Now().Before(end); n++ {
		var id uint64
		err := db.Write(context.Background(), func(tx *Tx) error {
			var err error
			id, err = addItem(tx, name)
			return err
		})
		if err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		if id <= prev {
			t.Fatalf("write %d: ID %d after %d", n, id, prev)
		}
		prev = id
	}
}

const (
	raceProcs    = 4
	raceInterval = 250 * time.Millisecond
)

// raceArgs are the parameters of a TestOpenRace child.
type raceArgs struct {
	Dir    string
	Name   string
	T0     int64 // Unix nanoseconds of round 0
	Rounds int
}

// racePath returns round r's path; odd rounds are encrypted.
func racePath(dir string, r int) (string, []byte) {
	path := fmt.Sprintf("%s/r%02d/toy.db", dir, r)
	if r%2 == 1 {
		return path, testKey
	}
	return path, nil
}

// TestOpenRace starts processes that each open a new path at the same
// moment, round after round, and write one item: every open and write
// succeeds, and every database holds one item per process.
func TestOpenRace(t *testing.T) {
	rounds := proc.Rounds(t, 16, 6)
	dir := t.TempDir()
	t0 := time.Now().Add(2 * time.Second)
	var children []*proc.Proc
	for p := range raceProcs {
		children = append(children, proc.Start(t, proc.Spec{
			Test: "TestOpenRaceChild",
			Args: raceArgs{Dir: dir, Name: fmt.Sprint("p", p), T0: t0.UnixNano(), Rounds: rounds},
			Env:  []string{childEnv(t)},
		}))
	}
	for i, p := range children {
		if err := p.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
	for r := range rounds {
		path, key := racePath(dir, r)
		db, err := Open(path, toy, Options{Key: key})
		if err != nil {
			t.Errorf("round %d: reopen: %v", r, err)
			continue
		}
		var owners []string
		err = db.Read(context.Background(), func(q *ReadTx) error {
			st, err := q.Stmt(`SELECT owner FROM items`)
			if err != nil {
				return err
			}
			defer st.Reset()
			for st.Step() {
				owners = append(owners, st.ColumnText(0))
			}
			return st.Err()
		})
		db.Close()
		sort.Strings(owners)
		if err != nil || len(owners) != raceProcs {
			t.Errorf("round %d: items of %s, %v; want one per process", r, strings.Join(owners, ","), err)
		}
	}
}

// TestOpenRaceChild is a child process of TestOpenRace.
func TestOpenRaceChild(t *testing.T) {
	if !proc.InTest(t) {
		t.Skip("helper process of TestOpenRace")
	}
	var a raceArgs
	if err := proc.Args(&a); err != nil {
		t.Fatal(err)
	}
	dir, name := a.Dir, a.Name
	for r := range a.Rounds {
		time.Sleep(time.Until(time.Unix(0, a.T0).Add(time.Duration(r) * raceInterval)))
		path, key := racePath(dir, r)
		db, err := Open(path, toy, Options{Key: key})
		if err != nil {
			t.Errorf("round %d: open: %v", r, err)
			continue
		}
		if err := db.Write(context.Background(), func(tx *Tx) error { _, err := addItem(tx, name); return err }); err != nil {
			t.Errorf("round %d: write: %v", r, err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("round %d: close: %v", r, err)
		}
	}
}

// TestCounterQuotedName: a counter name with a quote is stored as given,
// and a counter without a floor starts at 1.
func TestCounterQuotedName(t *testing.T) {
	k := &Counter{Name: "it's"}
	s := &Schema{AppID: 0x746f7932, Migrations: []string{CountersTable}, Counters: []*Counter{k}}
	path := tempPath(t)
	db, err := Open(path, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for range 3 {
		err := db.Write(context.Background(), func(tx *Tx) error {
			v, err := tx.Next(k)
			got = append(got, v)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("drew %v, want [1 2 3]", got)
	}
	if v := rawInt(t, path, `SELECT value FROM counters WHERE name = 'it''s'`); v != 3 {
		t.Fatalf("stored %d, want 3", v)
	}
}
