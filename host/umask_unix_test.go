//go:build unix

package host_test

import "syscall"

// setUmask sets the process umask and returns the previous one.
func setUmask(mask int) (old int, ok bool) { return syscall.Umask(mask), true }
