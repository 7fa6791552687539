package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// scanResult is what a plaintext scan of a directory found.
type scanResult struct {
	// Files are the files scanned, by base name, and Bytes their total
	// size.
	Files []string `json:"files"`
	Bytes int64    `json:"bytes"`
	// Needles is the number of strings looked for.
	Needles int `json:"needles"`
	// Hits names each file and string found ("sessions.db: marker"); empty
	// when nothing was found.
	Hits []string `json:"hits"`
}

// scanDir reads every regular file directly in dir and reports which
// contain any of needles (name → bytes), raw or as hex.
func scanDir(dir string, needles map[string][]byte) (scanResult, error) {
	res := scanResult{Needles: len(needles), Hits: []string{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return res, err
	}
	names := make([]string, 0, len(needles))
	for n := range needles {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if os.IsNotExist(err) {
			continue // removed while scanning (a WAL at close)
		}
		if err != nil {
			return res, err
		}
		res.Files = append(res.Files, e.Name())
		res.Bytes += int64(len(b))
		for _, n := range names {
			nd := needles[n]
			if bytes.Contains(b, nd) || bytes.Contains(b, []byte(hex.EncodeToString(nd))) {
				res.Hits = append(res.Hits, fmt.Sprintf("%s: %s", e.Name(), n))
			}
		}
	}
	return res, nil
}

// String is the result in one line.
func (r scanResult) String() string {
	if len(r.Hits) == 0 {
		return fmt.Sprintf("none of %d strings in %d files (%s): %s", r.Needles, len(r.Files), fmtBytes(r.Bytes), strings.Join(r.Files, ", "))
	}
	return fmt.Sprintf("FOUND in %d of %d files: %s", len(r.Hits), len(r.Files), strings.Join(r.Hits, "; "))
}

// fmtBytes formats a size in KiB or MiB.
func fmtBytes(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)/1024)
}
