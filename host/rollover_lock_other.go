//go:build (!unix && !windows) || aix

package host

import (
	"errors"
	"os"
)

// tryLockDir fails where this package knows no file locking: without it
// two processes could create different month files at once and hand out
// overlapping IDs, so a MonthlyRollover refuses to run.
func tryLockDir(*os.File) (bool, error) {
	return false, errors.New("host: file locking is not supported on this platform")
}
