// Package storefiles copies, snapshots and scans the files of a store in
// tests: the database and the files SQLite and the keyring keep beside it.
// Only this module's tests use it.
//
// A store at path is path itself and path-wal, path-shm, path-journal and
// path.dek. Lock files (path.lock, path.dek.lock) hold no data: any
// operation may create them, so they are never copied and their creation
// is not a change.
package storefiles

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Suffixes are the files of a store, appended to its path.
var Suffixes = []string{"", "-wal", "-shm", "-journal", ".dek"}

// Durable are the Suffixes that Copy copies: all but -shm, the WAL index,
// which SQLite rebuilds from the WAL and which a copy taken beside a
// running writer could hold stale.
var Durable = []string{"", "-wal", "-journal", ".dek"}

// IsLock reports whether name is a lock file.
func IsLock(name string) bool { return strings.HasSuffix(name, ".lock") }

// Copy copies the Durable files of the store at src that exist to the
// store path dst, creating dst's directory, and removes every file of dst
// that src lacks (including dst-shm).
func Copy(tb testing.TB, src, dst string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		tb.Fatal(err)
	}
	Remove(tb, dst)
	for _, suf := range Durable {
		b, err := os.ReadFile(src + suf)
		if errors.Is(err, fs.ErrNotExist) {
			if suf == "" {
				tb.Fatalf("copy store: %s does not exist", src)
			}
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(dst+suf, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// Remove removes every file of the store at path that exists.
func Remove(tb testing.TB, path string) {
	tb.Helper()
	for _, suf := range Suffixes {
		if err := os.Remove(path + suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
			tb.Fatal(err)
		}
	}
}

// Digest returns the hex SHA-256 of the file at path, or "absent".
func Digest(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "absent"
	}
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Snapshot is the state of a directory's files: name to mode and SHA-256.
type Snapshot map[string]string

// Take records every file in dir but lock files.
func Take(tb testing.TB, dir string) Snapshot {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	s := make(Snapshot)
	for _, e := range ents {
		if IsLock(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			tb.Fatal(err)
		}
		s[e.Name()] = fmt.Sprintf("%v sha256:%s", fi.Mode(), Digest(tb, filepath.Join(dir, e.Name())))
	}
	return s
}

// Diff lists how after differs from s: files changed, removed or created.
func (s Snapshot) Diff(after Snapshot) []string {
	var d []string
	for name, b := range s {
		switch a, ok := after[name]; {
		case !ok:
			d = append(d, name+" was removed")
		case a != b:
			d = append(d, fmt.Sprintf("%s changed: %s, was %s", name, a, b))
		}
	}
	for name := range after {
		if _, ok := s[name]; !ok {
			d = append(d, name+" was created")
		}
	}
	slices.Sort(d)
	return d
}

// Unchanged fails tb, listing the differences, if dir's files (lock files
// aside) differ from before.
func Unchanged(tb testing.TB, dir string, before Snapshot) {
	tb.Helper()
	for _, d := range before.Diff(Take(tb, dir)) {
		tb.Error(d)
	}
}

// NewMarker returns a unique ASCII marker to plant in plaintext and look
// for in files.
func NewMarker() []byte {
	var b [12]byte
	rand.Read(b[:])
	return []byte("gofastr-marker-" + hex.EncodeToString(b[:]))
}

// Forms returns the encodings of marker a scan looks for: raw, reversed
// and in hex.
func Forms(marker []byte) map[string][]byte {
	rev := slices.Clone(marker)
	slices.Reverse(rev)
	h := hex.EncodeToString(marker)
	return map[string][]byte{
		"raw":         marker,
		"reversed":    rev,
		"hex":         []byte(h),
		"HEX":         []byte(strings.ToUpper(h)),
		"reversedhex": []byte(hex.EncodeToString(rev)),
	}
}

// scanBytes returns the forms found in b, prefixed by name.
func scanBytes(name string, b []byte, forms map[string][]byte) []string {
	var hits []string
	for form, m := range forms {
		if n := bytes.Count(b, m); n > 0 {
			hits = append(hits, fmt.Sprintf("%s: %d× %s", name, n, form))
		}
	}
	slices.Sort(hits)
	return hits
}

// Count returns how many times marker occurs, raw, in each file of the
// store at path that exists, by base name.
func Count(tb testing.TB, path string, marker []byte) map[string]int {
	tb.Helper()
	counts := make(map[string]int)
	for _, suf := range Suffixes {
		data, err := os.ReadFile(path + suf)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			tb.Fatalf("read %s: %v", path+suf, err)
		}
		counts[filepath.Base(path+suf)] = bytes.Count(data, marker)
	}
	return counts
}

// Total sums the counts of Count.
func Total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// Scan looks for the Forms of marker in every regular file under dirs,
// and, on Linux, in every file this process has open under dirs (SQLite
// unlinks its temporary files right after creating them). It returns the
// hits and the names of the files scanned.
func Scan(tb testing.TB, marker []byte, dirs ...string) (hits, scanned []string) {
	tb.Helper()
	forms := Forms(marker)
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted since listed
			}
			if err != nil {
				return err
			}
			scanned = append(scanned, path)
			hits = append(hits, scanBytes(path, b, forms)...)
			return nil
		})
		if err != nil {
			tb.Fatalf("scan %s: %v", dir, err)
		}
	}
	h, s := scanOpenFiles(forms, dirs)
	return append(hits, h...), append(scanned, s...)
}

// scanOpenFiles scans the files this process has open under dirs through
// /proc/self/fd, which reaches unlinked temporary files too. It does
// nothing where /proc is unavailable.
func scanOpenFiles(forms map[string][]byte, dirs []string) (hits, scanned []string) {
	if runtime.GOOS != "linux" {
		return nil, nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, nil
	}
	for _, e := range ents {
		fd := filepath.Join("/proc/self/fd", e.Name())
		target, err := os.Readlink(fd)
		if err != nil {
			continue
		}
		under := false
		for _, dir := range dirs {
			if strings.HasPrefix(target, dir+string(filepath.Separator)) {
				under = true
			}
		}
		if !under {
			continue
		}
		f, err := os.Open(fd)
		if err != nil {
			continue
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			continue // a directory or a file closed meanwhile
		}
		name := "open fd " + target
		scanned = append(scanned, name)
		hits = append(hits, scanBytes(name, b, forms)...)
	}
	return hits, scanned
}
