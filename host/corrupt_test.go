package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// TestOpenTruncated cuts a closed plaintext store's database short (to
// half, to one page, by its last page) and opens it: the damage is
// reported as host.ErrCorrupt, at open or at the first read of the lost
// pages, and no file changes.
func TestOpenTruncated(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	s, err := host.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 900)
	for i := range 400 {
		mustAppend(t, s, storeEvent(abi.SessionID(fmt.Sprintf("s%02d", i%40)), i, "user_message", fmt.Sprintf(`{"text":"%d %s"}`, i, pad)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	for _, size := range []int64{fi.Size() / 2 / page * page, page, fi.Size() - page} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s.db")
			storefiles.Copy(t, src, path)
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			before := storefiles.Take(t, dir)
			err := readAll(path)
			if !errors.Is(err, host.ErrCorrupt) {
				t.Fatalf("open and read a store cut to %d of %d bytes: %v, want host.ErrCorrupt", size, fi.Size(), err)
			}
			storefiles.Unchanged(t, dir, before)
		})
	}
}

// readAll opens the plaintext store at path and reads every session's
// events, returning the first error.
func readAll(path string) error {
	s, err := host.Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	past, err := s.ListPastSessions(ctx, 1000)
	if err != nil {
		return err
	}
	for _, p := range past {
		if _, err := s.EventsSince(ctx, p.ID, 0, 10000); err != nil {
			return err
		}
	}
	return nil
}
