package keyring

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gofastr/store/internal/diskfull"
)

// tempInfix names temporary files next to their target:
// "<target>.tmp-<random>". Readers never open them, so a temporary file
// left behind by a crash is harmless; it is removed by a later write once
// it is older than staleTempAge.
const (
	tempInfix    = ".tmp-"
	staleTempAge = 10 * time.Minute
)

// writeFileAtomic replaces path with data so that, after a crash at any
// point, path holds either its old or its new contents in full: the data is
// written to a temporary file in the same directory (created with mode
// 0600, then set to perm), fsynced, renamed over path, and the directory is
// fsynced. It is the building block for KEK rotation, import and rekey.
//
// A failure for lack of space is typed: the error matches ErrDiskFull
// (and syscall.ENOSPC), path is unchanged and the temporary file removed.
//
// If it returns an error after the rename, path may already hold the new
// contents; callers must treat both states as possible (RotateKEK documents
// this for its callers).
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, true)
}

// writeFileNew is writeFileAtomic for a path that must not exist yet: it
// fails with an error wrapping fs.ErrExist, leaving path untouched, if path
// exists. It links the temporary file to path, which is atomic and
// exclusive; on file systems without hard links it falls back to checking
// for path and renaming, which is not exclusive against a concurrent writer.
func writeFileNew(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, false)
}

func writeFile(path string, data []byte, perm fs.FileMode, replace bool) (err error) {
	defer func() { err = diskfull.Wrap(err) }()
	dir, base := filepath.Dir(path), filepath.Base(path)
	f, err := os.CreateTemp(dir, base+tempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = linkNew(tmp, path)
	}
	if err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	removeStaleTemps(path)
	return nil
}

func linkNew(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		os.Remove(tmp) // path keeps the data; a failure only leaves a stray temp
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	// No hard links here (FAT, some network file systems): best effort.
	if _, serr := os.Lstat(path); serr == nil {
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	return os.Rename(tmp, path)
}

// syncDir makes a rename in dir durable. Windows cannot open directories
// for fsync (NTFS journals the rename itself), and some file systems do not
// support it; both are treated as success.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}

// removeStaleTemps removes temporary files of path older than staleTempAge
// (fresh ones may belong to a concurrent writer). Failures are ignored:
// a leftover temporary file is never read.
func removeStaleTemps(path string) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base+tempInfix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTempAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
