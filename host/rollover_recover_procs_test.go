package host_test

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

var _ = proc.Role("rollover-hold-month", rolloverHoldMonthChild)

// rolloverHoldMonthChild opens the store at its argument, prints "open"
// and keeps it open until killed.
func rolloverHoldMonthChild() int {
	var path string
	if err := proc.Args(&path); err != nil {
		proc.Fail("%v", err)
	}
	proc.ExitWithParent(time.Minute)
	s, err := host.Open(path)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	defer s.Close()
	os.Stdout.WriteString("open\n")
	select {}
}

// TestRolloverRecoverWhileOpenProcesses is TestRolloverRecoverWhileOpen
// with the month held open by another OS process.
func TestRolloverRecoverWhileOpenProcesses(t *testing.T) {
	proc.Skip(t)
	host.SetMonthLockWait(t, 100*time.Millisecond)
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions-202612.db")
	interruptedMonth(t, path)
	p := proc.Start(t, proc.Spec{Role: "rollover-hold-month", Args: path, Env: childEnv(childCacheDir(t))})
	if line, err := bufio.NewReader(p.Stdout()).ReadString('\n'); line != "open\n" {
		t.Fatalf("child: %q, %v; stderr: %s", line, err, p.Stderr())
	}
	cfg := host.NewConfig().WithClock(func() time.Time { return utc(2026, 12, 1, 1, 0) })
	if _, err := host.NewMonthlyRolloverWithConfig(dir, cfg); !errors.Is(err, host.ErrBusy) {
		t.Fatalf("recovering a month another process has open: err = %v, want ErrBusy", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the open month was deleted: %v", err)
	}
	p.Kill()
	p.Wait()
	m := newRollover(t, dir, cfg)
	if _, err := os.Stat(path + ".creating"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker left after recovery: %v", err)
	}
	rollAppend(t, m, "s", 0, `"x"`)
}
