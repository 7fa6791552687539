package host

// Hooks for the black-box tests and benchmarks in package host_test.

// BatchStats returns how many group commits the store's writer has run and
// how many writes they held.
func BatchStats(s *Store) (commits, writes int64) { return s.db.BatchStats() }
