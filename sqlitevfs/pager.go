package sqlitevfs

import (
	"io"

	"github.com/ncruces/go-sqlite3"

	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/pagecrypt"
)

// File kinds, for errors; kindDB and kindJournal double as the image kind
// bound into each image's associated data. A WAL frame holds a database
// page image, sealed exactly as in the database file (kindDB), so that a
// checkpoint can copy it without opening and resealing it; a journal
// record is sealed as kindJournal and opens nowhere else.
const (
	kindDB      byte = 1
	kindWAL     byte = 2
	kindJournal byte = 3
)

var kindNames = [...]string{kindDB: "db", kindWAL: "wal", kindJournal: "journal"}

// adSize is the associated data: kind[1] ‖ zero[3] ‖ pgno[4] ‖ zero[8].
// The last 8 bytes are reserved (format version 1 writes zeros).
const adSize = 16

// pager is what the database, WAL and journal files share: the base file,
// the key, and scratch space. SQLite drives each file from one connection
// at a time, so the scratch buffer needs no lock.
type pager struct {
	vfs.File
	vfs    *VFS
	cipher *pagecrypt.Cipher
	path   string
	buf    []byte
	errs   *connErrs // the connection's typed errors, shared with its WAL and journal
}

// scratch returns a reusable buffer of n bytes.
func (p *pager) scratch(n int) []byte {
	if cap(p.buf) < n {
		p.buf = make([]byte, n)
	}
	return p.buf[:n]
}

// associated returns the associated data for one page image.
func associated(kind byte, pgno uint32) [adSize]byte {
	var ad [adSize]byte
	ad[0] = kind
	ad[4], ad[5], ad[6], ad[7] = byte(pgno>>24), byte(pgno>>16), byte(pgno>>8), byte(pgno)
	return ad
}

// readFull reads len(b) bytes at off from the base file. It returns the
// count read and io.EOF when the file ends first.
func (p *pager) readFull(b []byte, off int64) (int, error) {
	n, err := p.File.ReadAt(b, off)
	if n == len(b) {
		return n, nil
	}
	if err == nil {
		err = io.EOF
	}
	return n, err
}

// seal encrypts page into the scratch buffer and writes it at off.
func (p *pager) seal(page []byte, off int64, skip int, ad []byte) (int, error) {
	out := p.scratch(len(page))
	p.cipher.Seal(out, page, skip, ad)
	return p.File.WriteAt(out, off)
}

// pageError records and returns an authentication failure.
func (p *pager) pageError(kind byte, pgno uint32, off int64, err error) error {
	return p.fail(&PageError{File: p.path, Kind: kindNames[kind], Page: pgno, Offset: off, Err: err}, ioerrData)
}

// fail records err as the connection's typed error for [ConnError] and
// returns it tagged with code for SQLite.
func (p *pager) fail(err error, code sqlite3.ExtendedErrorCode) error {
	p.errs.record(err, code)
	return p.vfs.report(err, code)
}

// DeviceCharacteristics masks the base file's flags. Whole pages are
// written in place, so powersafe overwrite, safe append and sequential
// writes carry over, but SQLite must never read less than a page (every
// read is decrypted whole).
//
// The atomic-write capabilities are cleared. With IOCAP_BATCH_ATOMIC (the
// OS VFS reports it on F2FS) or any IOCAP_ATOMIC* flag, SQLite keeps the
// rollback journal in memory and, when it must spill it, copies it to the
// journal file in chunks of about 1 KiB that straddle headers and records:
// the journal could only pass them through in plaintext, so it refuses them
// (see journalFile.WriteAt), and SQLite must never try. Without the flags
// SQLite writes the journal record by record and the database page by page,
// as on any other filesystem; the VFS does not implement the batch-atomic
// file controls either.
func (p *pager) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return p.File.DeviceCharacteristics() &^ (vfs.IOCAP_SUBPAGE_READ | atomicCaps)
}

// atomicCaps are the capabilities DeviceCharacteristics clears because
// SQLite answers them with an in-memory journal spilled in arbitrary chunks.
const atomicCaps = vfs.IOCAP_BATCH_ATOMIC | vfs.IOCAP_ATOMIC |
	vfs.IOCAP_ATOMIC512 | vfs.IOCAP_ATOMIC1K | vfs.IOCAP_ATOMIC2K | vfs.IOCAP_ATOMIC4K |
	vfs.IOCAP_ATOMIC8K | vfs.IOCAP_ATOMIC16K | vfs.IOCAP_ATOMIC32K | vfs.IOCAP_ATOMIC64K

// The optional interfaces of the base file are forwarded explicitly.
// Memory mapping is deliberately absent: it would hand SQLite ciphertext.
// Batch atomic writes (vfs.FileBatchAtomicWrite) are absent: see
// DeviceCharacteristics.
var (
	_ vfs.FileUnwrap             = (*pager)(nil)
	_ vfs.FileLockState          = (*pager)(nil)
	_ vfs.FileSharedMemory       = (*pager)(nil)
	_ vfs.FilePersistWAL         = (*pager)(nil)
	_ vfs.FilePowersafeOverwrite = (*pager)(nil)
	_ vfs.FileChunkSize          = (*pager)(nil)
	_ vfs.FileSizeHint           = (*pager)(nil)
	_ vfs.FileHasMoved           = (*pager)(nil)
	_ vfs.FileOverwrite          = (*pager)(nil)
	_ vfs.FileSync               = (*pager)(nil)
	_ vfs.FileCommitPhaseTwo     = (*pager)(nil)
	_ vfs.FileCheckpoint         = (*pager)(nil)
	_ vfs.FileBusyHandler        = (*pager)(nil)
)

func (p *pager) Unwrap() vfs.File                { return p.File }
func (p *pager) LockState() vfs.LockLevel        { return vfsutil.WrapLockState(p.File) }
func (p *pager) SharedMemory() vfs.SharedMemory  { return vfsutil.WrapSharedMemory(p.File) }
func (p *pager) PersistWAL() bool                { return vfsutil.WrapPersistWAL(p.File) }
func (p *pager) SetPersistWAL(keep bool)         { vfsutil.WrapSetPersistWAL(p.File, keep) }
func (p *pager) PowersafeOverwrite() bool        { return vfsutil.WrapPowersafeOverwrite(p.File) }
func (p *pager) SetPowersafeOverwrite(psow bool) { vfsutil.WrapSetPowersafeOverwrite(p.File, psow) }
func (p *pager) ChunkSize(size int)              { vfsutil.WrapChunkSize(p.File, size) }
func (p *pager) SizeHint(size int64) error       { return vfsutil.WrapSizeHint(p.File, size) }
func (p *pager) HasMoved() (bool, error)         { return vfsutil.WrapHasMoved(p.File) }
func (p *pager) Overwrite() error                { return vfsutil.WrapOverwrite(p.File) }
func (p *pager) SyncSuper(super string) error    { return vfsutil.WrapSyncSuper(p.File, super) }
func (p *pager) CommitPhaseTwo() error           { return vfsutil.WrapCommitPhaseTwo(p.File) }
func (p *pager) CheckpointStart()                { vfsutil.WrapCheckpointStart(p.File) }
func (p *pager) CheckpointDone()                 { vfsutil.WrapCheckpointDone(p.File) }
func (p *pager) BusyHandler(handler func() bool) { vfsutil.WrapBusyHandler(p.File, handler) }

// ioerrData is how SQLite learns of a page that failed authentication.
const ioerrData = sqlite3.IOERR_DATA
