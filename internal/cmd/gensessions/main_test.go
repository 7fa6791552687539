package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
)

// committed is testdata/sessions from this package's directory.
var committed = filepath.Join("..", "..", "..", "testdata", "sessions")

// TestCommitted regenerates the sessions and compares them with the
// committed files byte for byte; then imports each committed file into a
// fresh store and checks that its export is the file again.
func TestCommitted(t *testing.T) {
	ctx := context.Background()
	files, err := generate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("%d sessions generated, want at least 3", len(files))
	}
	if err := compare(files, committed); err != nil {
		t.Fatalf("%v\nrun: go run ./internal/cmd/gensessions", err)
	}
	for name, want := range files {
		s, err := host.Open(filepath.Join(t.TempDir(), "s.db"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(committed, name))
		if err != nil {
			t.Fatal(err)
		}
		_, err = jsonl.Import(ctx, s, f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got bytes.Buffer
		if _, err := jsonl.Export(ctx, s, &got, abi.SessionID(name[:len(name)-len(".jsonl")])); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: export after import differs from the file", name)
		}
	}
}

// TestCompareDetectsDrift checks that compare fails on a changed file.
func TestCompareDetectsDrift(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{"a.jsonl": []byte("x\n")}
	if err := write(files, dir); err != nil {
		t.Fatal(err)
	}
	if err := compare(files, dir); err != nil {
		t.Fatal(err)
	}
	files["a.jsonl"] = []byte("y\n")
	if err := compare(files, dir); err == nil {
		t.Fatal("compare accepted a changed file")
	}
}
