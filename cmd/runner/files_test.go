package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestOutputAbort checks that an output abandoned part way (an error or
// Ctrl-C during an export) leaves the destination as it was and no
// temporary file behind, and that commit replaces it whole.
func TestOutputAbort(t *testing.T) {
	for _, name := range []string{"out.jsonl", "out.jsonl.zst"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			a := newApp(nil, io.Discard, io.Discard, os.Getenv)
			o, err := a.createOutput(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.w.Write(bytes.Repeat([]byte("new line\n"), 100000)); err != nil {
				t.Fatal(err)
			}
			o.abort()
			o.abort() // a second abort (the deferred one) is harmless
			if got, _ := os.ReadFile(path); string(got) != "old\n" {
				t.Fatalf("after abort the destination holds %q, want the old content", got)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("after abort the directory holds %d files, want only the destination", len(ents))
			}

			o, err = a.createOutput(path)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Repeat([]byte("new line\n"), 100000)
			if _, err := o.w.Write(want); err != nil {
				t.Fatal(err)
			}
			if err := o.commit(); err != nil {
				t.Fatal(err)
			}
			o.abort() // no-op after commit
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", st.Mode().Perm())
			}
			in, err := a.openInput(path)
			if err != nil {
				t.Fatal(err)
			}
			defer in.close()
			got, err := io.ReadAll(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read back %d bytes, want %d", len(got), len(want))
			}
			if compressed := filepath.Ext(name) == ".zst"; compressed != (st.Size() < int64(len(want))/10) {
				t.Errorf("%s: %d bytes on disk for %d bytes of content", name, st.Size(), len(want))
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("after commit the directory holds %d files, want one", len(ents))
			}
		})
	}
}
