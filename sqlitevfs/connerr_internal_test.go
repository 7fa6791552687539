package sqlitevfs

import (
	"errors"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"
)

// TestPendingTypedError covers the per-connection record behind ConnError
// and the unlock/close hand-back: a recorded error is handed back (tagged
// SQLITE_OK) by Unlock and Close until the next transaction's SHARED lock
// forgets it, so an error the caller never took cannot be handed back
// during a later call; a connection's WAL records into its database's
// record, and another connection's file hands back nothing.
func TestPendingTypedError(t *testing.T) {
	v, err := Wrap(nil, make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	newDB := func() *dbFile {
		return &dbFile{pager: pager{File: &memFile{}, vfs: v, cipher: v.cipher, path: "p.db", errs: new(connErrs)}}
	}
	a, b := newDB(), newDB()
	wal := &walFile{pager: pager{File: &memFile{}, vfs: v, cipher: v.cipher, path: "p.db-wal", errs: a.errs}, db: a}

	if err := a.Unlock(vfs.LOCK_NONE); err != nil {
		t.Fatalf("Unlock with nothing recorded: %v", err)
	}
	reported := wal.pageError(kindWAL, 3, 100, ErrAuth)
	rec := a.errs.last.Load()
	var pe *PageError
	if rec == nil || rec.code != sqlite3.IOERR_DATA || !errors.As(rec.err, &pe) || pe.Page != 3 || pe.Kind != "wal" {
		t.Fatalf("record after the WAL's page error: %+v, want its PageError with IOERR_DATA", rec)
	}
	for i := range 2 {
		if got := a.Unlock(vfs.LOCK_SHARED); got == nil || got.Error() != reported.Error() {
			t.Errorf("Unlock %d after the page error: %v, want the PageError handed back", i, got)
		}
	}
	if err := b.Unlock(vfs.LOCK_NONE); err != nil {
		t.Errorf("another connection's Unlock: %v, want nil", err)
	}
	if err := a.Lock(vfs.LOCK_SHARED); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(vfs.LOCK_NONE); err != nil {
		t.Errorf("Unlock after the next transaction started: %v, want nil (stale)", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close: %v, want nil", err)
	}
	b.errs.record(ErrReserve, sqlite3.IOERR_WRITE)
	if err := b.Close(); err == nil || err.Error() != ErrReserve.Error() {
		t.Errorf("Close after ErrReserve: %v, want it handed back", err)
	}
}
