package diskfull_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/gofastr/store/internal/diskfull"
)

func TestWrap(t *testing.T) {
	if diskfull.Wrap(nil) != nil {
		t.Error("Wrap(nil) != nil")
	}
	other := &fs.PathError{Op: "write", Path: "x", Err: syscall.EIO}
	if got := diskfull.Wrap(other); got != error(other) {
		t.Errorf("Wrap(EIO) = %v, want it unchanged", got)
	}
	full := &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	got := diskfull.Wrap(full)
	if !errors.Is(got, diskfull.ErrDiskFull) || !errors.Is(got, syscall.ENOSPC) {
		t.Errorf("Wrap(ENOSPC) = %v, want ErrDiskFull and ENOSPC", got)
	}
	if !strings.Contains(got.Error(), "disk full") {
		t.Errorf("message %q does not say the disk is full", got)
	}
	// Typed once: wrapping again, or a wrapped typed error, is unchanged.
	if again := diskfull.Wrap(got); again != got {
		t.Errorf("Wrap twice = %v", again)
	}
	outer := fmt.Errorf("context: %w", got)
	if again := diskfull.Wrap(outer); again != outer {
		t.Errorf("Wrap of a wrapped typed error = %v", again)
	}
	if !diskfull.Is(full) || diskfull.Is(other) || diskfull.Is(nil) {
		t.Error("Is misclassifies")
	}
}
