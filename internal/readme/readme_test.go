// Package readme_test builds and runs the Go programs in the repository's
// README and docs/LIBRARY.md, so that what a newcomer copies compiles and
// works.
package readme_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

// guestTag begins a README Go block that is a guest: a program built for
// GOOS=wasip1 GOARCH=wasm.
const guestTag = "//go:build wasip1\n"

// TestReadmePrograms writes each Go block of README.md and docs/LIBRARY.md
// (each file on its own) into a module that
// requires this one (replaced by the checkout), builds it and runs it in an
// empty directory with a fresh HOME and state directory. A block that
// begins with guestTag is built for wasip1 as guest.wasm instead, and the
// programs after it find that file in the directory they run in.
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
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		t.Run(doc, func(t *testing.T) { testPrograms(t, goBin, root, doc, sum) })
	}
}

// docs are the Markdown files whose Go blocks are programs.
var docs = []string{"README.md", "docs/LIBRARY.md"}

// testPrograms builds and runs the Go blocks of the Markdown file doc.
func testPrograms(t *testing.T, goBin, root, doc string, sum []byte) {
	md, err := os.ReadFile(filepath.Join(root, doc))
	if err != nil {
		t.Fatal(err)
	}
	// The programs run with a HOME of their own; the go command keeps
	// this machine's module and build caches, so that nothing is
	// downloaded or rebuilt again.
	goEnv, err := exec.Command(goBin, "env", "GOPATH", "GOMODCACHE", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	var cacheEnv []string
	for i, v := range strings.Split(strings.TrimSpace(string(goEnv)), "\n") {
		cacheEnv = append(cacheEnv, []string{"GOPATH=", "GOMODCACHE=", "GOCACHE="}[i]+v)
	}
	blocks := goBlocks(md)
	if len(blocks) == 0 {
		t.Fatalf("%s has no Go blocks", doc)
	}
	var guestWasm string // the last guest built, "" before the first
	for i, src := range blocks {
		guest := bytes.HasPrefix(src, []byte(guestTag))
		if !bytes.HasPrefix(bytes.TrimPrefix(src, []byte(guestTag+"\n")), []byte("package main\n")) {
			t.Errorf("%s Go block %d is not a program (package main): a newcomer cannot run it", doc, i+1)
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
		env = append(env, cacheEnv...)
		out := filepath.Join(dir, "prog")
		benv := env
		if guest {
			out = filepath.Join(dir, "guest.wasm")
			benv = append(benv[:len(benv):len(benv)], "GOOS=wasip1", "GOARCH=wasm")
		}
		build := exec.Command(goBin, "build", "-o", out, ".")
		build.Dir, build.Env = dir, benv
		if out, err := build.CombinedOutput(); err != nil {
			t.Errorf("%s Go block %d does not build: %v\n%s\n%s", doc, i+1, err, out, src)
			continue
		}
		if guest {
			guestWasm = out
			continue
		}
		run := exec.Command(out)
		run.Dir, run.Env = t.TempDir(), env
		if guestWasm != "" {
			wasm, err := os.ReadFile(guestWasm)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(run.Dir, "guest.wasm"), wasm, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := run.CombinedOutput(); err != nil {
			t.Errorf("%s Go block %d fails: %v\n%s", doc, i+1, err, out)
		}
	}
}
