package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["smallfs"] = cmdSmallfs
	scriptCmds["fillfs"] = cmdFillfs
	scriptCmds["unfillfs"] = cmdUnfillfs
	// With GOFASTR_REQUIRE_SMALLFS=1 the condition holds everywhere, so
	// that a script that cannot mount fails instead of skipping.
	scriptConds["smallfs"] = func() bool {
		return os.Getenv("GOFASTR_REQUIRE_SMALLFS") == "1" || runtime.GOOS == "linux" && os.Geteuid() == 0
	}
}

// cmdSmallfs mounts a tmpfs of SIZE (a mount option value: 4m) on the new
// directory DIR, unmounted when the script ends. It needs root on Linux:
// scripts check the condition [smallfs] first and skip without it.
//
//	smallfs DIR SIZE
func cmdSmallfs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: smallfs DIR SIZE")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+args[1]+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		ts.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	ts.Defer(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			ts.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// cmdFillfs fills the filesystem of DIR with the file DIR/ballast:
//
//	fillfs DIR
func cmdFillfs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fillfs DIR")
	}
	f, err := os.OpenFile(filepath.Join(ts.MkAbs(args[0]), "ballast"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	ts.Check(err)
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errorsIsENOSPC(err) {
				ts.Fatalf("fillfs: %v", err)
			}
			break
		}
	}
	// Bytes the last partial write could not take: fill them too.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
}

// cmdUnfillfs removes the ballast of fillfs:
//
//	unfillfs DIR
func cmdUnfillfs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: unfillfs DIR")
	}
	ts.Check(os.Remove(filepath.Join(ts.MkAbs(args[0]), "ballast")))
}

func errorsIsENOSPC(err error) bool { return errors.Is(err, syscall.ENOSPC) }
