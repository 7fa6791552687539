package host

// Hooks for the black-box tests and benchmarks in package host_test.

// BatchStats returns how many group commits the store's writer has run and
// how many writes they held.
func BatchStats(s *Store) (commits, writes int64) {
	return s.w.commits.Load(), s.w.committed.Load()
}

// SidecarsUnused reports whether a failed open could remove the -wal and
// -shm files of the database at path now: no connection has them open.
func SidecarsUnused(path string) bool {
	unlock, ok := lockUnused(path)
	if ok {
		unlock()
	}
	return ok
}
