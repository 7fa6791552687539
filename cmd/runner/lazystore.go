package main

import (
	"context"
	"fmt"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/jsonl"
	"github.com/gofastr/store/sqlitevfs"
	"github.com/gofastr/store/transcript"
)

// lazyStore is the store an import writes to. An existing store is opened
// at once, so that a wrong key fails before the input is read; a missing
// one is created when the parsed input is first checked against it, so
// that a malformed input creates none (an input the store then refuses
// leaves it empty). It is a jsonl.Destination, a jsonl.BatchDestination and a
// transcript.Writer.
type lazyStore struct {
	open func() (*host.Store, error)
	s    *host.Store
}

// importDestination returns the lazyStore of --db: see openImportStore.
func (a *app) importDestination(ctx context.Context, plaintext bool) (*lazyStore, error) {
	l := &lazyStore{open: func() (*host.Store, error) { return a.openImportStore(ctx, plaintext) }}
	kind, err := sqlitevfs.Detect(a.db)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.db, err)
	}
	if kind != sqlitevfs.FileMissing {
		if l.s, err = l.open(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *lazyStore) store() (*host.Store, error) {
	if l.s == nil {
		s, err := l.open()
		if err != nil {
			return nil, err
		}
		l.s = s
	}
	return l.s, nil
}

// close closes the store if it was opened; later calls do nothing, and
// later writes fail with host.ErrClosed.
func (l *lazyStore) close() error {
	l.open = func() (*host.Store, error) { return nil, host.ErrClosed }
	if l.s == nil {
		return nil
	}
	s := l.s
	l.s = nil
	return s.Close()
}

func (l *lazyStore) WriteBatches(ctx context.Context, batches ...abi.Batch) (int, error) {
	s, err := l.store()
	if err != nil {
		return 0, err
	}
	return s.WriteBatches(ctx, batches...)
}

func (l *lazyStore) Append(ctx context.Context, env abi.EventEnvelope) (uint64, error) {
	s, err := l.store()
	if err != nil {
		return 0, err
	}
	return s.Append(ctx, env)
}

func (l *lazyStore) RecordToolIntent(ctx context.Context, in abi.ToolIntent) error {
	s, err := l.store()
	if err != nil {
		return err
	}
	return s.RecordToolIntent(ctx, in)
}

func (l *lazyStore) RecordToolOutcome(ctx context.Context, out abi.ToolOutcome) error {
	s, err := l.store()
	if err != nil {
		return err
	}
	return s.RecordToolOutcome(ctx, out)
}

func (l *lazyStore) RecordAttempt(ctx context.Context, at abi.ProviderAttempt) (int64, error) {
	s, err := l.store()
	if err != nil {
		return 0, err
	}
	return s.RecordAttempt(ctx, at)
}

func (l *lazyStore) Pin(ctx context.Context, sess abi.SessionID) error {
	s, err := l.store()
	if err != nil {
		return err
	}
	return s.Pin(ctx, sess)
}

// EventsSince reads no store into existence: a missing store has no events.
func (l *lazyStore) EventsSince(ctx context.Context, sess abi.SessionID, since uint64, limit int) ([]abi.EventEnvelope, error) {
	if l.s == nil {
		return nil, nil
	}
	return l.s.EventsSince(ctx, sess, since, limit)
}

var (
	_ jsonl.Destination      = (*lazyStore)(nil)
	_ jsonl.BatchDestination = (*lazyStore)(nil)
	_ jsonl.BatchChecker     = (*lazyStore)(nil)
	_ transcript.Writer      = (*lazyStore)(nil)
)

// CheckBatches checks batches against the store before an import writes
// any (jsonl.BatchChecker). It runs only once the whole input has parsed,
// so a malformed input still creates no store; records the store refuses
// (a payload over its size limit) leave a new store empty.
func (l *lazyStore) CheckBatches(batches ...abi.Batch) error {
	s, err := l.store()
	if err != nil {
		return err
	}
	return s.CheckBatches(batches...)
}
