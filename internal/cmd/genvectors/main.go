// Command genvectors regenerates the module's frozen test vectors, or
// checks that regenerating them reproduces the committed files byte for
// byte. Run it from anywhere inside the module:
//
//	go run ./internal/cmd/genvectors            # regenerate every reproducible set
//	go run ./internal/cmd/genvectors -check     # regenerate into a temporary directory and compare
//	go run ./internal/cmd/genvectors golden     # regenerate the named sets only
//
// The sets and their generators (each a //go:build ignore program that
// takes -out):
//
//	pagecrypt  internal/pagecrypt/gen_vectors.go      -> internal/pagecrypt/testdata/vectors
//	mask       internal/pagecrypt/gen_mask.go         -> internal/pagecrypt/testdata/mask
//	keyring    keyring/testdata/gen_vectors.go        -> keyring/testdata/vectors
//	golden     sqlitevfs/testdata/gen_golden.go       -> sqlitevfs/testdata/golden.db
//
// Every generator draws its randomness from a fixed seed, except golden:
// the encrypting VFS seals pages under random nonces, so golden.db differs
// on every run. It is regenerated only when named, and -check skips it,
// saying so. A committed vector set is a compatibility promise: a -check
// failure means a generator (or code it calls) drifted, not that the
// files need regenerating.
//
// make vectors regenerates; make test runs -check through this package's
// test.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// generator is one set of vectors and the program that writes it.
type generator struct {
	name         string
	dir          string // the package directory, relative to the module root; the generator runs there
	file         string // the generator, relative to dir
	out          string // the output directory, relative to dir
	exclusive    bool   // out holds only this generator's files
	reproducible bool   // the output is the same on every run
}

var generators = []generator{
	{name: "pagecrypt", dir: "internal/pagecrypt", file: "gen_vectors.go", out: "testdata/vectors", exclusive: true, reproducible: true},
	{name: "mask", dir: "internal/pagecrypt", file: "gen_mask.go", out: "testdata/mask", exclusive: true, reproducible: true},
	{name: "keyring", dir: "keyring", file: "testdata/gen_vectors.go", out: "testdata/vectors", exclusive: true, reproducible: true},
	{name: "golden", dir: "sqlitevfs", file: "testdata/gen_golden.go", out: "testdata"},
}

var (
	// ErrDrift reports regenerated vectors that differ from the committed
	// files.
	ErrDrift = errors.New("regenerated vectors differ from the committed files")
	// ErrUnknownSet reports a set name that no generator writes.
	ErrUnknownSet = errors.New("unknown vector set")
)

func main() {
	check := flag.Bool("check", false, "regenerate into a temporary directory and compare with the committed files")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: genvectors [-check] [set ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	root, err := moduleRoot()
	if err == nil {
		err = run(os.Stdout, root, *check, flag.Args())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genvectors:", err)
		os.Exit(1)
	}
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

// selectSets returns the generators named, or, with no names, every
// reproducible one.
func selectSets(names []string) ([]generator, error) {
	if len(names) == 0 {
		var gs []generator
		for _, g := range generators {
			if g.reproducible {
				gs = append(gs, g)
			}
		}
		return gs, nil
	}
	var gs []generator
	for _, n := range names {
		i := slices.IndexFunc(generators, func(g generator) bool { return g.name == n })
		if i < 0 {
			return nil, fmt.Errorf("%w %q", ErrUnknownSet, n)
		}
		gs = append(gs, generators[i])
	}
	return gs, nil
}

// run regenerates the sets named (all reproducible ones if none) in the
// module at root, or, with check, compares their regeneration with the
// committed files. It reports progress to w.
func run(w io.Writer, root string, check bool, names []string) error {
	gs, err := selectSets(names)
	if err != nil {
		return err
	}
	if check && len(names) == 0 {
		for _, g := range generators {
			if !g.reproducible {
				fmt.Fprintf(w, "%s: skipped: not byte-for-byte reproducible (random nonces); regenerate it by name\n", g.name)
			}
		}
	}
	var drift []string
	for _, g := range gs {
		dir := filepath.Join(root, filepath.FromSlash(g.dir))
		committed := filepath.Join(dir, filepath.FromSlash(g.out))
		if !check {
			if err := generate(dir, g.file, committed); err != nil {
				return fmt.Errorf("%s: %w", g.name, err)
			}
			fmt.Fprintf(w, "%s: regenerated %s\n", g.name, filepath.Join(g.dir, g.out))
			continue
		}
		if !g.reproducible {
			fmt.Fprintf(w, "%s: skipped: not byte-for-byte reproducible (random nonces)\n", g.name)
			continue
		}
		tmp, err := os.MkdirTemp("", "genvectors-"+g.name+"-")
		if err != nil {
			return err
		}
		err = generate(dir, g.file, tmp)
		var diffs []string
		if err == nil {
			diffs, err = compare(tmp, committed, g.exclusive)
		}
		os.RemoveAll(tmp)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		for _, d := range diffs {
			drift = append(drift, g.name+": "+d)
		}
		if len(diffs) == 0 {
			fmt.Fprintf(w, "%s: %s reproduced\n", g.name, filepath.Join(g.dir, g.out))
		}
	}
	if len(drift) > 0 {
		return fmt.Errorf("%w:\n\t%s", ErrDrift, strings.Join(drift, "\n\t"))
	}
	return nil
}

// generate runs the generator file in dir with -out out.
func generate(dir, file, out string) error {
	cmd := exec.Command("go", "run", file, "-out", out)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go run %s: %v: %s", file, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// compare lists how the files generated in gen differ from those in
// committed: a generated file missing or different there, and, if
// exclusive, a committed file the generator no longer writes.
func compare(gen, committed string, exclusive bool) ([]string, error) {
	genFiles, err := files(gen)
	if err != nil {
		return nil, err
	}
	if len(genFiles) == 0 {
		return nil, fmt.Errorf("the generator wrote nothing to %s", gen)
	}
	var diffs []string
	for _, name := range genFiles {
		want, err := os.ReadFile(filepath.Join(committed, name))
		if errors.Is(err, os.ErrNotExist) {
			diffs = append(diffs, name+" is generated but not committed")
			continue
		}
		if err != nil {
			return nil, err
		}
		got, err := os.ReadFile(filepath.Join(gen, name))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got, want) {
			diffs = append(diffs, name+" differs from the committed file")
		}
	}
	if exclusive {
		have, err := files(committed)
		if err != nil {
			return nil, err
		}
		for _, name := range have {
			if !slices.Contains(genFiles, name) {
				diffs = append(diffs, name+" is committed but no longer generated")
			}
		}
	}
	return diffs, nil
}

// files returns the names of the regular files in dir, sorted.
func files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
