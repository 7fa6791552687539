//go:build !(linux || darwin)

package sqlitevfs

// freeSpace is not read on this platform: go-sqlite3 grows the WAL index
// here without reserving space, so extending it does not fail for lack
// of space.
func freeSpace(dir string) (int64, bool) { return 0, false }
