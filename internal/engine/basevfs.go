package engine

import (
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/sqlitevfs"
)

// hook is the base VFS set by SetBaseVFS.
var hook struct {
	sync.Mutex
	base  vfs.VFS // nil: the OS VFS
	plain string  // the plaintext VFS registered over base
}

// SetBaseVFS makes every VFS the engine registers from now on wrap base
// instead of the OS VFS: the keyed encrypting VFS of [RegisterKey] and the
// plaintext VFS of a connection whose [Options.VFS] is empty. VFSes
// registered before the call keep their base. restore puts the previous
// base back (the OS VFS after the first call).
//
// It is process-global and meant for tests that inject faults under the
// encrypting VFS; the library never calls it. A nil base means the OS VFS.
// Call restore only after every connection opened since SetBaseVFS is
// closed: it unregisters the plaintext VFS registered over base, which
// such a connection may still use.
func SetBaseVFS(base vfs.VFS) (restore func()) {
	var plain string
	if base != nil {
		var id [8]byte
		rand.Read(id[:])
		plain = sqlitevfs.PlainVFSName + "-" + hex.EncodeToString(id[:])
		vfs.Register(plain, sqlitevfs.WrapPlain(base))
	}
	hook.Lock()
	prevBase, prevPlain := hook.base, hook.plain
	hook.base, hook.plain = base, plain
	hook.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			hook.Lock()
			hook.base, hook.plain = prevBase, prevPlain
			hook.Unlock()
			if plain != "" {
				vfs.Unregister(plain)
			}
		})
	}
}

// currentBase returns the base VFS for a new encrypting VFS: nil (the OS
// VFS) unless SetBaseVFS set one.
func currentBase() vfs.VFS {
	hook.Lock()
	defer hook.Unlock()
	return hook.base
}

// plainVFSName returns the registered name of the plaintext VFS.
func plainVFSName() string {
	hook.Lock()
	plain := hook.plain
	hook.Unlock()
	if plain != "" {
		return plain
	}
	sqlitevfs.RegisterPlain()
	return sqlitevfs.PlainVFSName
}
