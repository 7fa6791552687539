// Package smallfs mounts small tmpfs filesystems for disk-full tests and
// fills them with ballast files, so that a write runs out of space at a
// chosen point. Mounting needs root (CI runs as root); elsewhere the test
// skips, saying why. Only this module's tests use it.
//
// Its functions exist on Linux only.
package smallfs
