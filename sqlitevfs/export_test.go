package sqlitevfs

import (
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// ReadAheadTaken returns how many pages the read-ahead of c's main
// database file has served, or -1 if c's main file is not this VFS's.
func ReadAheadTaken(c *sqlite3.Conn) int {
	f, err := c.FileControl("main", sqlite3.FCNTL_FILE_POINTER)
	if err != nil {
		return -1
	}
	vf, ok := f.(vfs.File)
	if !ok {
		return -1
	}
	d, ok := vfsutil.UnwrapFile[*dbFile](vf)
	if !ok {
		return -1
	}
	if d.ra == nil {
		return 0
	}
	return d.ra.taken
}

// Derivations returns how many epoch subkeys v's own key has derived, or 0
// for a URI-keyed VFS.
func Derivations(v *VFS) uint64 {
	if v.cipher == nil {
		return 0
	}
	return v.cipher.Derivations()
}

// PendingError returns the typed error the VFS recorded for c and no
// ConnError took yet, without taking it.
func PendingError(c *sqlite3.Conn) error {
	errs := connErrsOf(c)
	if errs == nil {
		return nil
	}
	if rec := errs.last.Load(); rec != nil {
		return rec.err
	}
	return nil
}
