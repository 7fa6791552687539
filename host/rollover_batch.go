package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofastr/store/abi"
)

// WriteBatches writes batches to the current month in one transaction,
// all or none (see [Store.WriteBatches]), and returns how many it wrote.
// A batch whose key any month file holds is skipped: the keys are looked
// up in every older month first, then in the current month inside the
// write transaction. Only the current month takes writes (older months are
// sealed), so a key is written at most once across the directory. If
// another process sealed the month meanwhile, the call runs again on the
// month that took over, looking the keys up in the month just sealed too.
//
// A key lives in the month file its batch was written to: once
// [MonthlyRollover.DropMonthsBefore] deletes that month, its keys are
// gone, and the batch would be written again (to the current month).
// The index in a [*BatchError] is the batch's index in this call.
func (m *MonthlyRollover) WriteBatches(ctx context.Context, batches ...abi.Batch) (int, error) {
	return withCurrent(m, func(s *Store) (int, error) {
		keep, err := m.unwrittenElsewhere(ctx, s, batches)
		if err != nil {
			return 0, fmt.Errorf("write batches: %w", err)
		}
		rest := make([]abi.Batch, len(keep))
		for i, j := range keep {
			rest[i] = batches[j]
		}
		n, err := s.WriteBatches(ctx, rest...)
		if be, ok := errors.AsType[*BatchError](err); ok && be.Batch < len(keep) {
			// Named by its index in this call, message included.
			e := *be
			e.Batch = keep[be.Batch]
			return 0, fmt.Errorf("write batches: %w", &e)
		}
		return n, err
	})
}

// CheckBatches checks batches against the current month as
// [Store.CheckBatches] does, and writes nothing.
func (m *MonthlyRollover) CheckBatches(batches ...abi.Batch) error {
	_, err := withCurrent(m, func(s *Store) (struct{}, error) {
		return struct{}{}, s.CheckBatches(batches...)
	})
	return err
}

// unwrittenElsewhere returns the indexes of the batches whose key no
// month file other than cur holds: those with an empty key and those
// whose key is in no other month.
func (m *MonthlyRollover) unwrittenElsewhere(ctx context.Context, cur *Store, batches []abi.Batch) ([]int, error) {
	keys := make([]string, len(batches))
	keyed := false
	for i, b := range batches {
		// A key too long is refused by Store.WriteBatches, which names it.
		if len(b.Key) <= abi.MaxBatchKey {
			keys[i] = b.Key
			keyed = keyed || b.Key != ""
		}
	}
	written := make([]bool, len(batches))
	if keyed {
		stores, err := m.all()
		if err != nil {
			return nil, err
		}
		for _, ms := range stores {
			if ms.path == cur.path {
				continue
			}
			found, err := ms.hasBatchKeys(ctx, keys)
			if ms.gone(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ms.path, err)
			}
			for i, f := range found {
				written[i] = written[i] || f
			}
		}
	}
	keep := make([]int, 0, len(batches))
	for i, w := range written {
		if !w {
			keep = append(keep, i)
		}
	}
	return keep, nil
}
