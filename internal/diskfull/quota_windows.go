package diskfull

import (
	"errors"
	"syscall"
)

// Windows' codes for a full disk.
const (
	errorHandleDiskFull syscall.Errno = 39  // ERROR_HANDLE_DISK_FULL
	errorDiskFull       syscall.Errno = 112 // ERROR_DISK_FULL
)

// isOther reports Windows' own codes for a full disk.
func isOther(err error) bool {
	return errors.Is(err, errorDiskFull) || errors.Is(err, errorHandleDiskFull)
}
