//go:build (!unix && !windows) || aix

package keyring

import "os"

// tryLock fails where this package knows no file locking: without it a
// rekey could replace the database under another process's open store, so
// the keyring refuses to run rather than risk that.
func tryLock(f *os.File, exclusive bool) (bool, error) { return false, errLockUnsupported }
