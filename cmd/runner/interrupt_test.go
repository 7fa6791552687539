//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/jsonl"
)

// TestImportInterrupted interrupts "runner import" (SIGINT, as Ctrl-C
// does) while it writes a large file: it exits 130 saying the store is
// consistent, the store then verifies, and it holds a prefix of the
// file's records, each whole; run again, it completes the import.
func TestImportInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the interrupted import of a large file")
	}
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.jsonl")
	writeBigJSONL(t, big, 20, 2000)
	db := filepath.Join(dir, "s.db")
	env := append(os.Environ(), "HOME="+dir, "GOFASTR_CACHE_DIR="+cacheDir, "GOFASTR_KEK=")
	runner := func(args ...string) *exec.Cmd {
		cmd := exec.Command("runner", append([]string{"--db", db}, args...)...)
		cmd.Env = env
		return cmd
	}

	cmd := runner("import", "--plaintext", big)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the store is being written.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, err := os.Stat(db + "-wal"); err == nil && st.Size() > 1<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the import wrote nothing in 60 s\n%s", stderr.Bytes())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("interrupted import: %v, want exit status %d\n%s", err, exitInterrupted, stderr.Bytes())
	}
	if !strings.Contains(stderr.String(), "interrupted; the store is consistent") {
		t.Errorf("stderr does not say the store is consistent:\n%s", stderr.Bytes())
	}

	if out, err := runner("verify").CombinedOutput(); err != nil {
		t.Fatalf("verify after the interrupted import: %v\n%s", err, out)
	}
	part := filepath.Join(dir, "part.jsonl")
	if out, err := runner("export", "-o", part).CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	want, got := readLines(t, big), readLines(t, part)
	if len(got) <= 1 || len(got) >= len(want) {
		t.Fatalf("the interrupted import left %d of %d lines", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("line %d of the store's export differs from the input:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
	t.Logf("interrupted after %d of %d records", len(got)-1, len(want)-1)

	// Run again, the import completes: the store then holds the input
	// once.
	out, err := runner("import", big).CombinedOutput()
	if err != nil {
		t.Fatalf("import again: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("%d already in the store (skipped)", len(got)-1); !strings.Contains(string(out), want) {
		t.Errorf("import again says\n%s\nwant it to say %s", out, want)
	}
	all := filepath.Join(dir, "all.jsonl")
	if out, err := runner("export", "-o", all).CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if got := readLines(t, all); !slices.Equal(got, want) {
		t.Fatalf("after the second import the store's export has %d lines, not the input's %d", len(got), len(want))
	}
}

// writeBigJSONL writes sessions×events events in the interchange form,
// as Export would write them (sessions sorted, IDs from 1).
func writeBigJSONL(t *testing.T, path string, sessions, events int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := jsonl.NewWriter(f)
	ts := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	id := uint64(0)
	for s := range sessions {
		for e := range events {
			id++
			ev := abi.EventEnvelope{
				ID: id, Session: abi.SessionID(fmt.Sprintf("sess-%03d", s)), Turn: e / 10,
				Kind: abi.KindAssistantMessage, TS: ts.Add(time.Duration(id) * time.Millisecond),
				Payload: []byte(fmt.Sprintf(`{"text":"message %d of session %d"}`, e, s)),
			}
			if err := w.Write(jsonl.Record{Type: jsonl.TypeEvent, Event: &ev}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
