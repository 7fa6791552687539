package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck regenerates every reproducible vector set into a temporary
// directory and requires the committed files back, byte for byte: a
// generator, or code it relies on, that drifts fails here.
func TestCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs every generator (about 10 s); the run without -short checks them")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("skipping: the go command is not on PATH: %v", err)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = run(&out, root, true, nil)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range generators {
		if g.reproducible && !strings.Contains(out.String(), g.name+": ") {
			t.Errorf("set %s was not checked", g.name)
		}
	}
}

// TestCompare: a changed, a missing and an extra file are each reported.
func TestCompare(t *testing.T) {
	gen, committed := t.TempDir(), t.TempDir()
	write := func(dir, name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(gen, "same", "x")
	write(committed, "same", "x")
	if d, err := compare(gen, committed, true); err != nil || len(d) != 0 {
		t.Fatalf("identical sets: %q, %v", d, err)
	}
	write(gen, "changed", "new")
	write(committed, "changed", "old")
	write(gen, "new", "")
	write(committed, "gone", "")
	d, err := compare(gen, committed, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 3 {
		t.Fatalf("diffs %q, want changed, new and gone", d)
	}
	if d, _ := compare(gen, committed, false); len(d) != 2 {
		t.Fatalf("non-exclusive diffs %q, want changed and new", d)
	}
}

func TestUnknownSet(t *testing.T) {
	if err := run(nil, t.TempDir(), true, []string{"nope"}); !errors.Is(err, ErrUnknownSet) {
		t.Fatalf("run(nope) = %v, want ErrUnknownSet", err)
	}
}
