//go:build linux

package smallfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// EnvRequire is the environment variable that, set to 1, turns Mount's
// skips into failures: make diskfull sets it, and make test does when it
// runs as root, so that a run that could not mount proves nothing green.
const EnvRequire = "GOFASTR_REQUIRE_SMALLFS"

// Required reports whether EnvRequire is set to 1.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Mount mounts a tmpfs of size (a mount option value: "2m", "512k") on a
// new temporary directory, unmounted when the test ends, and returns the
// directory. It skips the test, with the reason, where that is not
// possible: not Linux, not root, no mount command; with EnvRequire=1 it
// fails the test instead.
func Mount(tb testing.TB, size string) string {
	tb.Helper()
	skip := tb.Skipf
	if Required() {
		skip = func(format string, args ...any) {
			tb.Helper()
			tb.Fatalf(EnvRequire+"=1, and the test cannot run: "+strings.TrimPrefix(format, "skipping: "), args...)
		}
	}
	if runtime.GOOS != "linux" {
		skip("skipping: mounting a small tmpfs needs Linux (GOOS=%s)", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		skip("skipping: mounting a small tmpfs needs root")
	}
	dir := tb.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		skip("skipping: mount tmpfs: %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Free returns the bytes available in the filesystem of dir.
func Free(tb testing.TB, dir string) int64 {
	tb.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		tb.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// BallastName is the name of the file Fill writes in its directory.
const BallastName = "ballast"

// Fill writes the ballast file dir/BallastName so that slack bytes stay
// free (rounded down to the filesystem's block), replacing an earlier
// ballast, and returns its path. A slack of 0 fills the filesystem.
func Fill(tb testing.TB, dir string, slack int64) string {
	tb.Helper()
	p := filepath.Join(dir, BallastName)
	Empty(tb, dir)
	n := Free(tb, dir) - slack
	if n <= 0 {
		return p
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(int64(len(buf)), n)
		if _, err := f.Write(buf[:k]); err != nil {
			if slack == 0 {
				return p // full: what was asked
			}
			tb.Fatalf("fill %s: %v", dir, err)
		}
		n -= k
	}
	return p
}

// Empty removes the ballast of dir, freeing its space.
func Empty(tb testing.TB, dir string) {
	tb.Helper()
	if err := os.Remove(filepath.Join(dir, BallastName)); err != nil && !os.IsNotExist(err) {
		tb.Fatal(fmt.Errorf("remove ballast: %w", err))
	}
}
