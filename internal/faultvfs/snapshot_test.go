package faultvfs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/faultvfs"
)

// rawVFS is a base VFS of plain os files opened by name (the OS VFS of
// SQLite opens only the names SQLite hands it), for tests that drive a
// file without SQLite.
type rawVFS struct{}

func (rawVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, flags, err
	}
	return rawFile{f}, flags, nil
}
func (rawVFS) Delete(name string, _ bool) error         { return os.Remove(name) }
func (rawVFS) FullPathname(name string) (string, error) { return filepath.Abs(name) }
func (rawVFS) Access(name string, _ vfs.AccessFlag) (bool, error) {
	_, err := os.Stat(name)
	return err == nil, nil
}

type rawFile struct{ *os.File }

func (f rawFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
func (f rawFile) Sync(vfs.SyncFlag) error                       { return f.File.Sync() }
func (rawFile) SectorSize() int                                 { return 512 }
func (rawFile) DeviceCharacteristics() vfs.DeviceCharacteristic { return 0 }
func (rawFile) Lock(vfs.LockLevel) error                        { return nil }
func (rawFile) Unlock(vfs.LockLevel) error                      { return nil }
func (rawFile) CheckReservedLock() (bool, error)                { return false, nil }

// openRaw opens path through v as a main database file, without SQLite.
func openRaw(t *testing.T, v *faultvfs.VFS, path string) vfs.File {
	t.Helper()
	f, _, err := v.Open(path, vfs.OPEN_CREATE|vfs.OPEN_READWRITE|vfs.OPEN_MAIN_DB)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustWrite(t *testing.T, f vfs.File, p []byte, off int64) {
	t.Helper()
	if _, err := f.WriteAt(p, off); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotAtCut: what the process does with the os package after the
// cut (a file written, one removed, one created, a directory created)
// never reaches the disk; the unsynced writes made before the cut are
// undone on top of the state at the cut; OnCut runs once.
func TestSnapshotAtCut(t *testing.T) {
	v := faultvfs.New(rawVFS{})
	dir := t.TempDir()
	db, header, gone := filepath.Join(dir, "db"), filepath.Join(dir, "db.dek"), filepath.Join(dir, "db.dek.next")
	for path, data := range map[string]string{header: "old header", gone: "next header"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	v.Track(true)
	f := openRaw(t, v, db)
	mustWrite(t, f, bytes.Repeat([]byte{1}, 1024), 0)
	if err := f.Sync(0); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, bytes.Repeat([]byte{2}, 512), 512) // unsynced
	cuts := 0
	v.SnapshotAtCut(dir)
	v.OnCut(func() { cuts++ })
	v.CutPowerAt(1, faultvfs.OpWrite)
	if _, err := f.WriteAt([]byte{3}, 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("the write that cuts the power: %v, want EIO", err)
	}
	if cuts != 1 {
		t.Fatalf("OnCut ran %d times at the cut, want 1", cuts)
	}
	// After the cut, with the os package.
	if err := os.WriteFile(header, []byte("new header, acknowledged with the power off"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "late"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "months"), 0o700); err != nil {
		t.Fatal(err)
	}
	v.CutPower() // already cut: no second snapshot, no second OnCut
	f.Close()
	rep, err := v.Restore(faultvfs.PowerLoss{Mode: faultvfs.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if cuts != 1 {
		t.Errorf("OnCut ran %d times, want 1", cuts)
	}
	for path, want := range map[string]string{header: "old header", gone: "next header"} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s after the restore: %q, %v; want %q", filepath.Base(path), got, err, want)
		}
	}
	for _, path := range []string{filepath.Join(dir, "late"), filepath.Join(dir, "months")} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s, created after the cut, survived: %v", filepath.Base(path), err)
		}
	}
	if got, err := os.ReadFile(db); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{1}, 1024)) {
		t.Errorf("db after the restore: %d bytes, %v; want its synced 1024 bytes of 1", len(got), err)
	}
	if rep.Reverted != 4 || rep.Lost != 1 {
		t.Errorf("report %+v: want 4 files reverted, 1 write undone", rep)
	}
	// Restore forgot the snapshot and OnCut.
	v.CutPower()
	if cuts != 1 {
		t.Errorf("OnCut ran again after Restore")
	}
	if _, err := v.Restore(faultvfs.PowerLoss{}); err != nil {
		t.Fatal(err)
	}
}

// TestDropOnSyncError: a sync failed under DropOnSyncError loses the
// file's unsynced writes at once, and a later successful sync does not
// bring them back.
func TestDropOnSyncError(t *testing.T) {
	for _, drop := range []bool{false, true} {
		v := faultvfs.New(rawVFS{})
		path := filepath.Join(t.TempDir(), "db")
		v.Track(true)
		f := openRaw(t, v, path)
		mustWrite(t, f, bytes.Repeat([]byte{1}, 4096), 0)
		if err := f.Sync(0); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, bytes.Repeat([]byte{2}, 4096), 0)
		mustWrite(t, f, bytes.Repeat([]byte{3}, 4096), 4096)
		v.Arm(faultvfs.Fault{Ops: faultvfs.OpSync, N: 1, DropOnSyncError: drop})
		if err := f.Sync(0); !errors.Is(err, syscall.EIO) {
			t.Fatalf("drop %v: sync: %v, want EIO", drop, err)
		}
		v.Disarm()
		if err := f.Sync(0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, dropped := append(bytes.Repeat([]byte{2}, 4096), bytes.Repeat([]byte{3}, 4096)...), int64(0)
		if drop {
			want, dropped = bytes.Repeat([]byte{1}, 4096), 2
		}
		if !bytes.Equal(got, want) {
			t.Errorf("drop %v: the file holds %d bytes starting %v, want %d starting %v", drop, len(got), got[:1], len(want), want[:1])
		}
		if v.Dropped() != dropped {
			t.Errorf("drop %v: Dropped() = %d, want %d", drop, v.Dropped(), dropped)
		}
	}
}

// TestTearAnySectors: a torn write keeps any strict subset of its sectors,
// not only a prefix.
func TestTearAnySectors(t *testing.T) {
	const sectors = 4
	dir := t.TempDir()
	patterns := map[string]bool{}
	for seed := range uint64(200) {
		v := faultvfs.New(rawVFS{})
		path := filepath.Join(dir, "db")
		os.Remove(path)
		v.Track(true)
		f := openRaw(t, v, path)
		mustWrite(t, f, make([]byte, sectors*512), 0)
		if err := f.Sync(0); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, bytes.Repeat([]byte{9}, sectors*512), 0)
		v.CutPower()
		f.Close()
		rep, err := v.Restore(faultvfs.PowerLoss{Mode: faultvfs.Tear, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || len(got) != sectors*512 {
			t.Fatalf("seed %d: %d bytes, %v", seed, len(got), err)
		}
		var p []byte
		for s := range sectors {
			sec := got[s*512 : (s+1)*512]
			switch {
			case bytes.Equal(sec, make([]byte, 512)):
				p = append(p, '0')
			case bytes.Equal(sec, bytes.Repeat([]byte{9}, 512)):
				p = append(p, '1')
			default:
				t.Fatalf("seed %d: sector %d mixes old and new bytes", seed, s)
			}
		}
		if rep.Torn > 0 && (string(p) == "1111" || string(p) == "0000") {
			t.Errorf("seed %d: torn, but the sectors are %s", seed, p)
		}
		patterns[string(p)] = true
	}
	// Beyond a prefix: a sector kept after one lost.
	if !patterns["0101"] && !patterns["0011"] && !patterns["1011"] && !patterns["0111"] {
		t.Errorf("patterns seen %v: every torn write kept a prefix", patterns)
	}
}

// TestDisarmTrimsFileCounts: the per-file counts go with Disarm once no
// file is open; the per-operation counts stay.
func TestDisarmTrimsFileCounts(t *testing.T) {
	v := faultvfs.New(rawVFS{})
	path := filepath.Join(t.TempDir(), "db")
	v.Arm(faultvfs.Fault{Ops: faultvfs.OpWrite})
	f := openRaw(t, v, path)
	mustWrite(t, f, []byte("x"), 0)
	v.Disarm()
	if v.Stats().Files[path].Calls == 0 {
		t.Fatal("per-file counts dropped while the file is open")
	}
	f.Close()
	v.Disarm()
	if st := v.Stats(); len(st.Files) != 0 || st.Ops[faultvfs.OpWrite].Calls != 1 {
		t.Errorf("stats after Disarm with no file open: %+v; want no file, 1 write", st)
	}
}
