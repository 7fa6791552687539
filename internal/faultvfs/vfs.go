package faultvfs

import (
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// Op is a set of operations.
type Op uint32

const (
	OpRead     Op = 1 << iota // File.ReadAt
	OpWrite                   // File.WriteAt
	OpSync                    // File.Sync
	OpTruncate                // File.Truncate (and SizeHint)
	OpLock                    // File.Lock, Unlock and CheckReservedLock
	OpOpen                    // VFS.Open and OpenFilename
	OpDelete                  // VFS.Delete

	OpAll = OpRead | OpWrite | OpSync | OpTruncate | OpLock | OpOpen | OpDelete
)

// numOps is the number of single operations in OpAll.
const numOps = 7

var opNames = [numOps]string{"read", "write", "sync", "truncate", "lock", "open", "delete"}

// String names the operations of the set, joined by "|".
func (o Op) String() string {
	if o == 0 {
		return "none"
	}
	var b strings.Builder
	for i, name := range opNames {
		if o&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

// Fault says which calls fail and how.
type Fault struct {
	Ops     Op                     // operations counted and failed
	N       int64                  // fail the Nth counted call (1-based); 0: none by count
	Persist bool                   // also fail every later counted call (a disk that stays full); false: only the Nth
	Prob    float64                // additionally fail each counted call with this probability (random mode)
	Seed    uint64                 // PRNG seed for Prob (reproducible)
	Err     syscall.Errno          // the error the OS would return: syscall.EIO or syscall.ENOSPC; 0 means EIO
	Files   func(name string) bool // optional filter on the file name (nil: every file)
	// DropOnSyncError: a sync failed by this fault also loses the file's
	// writes and truncates made since its last successful sync, at once,
	// as Linux may drop the dirty pages of a file whose fsync failed and
	// report success to the next fsync. Only while tracking ([VFS.Track]):
	// the bytes to put back are known only then.
	DropOnSyncError bool
}

// Counts are the calls of one operation and the faults injected into them.
type Counts struct {
	Calls    int64
	Injected int64
}

// Stats are the calls the VFS saw since the last [VFS.Arm] (or since
// [New]), whichever fault is armed: per operation (a single Op bit), and
// per file name (every operation).
type Stats struct {
	Ops   map[Op]Counts
	Files map[string]Counts
}

// A VFS injects faults into the calls of a base VFS. It implements
// [vfs.VFS] and [vfs.VFSFilename] and is safe for concurrent use.
type VFS struct {
	base vfs.VFS

	mu       sync.Mutex
	fault    Fault
	armed    bool
	rng      *rand.Rand
	calls    int64 // counted calls since Arm
	injected int64 // faults injected since Arm
	ops      [numOps]Counts
	files    map[string]Counts

	off    atomic.Bool // the power is cut
	cutN   int64       // CutPowerAt: the call that cuts the power; 0: none
	cutOps Op
	cutCnt int64

	power power // Track and Restore (power.go)
}

var (
	_ vfs.VFS         = (*VFS)(nil)
	_ vfs.VFSFilename = (*VFS)(nil)
)

// New returns a VFS that wraps base; nil means the OS VFS.
func New(base vfs.VFS) *VFS {
	if base == nil {
		base = vfs.Find("")
	}
	return &VFS{base: base, files: map[string]Counts{}}
}

// Arm starts counting from zero with f, which replaces the previous fault.
// Stats start from zero too.
func (v *VFS) Arm(f Fault) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if f.Err == 0 {
		f.Err = syscall.EIO
	}
	v.fault, v.armed = f, true
	v.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	v.calls, v.injected = 0, 0
	v.ops = [numOps]Counts{}
	v.files = map[string]Counts{}
}

// Disarm stops injecting faults. The counters are kept, except the
// per-file counts of [Stats] when no file of the VFS is open: they are
// dropped, so that a VFS shared by many tests does not keep a count for
// every file it ever saw.
func (v *VFS) Disarm() {
	open := v.power.open()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.armed = false
	if open == 0 {
		v.files = map[string]Counts{}
	}
}

// Calls returns the calls of the armed fault's operations (and files)
// since [VFS.Arm].
func (v *VFS) Calls() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

// Injected returns the faults injected since [VFS.Arm].
func (v *VFS) Injected() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.injected
}

// Stats returns a copy of the per-operation and per-file counts.
func (v *VFS) Stats() Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := Stats{Ops: make(map[Op]Counts, numOps), Files: make(map[string]Counts, len(v.files))}
	for i, c := range v.ops {
		if c != (Counts{}) {
			s.Ops[1<<i] = c
		}
	}
	for name, c := range v.files {
		s.Files[name] = c
	}
	return s
}

// CutPower cuts the power: from now on every call of every file fails with
// EIO, except Unlock and Close, until [VFS.Restore]. The directories given
// to [VFS.SnapshotAtCut] are copied as they are on disk at this instant,
// then the functions given to [VFS.OnCut] run.
func (v *VFS) CutPower() {
	if !v.off.Swap(true) {
		v.atCut()
	}
}

// CutPowerAt cuts the power at the nth call (1-based) of the operations
// ops from now on: that call fails with EIO and is not carried out. n <= 0
// cancels a pending cut.
func (v *VFS) CutPowerAt(n int64, ops Op) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cutN, v.cutOps, v.cutCnt = max(n, 0), ops, 0
}

// dropOnSyncError reports whether the armed fault drops a file's unsynced
// writes when it fails its sync.
func (v *VFS) dropOnSyncError() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.armed && v.fault.DropOnSyncError
}

// PowerCut reports whether the power is cut.
func (v *VFS) PowerCut() bool { return v.off.Load() }

// check counts a call of op on the file name and says whether it fails:
// with the armed fault's error, or EIO when the power is (or now gets)
// cut. The call must not be carried out when check returns an error.
func (v *VFS) check(op Op, name string) syscall.Errno {
	if v.off.Load() {
		return syscall.EIO
	}
	cut := false
	defer func() {
		if cut {
			v.atCut() // after v.mu is released
		}
	}()
	i := bits.TrailingZeros32(uint32(op))
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ops[i].Calls++
	fc := v.files[name]
	fc.Calls++
	var errno syscall.Errno
	if f := &v.fault; v.armed && f.Ops&op != 0 && (f.Files == nil || f.Files(name)) {
		v.calls++
		fail := f.N > 0 && (v.calls == f.N || f.Persist && v.calls > f.N)
		if !fail && f.Prob > 0 && v.rng.Float64() < f.Prob {
			fail = true
		}
		if fail {
			v.injected++
			v.ops[i].Injected++
			fc.Injected++
			errno = f.Err
		}
	}
	v.files[name] = fc
	if v.cutN > 0 && v.cutOps&op != 0 {
		v.cutCnt++
		if v.cutCnt == v.cutN {
			v.cutN = 0
			v.off.Store(true)
			cut = true
			return syscall.EIO
		}
	}
	return errno
}

// FullPathname implements [vfs.VFS].
func (v *VFS) FullPathname(name string) (string, error) { return v.base.FullPathname(name) }

// Access implements [vfs.VFS]; it fails with EIO while the power is cut.
func (v *VFS) Access(name string, flags vfs.AccessFlag) (bool, error) {
	if v.off.Load() {
		return false, sqlite3.IOERR_ACCESS
	}
	return v.base.Access(name, flags)
}

// Delete implements [vfs.VFS]. A deleted file's unsynced writes are
// forgotten: deletes are durable.
func (v *VFS) Delete(name string, syncDir bool) error {
	if errno := v.check(OpDelete, name); errno != 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errno}
	}
	err := v.base.Delete(name, syncDir)
	if err == nil {
		v.power.forget(name)
	}
	return err
}

// Open implements [vfs.VFS]; SQLite calls OpenFilename instead.
func (v *VFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	if errno := v.check(OpOpen, name); errno != 0 {
		return nil, flags, &fs.PathError{Op: "open", Path: name, Err: errno}
	}
	f, flags, err := vfsutil.WrapOpen(v.base, name, flags)
	if err != nil {
		return f, flags, err
	}
	return v.wrap(f, name, flags), flags, nil
}

// OpenFilename implements [vfs.VFSFilename].
func (v *VFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	path := ""
	if name != nil {
		path = name.String()
	}
	if errno := v.check(OpOpen, path); errno != 0 {
		return nil, flags, &fs.PathError{Op: "open", Path: path, Err: errno}
	}
	f, flags, err := vfsutil.WrapOpenFilename(v.base, name, flags)
	if err != nil {
		return f, flags, err
	}
	return v.wrap(f, path, flags), flags, nil
}

func (v *VFS) wrap(f vfs.File, name string, flags vfs.OpenFlag) vfs.File {
	ff := &file{File: f, v: v, name: name}
	if name != "" && flags&vfs.OPEN_MEMORY == 0 {
		ff.tracked = v.power.opened(name, flags)
	}
	return ff
}

// file injects faults into the calls of one base file.
type file struct {
	vfs.File
	v       *VFS
	name    string
	tracked bool // opened while tracking: no batch-atomic writes
	closed  bool
}

func (f *file) pathErr(op string, errno syscall.Errno) error {
	return &fs.PathError{Op: op, Path: f.name, Err: errno}
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if errno := f.v.check(OpRead, f.name); errno != 0 {
		return 0, f.pathErr("read", errno)
	}
	return f.File.ReadAt(p, off)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if errno := f.v.check(OpWrite, f.name); errno != 0 {
		return 0, f.pathErr("write", errno)
	}
	return f.v.power.write(f, p, off)
}

func (f *file) Truncate(size int64) error {
	if errno := f.v.check(OpTruncate, f.name); errno != 0 {
		return f.pathErr("truncate", errno)
	}
	return f.v.power.truncate(f, size, func() error { return f.File.Truncate(size) })
}

func (f *file) SizeHint(size int64) error {
	if errno := f.v.check(OpTruncate, f.name); errno != 0 {
		return errno // fallocate's error, as the OS VFS returns it
	}
	return f.v.power.truncate(f, -1, func() error { return vfsutil.WrapSizeHint(f.File, size) })
}

func (f *file) Sync(flags vfs.SyncFlag) error {
	if errno := f.v.check(OpSync, f.name); errno != 0 {
		if !f.v.off.Load() && f.v.dropOnSyncError() {
			f.v.power.drop(f)
		}
		return errno // fsync's error, as the OS VFS returns it
	}
	return f.v.power.sync(f, flags)
}

func (f *file) Size() (int64, error) {
	if f.v.off.Load() {
		return 0, syscall.EIO
	}
	return f.File.Size()
}

func (f *file) Lock(lock vfs.LockLevel) error {
	if errno := f.v.check(OpLock, f.name); errno != 0 {
		return vfs.SystemError(errno, sqlite3.IOERR_LOCK)
	}
	return f.File.Lock(lock)
}

// Unlock is carried out when the power is cut (a lock is process state,
// not disk state), but fails when a fault says so.
func (f *file) Unlock(lock vfs.LockLevel) error {
	if !f.v.off.Load() {
		if errno := f.v.check(OpLock, f.name); errno != 0 {
			return vfs.SystemError(errno, sqlite3.IOERR_UNLOCK)
		}
	}
	return f.File.Unlock(lock)
}

func (f *file) CheckReservedLock() (bool, error) {
	if errno := f.v.check(OpLock, f.name); errno != 0 {
		return false, vfs.SystemError(errno, sqlite3.IOERR_CHECKRESERVEDLOCK)
	}
	return f.File.CheckReservedLock()
}

// Close always closes the base file, so that a caller can close every
// handle after a power cut.
func (f *file) Close() error {
	if !f.closed {
		f.closed = true
		f.v.power.closed()
	}
	return f.File.Close()
}

func (f *file) DeviceCharacteristics() vfs.DeviceCharacteristic {
	dc := f.File.DeviceCharacteristics()
	if f.tracked {
		dc &^= vfs.IOCAP_BATCH_ATOMIC
	}
	return dc
}

// The optional interfaces of the base file are forwarded.
var (
	_ vfs.FileUnwrap             = (*file)(nil)
	_ vfs.FileLockState          = (*file)(nil)
	_ vfs.FileSharedMemory       = (*file)(nil)
	_ vfs.FilePersistWAL         = (*file)(nil)
	_ vfs.FilePowersafeOverwrite = (*file)(nil)
	_ vfs.FileChunkSize          = (*file)(nil)
	_ vfs.FileSizeHint           = (*file)(nil)
	_ vfs.FileHasMoved           = (*file)(nil)
	_ vfs.FileOverwrite          = (*file)(nil)
	_ vfs.FileSync               = (*file)(nil)
	_ vfs.FileCommitPhaseTwo     = (*file)(nil)
	_ vfs.FileBatchAtomicWrite   = (*file)(nil)
	_ vfs.FileCheckpoint         = (*file)(nil)
	_ vfs.FilePragma             = (*file)(nil)
	_ vfs.FileBusyHandler        = (*file)(nil)
)

func (f *file) Unwrap() vfs.File                { return f.File }
func (f *file) LockState() vfs.LockLevel        { return vfsutil.WrapLockState(f.File) }
func (f *file) SharedMemory() vfs.SharedMemory  { return vfsutil.WrapSharedMemory(f.File) }
func (f *file) PersistWAL() bool                { return vfsutil.WrapPersistWAL(f.File) }
func (f *file) SetPersistWAL(keep bool)         { vfsutil.WrapSetPersistWAL(f.File, keep) }
func (f *file) PowersafeOverwrite() bool        { return vfsutil.WrapPowersafeOverwrite(f.File) }
func (f *file) SetPowersafeOverwrite(psow bool) { vfsutil.WrapSetPowersafeOverwrite(f.File, psow) }
func (f *file) ChunkSize(size int)              { vfsutil.WrapChunkSize(f.File, size) }
func (f *file) HasMoved() (bool, error)         { return vfsutil.WrapHasMoved(f.File) }
func (f *file) SyncSuper(super string) error    { return vfsutil.WrapSyncSuper(f.File, super) }
func (f *file) CommitPhaseTwo() error           { return vfsutil.WrapCommitPhaseTwo(f.File) }
func (f *file) CheckpointStart()                { vfsutil.WrapCheckpointStart(f.File) }
func (f *file) CheckpointDone()                 { vfsutil.WrapCheckpointDone(f.File) }
func (f *file) BusyHandler(handler func() bool) { vfsutil.WrapBusyHandler(f.File, handler) }
func (f *file) Pragma(name, value string) (string, error) {
	return vfsutil.WrapPragma(f.File, name, value)
}

// Overwrite (SQLite's FCNTL_OVERWRITE) announces that the whole file is
// about to be rewritten; it writes nothing itself.
func (f *file) Overwrite() error { return vfsutil.WrapOverwrite(f.File) }

func (f *file) BeginAtomicWrite() error {
	if errno := f.v.check(OpWrite, f.name); errno != 0 {
		return vfs.SystemError(errno, sqlite3.IOERR_BEGIN_ATOMIC)
	}
	return vfsutil.WrapBeginAtomicWrite(f.File)
}

func (f *file) CommitAtomicWrite() error {
	if errno := f.v.check(OpWrite, f.name); errno != 0 {
		return vfs.SystemError(errno, sqlite3.IOERR_COMMIT_ATOMIC)
	}
	return vfsutil.WrapCommitAtomicWrite(f.File)
}

func (f *file) RollbackAtomicWrite() error { return vfsutil.WrapRollbackAtomicWrite(f.File) }
