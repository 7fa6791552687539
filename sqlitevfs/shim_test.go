package sqlitevfs_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// shimVFS is a base VFS for sqlitevfs: the OS VFS with files that report
// extra device characteristics (caps), as a filesystem with atomic writes
// would (the OS VFS reports IOCAP_BATCH_ATOMIC on F2FS), and that accept
// the batch-atomic file controls. It sees exactly the bytes that reach
// disk, and calls onWrite (if set) before each write, for crash points.
type shimVFS struct {
	vfs.VFS
	caps vfs.DeviceCharacteristic

	mu       sync.Mutex
	onChange func(name string, off int64, p []byte) // see fileOp
	onSync   func(name string)                      // after each sync
}

// change reports a change to the hook, if any.
func (s *shimVFS) change(name string, off int64, p []byte) {
	s.mu.Lock()
	hook := s.onChange
	s.mu.Unlock()
	if hook != nil {
		hook(name, off, p)
	}
}

func (s *shimVFS) Delete(name string, syncDir bool) error {
	s.change(name, -1, nil)
	return s.VFS.Delete(name, syncDir)
}

func (s *shimVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpen(s.VFS, name, flags)
	if err != nil {
		return nil, flags, err
	}
	return &shimFile{File: f, vfs: s, name: name}, flags, nil
}

func (s *shimVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpenFilename(s.VFS, name, flags)
	if err != nil {
		return nil, flags, err
	}
	return &shimFile{File: f, vfs: s, name: name.String()}, flags, nil
}

type shimFile struct {
	vfs.File
	vfs  *shimVFS
	name string
}

func (f *shimFile) WriteAt(p []byte, off int64) (int, error) {
	if len(p) > 0 {
		f.vfs.change(f.name, off, p)
	}
	return f.File.WriteAt(p, off)
}

func (f *shimFile) Sync(flags vfs.SyncFlag) error {
	err := f.File.Sync(flags)
	f.vfs.mu.Lock()
	hook := f.vfs.onSync
	f.vfs.mu.Unlock()
	if hook != nil {
		hook(f.name)
	}
	return err
}

func (f *shimFile) Truncate(size int64) error {
	f.vfs.change(f.name, size, nil)
	return f.File.Truncate(size)
}

func (f *shimFile) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return f.File.DeviceCharacteristics() | f.vfs.caps
}

// The batch-atomic file controls succeed (the shim does not make the
// batch atomic: tests that use it crash only outside batches).
func (f *shimFile) BeginAtomicWrite() error    { return nil }
func (f *shimFile) CommitAtomicWrite() error   { return nil }
func (f *shimFile) RollbackAtomicWrite() error { return nil }

func (f *shimFile) LockState() vfs.LockLevel       { return vfsutil.WrapLockState(f.File) }
func (f *shimFile) SharedMemory() vfs.SharedMemory { return vfsutil.WrapSharedMemory(f.File) }
func (f *shimFile) HasMoved() (bool, error)        { return vfsutil.WrapHasMoved(f.File) }
func (f *shimFile) PowersafeOverwrite() bool       { return vfsutil.WrapPowersafeOverwrite(f.File) }
func (f *shimFile) SetPowersafeOverwrite(psow bool) {
	vfsutil.WrapSetPowersafeOverwrite(f.File, psow)
}

// registerShim registers an encrypting VFS with key on a shim VFS that
// reports caps, and returns its options for mode and the shim.
func registerShim(t testing.TB, key []byte, caps vfs.DeviceCharacteristic, mode string) (engine.Options, *sqlitevfs.VFS, *shimVFS) {
	t.Helper()
	s := &shimVFS{VFS: vfs.Find(""), caps: caps}
	v, err := sqlitevfs.Wrap(s, key)
	if err != nil {
		t.Fatal(err)
	}
	var id [8]byte
	rand.Read(id[:])
	name := "shim-" + hex.EncodeToString(id[:])
	vfs.Register(name, v)
	t.Cleanup(func() { vfs.Unregister(name) })
	return engine.Options{VFS: name, Encrypted: true, JournalMode: mode}, v, s
}

// shimCaps are the device characteristics the shim tests advertise, one
// at a time and all together. IOCAP_IMMUTABLE is left out: it makes SQLite
// treat the database as read-only.
var shimCaps = map[string]vfs.DeviceCharacteristic{
	"atomic":        vfs.IOCAP_ATOMIC,
	"atomic512":     vfs.IOCAP_ATOMIC512,
	"atomic1k":      vfs.IOCAP_ATOMIC1K,
	"atomic2k":      vfs.IOCAP_ATOMIC2K,
	"atomic4k":      vfs.IOCAP_ATOMIC4K,
	"atomic8k":      vfs.IOCAP_ATOMIC8K,
	"atomic16k":     vfs.IOCAP_ATOMIC16K,
	"atomic32k":     vfs.IOCAP_ATOMIC32K,
	"atomic64k":     vfs.IOCAP_ATOMIC64K,
	"safeappend":    vfs.IOCAP_SAFE_APPEND,
	"sequential":    vfs.IOCAP_SEQUENTIAL,
	"undeletable":   vfs.IOCAP_UNDELETABLE_WHEN_OPEN,
	"psow":          vfs.IOCAP_POWERSAFE_OVERWRITE,
	"batchatomic":   vfs.IOCAP_BATCH_ATOMIC,
	"subpageread":   vfs.IOCAP_SUBPAGE_READ,
	"all-but-immut": 0x1ffff &^ vfs.IOCAP_IMMUTABLE,
}

// fileOp is one change the shim saw: a write, a truncation (data nil,
// off the new size) or a deletion (off -1).
type fileOp struct {
	name string
	off  int64
	data []byte
}

// crashLog records the changes to the database files of path (database,
// -journal, -wal; not -shm) so that the files as a power cut at any point
// would leave them can be rebuilt.
type crashLog struct {
	path  string
	start string // copy of the files when recording began
	ops   []fileOp
}

// record starts a crash log for path on s: it copies the files now and
// records every later change until the returned function is called.
func record(t testing.TB, s *shimVFS, path string) (*crashLog, func()) {
	t.Helper()
	l := &crashLog{path: path, start: t.TempDir()}
	base := filepath.Base(path)
	copyFiles(t, filepath.Dir(path), l.start, base, base+"-journal", base+"-wal")
	s.mu.Lock()
	s.onChange = func(name string, off int64, p []byte) {
		if name == path || name == path+"-journal" || name == path+"-wal" {
			l.ops = append(l.ops, fileOp{name: name, off: off, data: slices.Clone(p)})
		}
	}
	s.mu.Unlock()
	return l, func() {
		s.mu.Lock()
		s.onChange = nil
		s.mu.Unlock()
	}
}

// crash returns a directory holding the files as they were before change
// n (0-based; len(l.ops) means after the last).
func (l *crashLog) crash(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	base := filepath.Base(l.path)
	copyFiles(t, l.start, dir, base, base+"-journal", base+"-wal")
	for _, op := range l.ops[:n] {
		name := filepath.Join(dir, filepath.Base(op.name))
		switch {
		case op.off < 0:
			if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		case op.data == nil:
			if err := os.Truncate(name, op.off); err != nil {
				t.Fatal(err)
			}
		default:
			f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteAt(op.data, op.off)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// atomicCaps are all the atomic-write capabilities.
const atomicCaps = vfs.IOCAP_BATCH_ATOMIC | vfs.IOCAP_ATOMIC | vfs.IOCAP_ATOMIC512 |
	vfs.IOCAP_ATOMIC1K | vfs.IOCAP_ATOMIC2K | vfs.IOCAP_ATOMIC4K | vfs.IOCAP_ATOMIC8K |
	vfs.IOCAP_ATOMIC16K | vfs.IOCAP_ATOMIC32K | vfs.IOCAP_ATOMIC64K
