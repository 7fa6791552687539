package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// demoGuestNames are the example guests the demo runs, by directory under
// guest/examples.
var demoGuestNames = []string{"replay", "costaudit", "agentloop"}

// errNoGoTool is returned when the go command needed to build the guests
// is not on PATH.
var errNoGoTool = errors.New("no go command on PATH to build the example guests")

// guestCacheDir returns where built guests are kept between demo runs:
// demo-guests under $GOFASTR_CACHE_DIR, else under gofastr in the user's
// cache directory; "" when caching is off or there is no cache directory.
func (a *app) guestCacheDir() string {
	if d := a.getenv("GOFASTR_CACHE_DIR"); d != "" {
		if d == "off" {
			return ""
		}
		return filepath.Join(d, "demo-guests")
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "gofastr", "demo-guests")
}

// buildDemoGuests builds the example guests of the source tree at root for
// wasip1 and returns their modules by name. A build is kept in cacheDir
// under a digest of the go version and every file of the packages the
// guests are made of, so a rerun with nothing changed builds nothing.
// With cacheDir "", the modules are built in scratch, a directory the
// caller removes. cached reports whether every module came from the cache.
func buildDemoGuests(ctx context.Context, root, cacheDir, scratch string) (mods map[string][]byte, cached bool, err error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, false, errNoGoTool
	}
	env := append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	pkgs := make([]string, len(demoGuestNames))
	for i, g := range demoGuestNames {
		pkgs[i] = "./guest/examples/" + g
	}
	digest, err := guestDigest(ctx, goCmd, root, env, pkgs)
	if err != nil {
		return nil, false, err
	}
	dir := scratch
	if cacheDir != "" {
		dir = filepath.Join(cacheDir, digest[:24])
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	mods = map[string][]byte{}
	cached = true
	for i, g := range demoGuestNames {
		out := filepath.Join(dir, g+".wasm")
		if b, err := os.ReadFile(out); err == nil && len(b) > 0 {
			mods[g] = b
			continue
		}
		cached = false
		tmp := out + ".tmp"
		cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-o", tmp, pkgs[i])
		cmd.Dir = root
		cmd.Env = env
		if msg, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			return nil, false, fmt.Errorf("go build %s: %v\n%s", pkgs[i], err, bytes.TrimSpace(msg))
		}
		if err := os.Rename(tmp, out); err != nil {
			return nil, false, err
		}
		if mods[g], err = os.ReadFile(out); err != nil {
			return nil, false, err
		}
	}
	return mods, cached, nil
}

// guestDigest hashes the go version and the files of every package of the
// module that pkgs depend on (for wasip1), with go.mod and go.sum.
func guestDigest(ctx context.Context, goCmd, root string, env, pkgs []string) (string, error) {
	h := sha256.New()
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOVERSION")
	cmd.Env = env
	v, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	fmt.Fprintf(h, "go %s\n", bytes.TrimSpace(v))
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}"}, pkgs...)
	cmd = exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = root
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list the guests' packages: %v\n%s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	dirs := strings.Fields(string(out))
	slices.Sort(dirs)
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, d := range slices.Compact(dirs) {
		ents, err := os.ReadDir(d)
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), "_test.go") {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n", f)
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
