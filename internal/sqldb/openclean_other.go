//go:build !linux

package sqldb

// lockUnused is only implemented on Linux; elsewhere a failed open leaves
// the -wal and -shm files it created.
func lockUnused(path string) (unlock func(), ok bool) { return nil, false }
