package sqldb

import (
	"fmt"
	"strings"
)

// CountersTable creates the table that holds the values of a schema's
// counters. A schema with counters creates it in a migration, with this
// text or its equivalent; as part of a migration, it never changes.
const CountersTable = `CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;`

// Counter is a named counter of a schema, drawn with [Tx.Next]: its values
// are strictly increasing across every DB open on the file, in this
// process and others, across crashes, and never handed out twice by one
// DB, even when the write that drew them rolls back.
//
// A transaction that draws from a counter reads its value once, from the
// counters table, and writes the last value it drew back there once,
// right before it commits: one read and one write serve a whole group
// commit. The transaction holds SQLite's write lock from BEGIN IMMEDIATE
// to COMMIT, so no other writer draws or commits in between, and it reads
// the value the last commit left. Writes draw only inside such
// transactions, so they commit in the order of the values they drew: a
// reader's snapshot holds every committed row up to the highest value it
// sees, and a reader that has seen value n never later sees a new row
// below n. Values drawn by writes that roll back are skipped: the DB that
// drew them never hands them out again, and the stored value is only ever
// raised.
type Counter struct {
	// Name is the counter's row in the counters table.
	Name string

	// Floor, if not empty, is a query returning one integer that the
	// counter starts above while the counters table has no row for it,
	// for data written before the counter was (for example
	// "SELECT max(id) FROM events"). Without it the counter starts at 1.
	Floor string
}

// counterSQL holds a counter's two statements. The name is in their text,
// as an SQL string literal, so that a transaction binds nothing to read a
// counter and one value to store it.
type counterSQL struct {
	read, save string
}

func newCounterSQL(k *Counter) counterSQL {
	name := "'" + strings.ReplaceAll(k.Name, "'", "''") + "'"
	floor := "0"
	if k.Floor != "" {
		floor = "(" + k.Floor + "), 0"
	}
	return counterSQL{
		read: fmt.Sprintf(`SELECT coalesce((SELECT value FROM counters WHERE name = %s), %s)`, name, floor),
		save: fmt.Sprintf(`INSERT INTO counters (name, value) VALUES (%s, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name),
	}
}

// Next returns the next value of counter k, which the schema declares
// (see [Counter]). The value is stored when the transaction commits; if
// the write that drew it fails, the value is skipped.
func (t *Tx) Next(k *Counter) (uint64, error) {
	w := t.w
	i := w.counterIndex(k)
	if i < 0 {
		return 0, fmt.Errorf("%w: counter %q is not in the schema", ErrInvalidArgument, k.Name)
	}
	if !t.drawn[i] {
		st, err := w.stmt(w.counterSQL[i].read)
		if err != nil {
			return 0, fmt.Errorf("read counter %s: %w", k.Name, err)
		}
		var stored int64
		if st.Step() {
			stored = st.ColumnInt64(0)
		}
		err = st.Err()
		st.Reset()
		if err != nil {
			return 0, fmt.Errorf("read counter %s: %w", k.Name, err)
		}
		w.last[i] = max(w.last[i], uint64(stored))
		t.drawn[i] = true
	}
	w.last[i]++
	return w.last[i], nil
}

// counterIndex returns the index of k in the schema's counters, or -1.
func (w *writer) counterIndex(k *Counter) int {
	for i, c := range w.schema.Counters {
		if c == k {
			return i
		}
	}
	return -1
}

// saveCounters writes the last value of every counter the transaction drew
// from back to the counters table, so that the next transaction, of any
// writer in any process, and this one after a restart, continues above it.
func (t *Tx) saveCounters() error {
	w := t.w
	for i, drawn := range t.drawn {
		if !drawn {
			continue
		}
		st, err := w.stmt(w.counterSQL[i].save)
		if err != nil {
			return err
		}
		err = st.BindInt64(1, int64(w.last[i]))
		if err == nil {
			err = st.Exec()
		}
		st.Reset()
		if err != nil {
			return fmt.Errorf("save counter %s: %w", w.schema.Counters[i].Name, err)
		}
	}
	return nil
}
