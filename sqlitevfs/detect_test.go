package sqlitevfs_test

import (
	"path/filepath"
	"testing"

	"github.com/gofastr/store/sqlitevfs"
)

// TestDetect tells apart a missing, an empty (or not yet written), an
// encrypted, a plaintext and a foreign file without a key.
func TestDetect(t *testing.T) {
	dir := testDir(t)
	key := newKey(t)
	plain, enc, _ := foreignFiles(t, key)
	empty, other := filepath.Join(dir, "empty"), filepath.Join(dir, "other")
	writeFile(t, empty, nil)
	writeFile(t, other, []byte("not a database at all"))
	// A new database SQLite has extended but whose first page it has not
	// written yet.
	zeros := filepath.Join(dir, "zeros")
	writeFile(t, zeros, make([]byte, 4096))
	for _, tc := range []struct {
		path string
		want sqlitevfs.FileKind
	}{
		{filepath.Join(dir, "missing"), sqlitevfs.FileMissing},
		{empty, sqlitevfs.FileMissing},
		{enc, sqlitevfs.FileEncrypted},
		{plain, sqlitevfs.FilePlaintext},
		{other, sqlitevfs.FileOther},
		{zeros, sqlitevfs.FileMissing},
	} {
		if got, err := sqlitevfs.Detect(tc.path); err != nil || got != tc.want {
			t.Errorf("Detect(%s) = %v, %v; want %v", filepath.Base(tc.path), got, err, tc.want)
		}
	}
}
