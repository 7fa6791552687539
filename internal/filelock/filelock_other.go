//go:build (!unix && !windows) || aix

package filelock

import "os"

// TryLock fails with ErrUnsupported where this package knows no file
// locking: callers refuse to run rather than run without exclusion (a
// rekey could otherwise replace the database under another process's
// open store).
func TryLock(f *os.File, exclusive bool) (bool, error) { return false, ErrUnsupported }
