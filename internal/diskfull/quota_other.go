//go:build !unix && !windows

package diskfull

// isOther reports other ways the system says a write found no room; none
// are known on this platform.
func isOther(err error) bool { return false }
