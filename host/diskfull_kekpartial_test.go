//go:build linux

package host_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
)

// longNameKEK is a KEK source whose name makes its header span two
// filesystem blocks where the old header took one: replacing a header then
// needs one more block than the old one frees, so a nearly full disk can
// take some of a rollover's new headers and not the rest.
type longNameKEK struct{ keyring.KEKSource }

func (l longNameKEK) Name() string { return "file:/" + strings.Repeat("k", 5000) }

// TestDiskFullRolloverRotateKEKPartial rotates the KEK of a rollover of
// three encrypted months with the free space stepped up from nothing by
// one 4 KiB block. Every failure is the typed disk-full error; at some
// slack the disk takes the first new header and not the next (the test
// fails if the rotation succeeds, or fails at every slack, without ever
// stopping part way), and then: the error
// says how many months were rotated and to call RotateKEK again; the
// rollover keeps appending; a rollover opened under the old source fails
// with keyring.ErrWrongKEK naming a rotated month and saying to finish
// the rotation; the retry on the same
// handle, with space, skips the rotated months and finishes, after which
// the new KEK opens every month with every event.
func TestDiskFullRolloverRotateKEKPartial(t *testing.T) {
	dir := smallfs.Mount(t, "4m")
	oldKEK, newKEK, marker := randomKey(t), randomKey(t), storefiles.NewMarker()
	tmpl, evs := rolloverTemplate(t, oldKEK, marker, 8)
	newSrc := longNameKEK{keyring.RawKEK(newKEK)}
	ctx := context.Background()
	partial := false
	for slack := int64(0); slack <= 64<<10; slack += 4 << 10 {
		copyDir(t, tmpl, dir)
		var clk rolloverClock
		clk.set(rolloverMonths[2])
		oldCfg := host.NewConfig().WithKEKSource(keyring.RawKEK(oldKEK)).WithClock(clk.now)
		m, err := host.NewMonthlyRolloverWithConfig(dir, oldCfg)
		if err != nil {
			t.Fatal(err)
		}
		fill(t, dir, slack)
		err = m.RotateKEK(newSrc)
		unfill(t, dir)
		files, _ := filepath.Glob(filepath.Join(dir, "sessions-*.db"))
		var rotated []string
		for _, f := range files {
			if _, _, lerr := keyring.LoadDEK(f, keyring.RawKEK(oldKEK)); lerr != nil {
				if _, _, nerr := keyring.LoadDEK(f, keyring.RawKEK(newKEK)); nerr != nil {
					t.Fatalf("slack %d KiB: %s opens under neither KEK: %v; %v", slack>>10, f, lerr, nerr)
				}
				rotated = append(rotated, f)
			}
		}
		t.Logf("slack %d KiB: %d of %d months rotated; %v", slack>>10, len(rotated), len(files), err)
		if err == nil {
			m.Close()
			if !partial {
				t.Fatalf("the rotation succeeded at %d KiB of slack without ever stopping part way", slack>>10)
			}
			return
		}
		wantHostDiskFull(t, "MonthlyRollover.RotateKEK", err)
		if l := strayFiles(t, dir); len(l) > 0 {
			t.Fatalf("slack %d KiB: left behind %v", slack>>10, l)
		}
		if len(rotated) == 0 {
			m.Close()
			continue
		}
		partial = true
		if !strings.Contains(err.Error(), "months now under the new KEK") || !strings.Contains(err.Error(), "call RotateKEK again") {
			t.Errorf("partial failure: %q does not say how many months were rotated and how to finish", err)
		}
		// The rollover keeps appending (its current month is the last
		// to be rotated).
		id, err := m.Append(ctx, storeEvent("s1", 0, "user_message", `{"text":"between"}`))
		if err != nil {
			t.Fatalf("append after the partial rotation: %v", err)
		}
		evs[id] = `{"text":"between"}`
		// Under the old source alone the rotated months do not open:
		// a typed error naming one of them.
		m2, err := host.NewMonthlyRolloverWithConfig(dir, oldCfg)
		if err == nil {
			_, err = m2.EventsSince(ctx, "s1", 0, 0)
			m2.Close()
		}
		if !errors.Is(err, keyring.ErrWrongKEK) {
			t.Fatalf("reading under the old source after a partial rotation: %v; want keyring.ErrWrongKEK", err)
		}
		t.Logf("under the old source: %v", err)
		named := false
		for _, f := range rotated {
			named = named || strings.Contains(err.Error(), filepath.Base(f))
		}
		if !strings.Contains(err.Error(), "finish it") {
			t.Errorf("the error %q does not say to finish the rotation", err)
		}
		if !named {
			t.Errorf("the error %q names none of the rotated months %v", err, rotated)
		}
		// The retry, with space, on the same handle finishes.
		if err := m.RotateKEK(newSrc); err != nil {
			t.Fatalf("retry after freeing space: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if _, _, err := keyring.LoadDEK(f, keyring.RawKEK(newKEK)); err != nil {
				t.Errorf("%s under the new KEK after the retry: %v", f, err)
			}
		}
		checkRollover(t, dir, newKEK, rolloverMonths[2], evs, marker)
		return
	}
	t.Fatal("the rotation failed at every slack up to 64 KiB")
}
