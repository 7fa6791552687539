// Package readme_test builds and runs the Go programs in the repository's
// README, so that what a newcomer copies compiles and works.
package readme_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// goBlocks returns the ```go blocks of a Markdown file.
func goBlocks(md []byte) [][]byte {
	var blocks [][]byte
	for _, m := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(md, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// TestReadmePrograms writes each Go block of README.md into a module that
// requires this one (replaced by the checkout), builds it and runs it in an
// empty directory with a fresh HOME and state directory.
func TestReadmePrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the README's programs: skipped in -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to build the README's programs")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(md)
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go blocks")
	}
	for i, src := range blocks {
		if !bytes.HasPrefix(src, []byte("package main\n")) {
			t.Errorf("README Go block %d is not a program (package main): a newcomer cannot run it", i+1)
			continue
		}
		dir := t.TempDir()
		mod := "module readme\n\ngo 1.26.0\n\nrequire github.com/gofastr/store v0.0.0\n\nreplace github.com/gofastr/store => " + root + "\n"
		for name, b := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "main.go": src} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		home := t.TempDir()
		env := append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		build := exec.Command(goBin, "build", "-o", filepath.Join(dir, "prog"), ".")
		build.Dir, build.Env = dir, env
		if out, err := build.CombinedOutput(); err != nil {
			t.Errorf("README Go block %d does not build: %v\n%s\n%s", i+1, err, out, src)
			continue
		}
		run := exec.Command(filepath.Join(dir, "prog"))
		run.Dir, run.Env = t.TempDir(), env
		if out, err := run.CombinedOutput(); err != nil {
			t.Errorf("README Go block %d fails: %v\n%s", i+1, err, out)
		}
	}
}
