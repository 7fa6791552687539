package host

import (
	"context"
	"time"

	"github.com/gofastr/store/abi"
)

// CopySession copies session sess from src into dst as
// MonthlyRollover.DropMonthsBefore does before it deletes a month: tests
// run it alone to stand for a drop killed between copy and deletion.
func CopySession(ctx context.Context, src, dst *Store, sess abi.SessionID) error {
	return copySession(ctx, src, dst, sess)
}

// CopyReconciliations copies every reconciliation of src into dst as
// MonthlyRollover.DropMonthsBefore does before it deletes a month.
func CopyReconciliations(ctx context.Context, src, dst *Store) error {
	return copyReconciliations(ctx, src, dst)
}

// SetMonthLockWait sets how long a rollover waits for the exclusive store
// lock of a month whose creation was interrupted, until the test ends.
func SetMonthLockWait(tb interface{ Cleanup(func()) }, d time.Duration) {
	old := monthLockWait
	monthLockWait = d
	tb.Cleanup(func() { monthLockWait = old })
}
