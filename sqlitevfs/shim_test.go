package sqlitevfs_test

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
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

	mu      sync.Mutex
	onWrite func(name string, p []byte, off int64)
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
	f.vfs.mu.Lock()
	hook := f.vfs.onWrite
	f.vfs.mu.Unlock()
	if hook != nil {
		hook(f.name, p, off)
	}
	return f.File.WriteAt(p, off)
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

// crashPoint copies the database files of path (without -shm) into a
// fresh directory the moment the shim is about to make its n-th write to
// them, as a power cut there would leave them.
type crashPoint struct {
	t      testing.TB
	path   string
	n      int // write to crash before (1-based)
	writes int
	dir    string // where the copy went, "" until taken
}

func (c *crashPoint) hook(name string, p []byte, off int64) {
	if !strings.HasPrefix(name, c.path) {
		return
	}
	c.writes++
	if c.writes != c.n || c.dir != "" {
		return
	}
	c.dir = c.t.TempDir()
	base := filepath.Base(c.path)
	copyFiles(c.t, filepath.Dir(c.path), c.dir, base, base+"-journal", base+"-wal")
}
