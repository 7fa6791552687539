package host

import (
	"context"
)

// Hooks for the dictionary tests in package host_test.

// SetDictTraining lowers the store's training thresholds to the small
// ones of the package's tests, so that a dictionary trains after a few
// hundred appends of SynthLines.
func SetDictTraining(s *Store) {
	s.codec.z.SetTraining(testTrainBytes, testTrainSamples)
}

// WaitDict waits for a training in progress and reports whether the store
// encodes with a dictionary now, and why the last training failed.
func WaitDict(s *Store) (bool, error) {
	err := s.codec.wait()
	return s.codec.z.Current() != 0, err
}

// StoredDicts returns the number of rows in the dicts table.
func StoredDicts(s *Store) (n int64, err error) {
	err = s.read(context.Background(), func(q *rtx) error {
		st, err := q.stmt(`SELECT count(*) FROM dicts`)
		if err != nil {
			return err
		}
		defer st.Reset()
		if st.Step() {
			n = st.ColumnInt64(0)
		}
		return st.Err()
	})
	return n, err
}

// SynthLines returns n synthetic transcript lines (a few hundred bytes of
// similar JSON each) from seed.
func SynthLines(seed uint64, n int) [][]byte { return synthLines(seed, n) }
