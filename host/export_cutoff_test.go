package host

import (
	"context"

	"github.com/gofastr/store/internal/sqldb"
)

// Hooks for the retention cutoff tests in package host_test.

// DictOldest returns the oldest column of every row of the dicts table:
// the timestamp (Unix nanoseconds) of each stored dictionary's oldest
// sample.
func DictOldest(s *Store) (oldest []int64, err error) {
	err = s.read(context.Background(), func(q *rtx) error {
		st, err := q.stmt(`SELECT oldest FROM dicts ORDER BY id`)
		if err != nil {
			return err
		}
		defer st.Reset()
		for st.Step() {
			oldest = append(oldest, st.ColumnInt64(0))
		}
		return st.Err()
	})
	return oldest, err
}

// StoredCutoff returns the retention cutoff recorded in the store (Unix
// nanoseconds) and whether there is one.
func StoredCutoff(s *Store) (cutoff int64, ok bool, err error) {
	err = s.read(context.Background(), func(q *rtx) error {
		cutoff, ok, err = loadCutoff((*sqldb.ReadTx)(q).Conn())
		return err
	})
	return cutoff, ok, err
}
