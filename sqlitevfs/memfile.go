package sqlitevfs

import (
	"io"

	"github.com/ncruces/go-sqlite3/vfs"
)

// memFile is a temporary file that lives in memory: temp databases,
// statement journals and VACUUM's scratch database never reach the
// filesystem, so they need no encryption. SQLite opens each temporary file
// from a single connection and deletes it on close, so there is no sharing
// and no locking.
type memFile struct {
	data []byte
}

var _ vfs.File = (*memFile)(nil)

func (m *memFile) Close() error {
	clear(m.data)
	m.data = nil
	return nil
}

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.data)) {
		m.grow(end)
	}
	return copy(m.data[off:], p), nil
}

func (m *memFile) grow(size int64) {
	if size <= int64(cap(m.data)) {
		m.data = m.data[:size]
		return
	}
	d := make([]byte, size, max(size, 2*int64(cap(m.data))))
	copy(d, m.data)
	clear(m.data)
	m.data = d
}

func (m *memFile) Truncate(size int64) error {
	if size < int64(len(m.data)) {
		clear(m.data[size:])
		m.data = m.data[:size]
	} else {
		m.grow(size)
	}
	return nil
}

func (m *memFile) Size() (int64, error)             { return int64(len(m.data)), nil }
func (m *memFile) Sync(vfs.SyncFlag) error          { return nil }
func (m *memFile) Lock(vfs.LockLevel) error         { return nil }
func (m *memFile) Unlock(vfs.LockLevel) error       { return nil }
func (m *memFile) CheckReservedLock() (bool, error) { return false, nil }
func (m *memFile) SectorSize() int                  { return 0 }
func (m *memFile) DeviceCharacteristics() vfs.DeviceCharacteristic {
	return vfs.IOCAP_ATOMIC | vfs.IOCAP_SEQUENTIAL | vfs.IOCAP_SAFE_APPEND | vfs.IOCAP_POWERSAFE_OVERWRITE | vfs.IOCAP_SUBPAGE_READ
}
