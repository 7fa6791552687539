//go:build unix

package diskfull

import (
	"errors"
	"syscall"
)

// isOther reports the other ways the system says a write found no room:
// a disk quota (EDQUOT), full for this user.
func isOther(err error) bool { return errors.Is(err, syscall.EDQUOT) }
