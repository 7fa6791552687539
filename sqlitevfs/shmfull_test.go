//go:build linux

package sqlitevfs_test

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/smallfs"
	"github.com/gofastr/store/sqlitevfs"
)

// TestShmFull opens a database whose WAL holds commits but whose WAL index
// (-shm) is gone, as after a copy or a reboot, on a full filesystem: the
// index cannot be allocated, SQLite reports IOERR_SHMSIZE without the OS
// error, and the connection's error must still be ErrDiskFull (and
// ENOSPC), naming the -shm file. Once space is freed the database opens
// with every row. Encrypted and plaintext.
func TestShmFull(t *testing.T) {
	for _, enc := range []bool{true, false} {
		name := map[bool]string{true: "encrypted", false: "plaintext"}[enc]
		t.Run(name, func(t *testing.T) {
			o := engine.Options{JournalMode: "wal"}
			if enc {
				o = encrypted(register(t, newKey(t)), "wal")
			}
			src := filepath.Join(t.TempDir(), "a.db")
			c := open(t, src, o)
			mustExec(t, c, "CREATE TABLE t (i INTEGER PRIMARY KEY, v BLOB); INSERT INTO t SELECT value, randomblob(3000) FROM generate_series(1, 20)")
			dir := smallfs.Mount(t, "1m")
			copyFiles(t, filepath.Dir(src), dir, "a.db", "a.db-wal") // the WAL without its index
			closeConn(t, c)
			path := filepath.Join(dir, "a.db")

			smallfs.Fill(t, dir, 0)
			c2, err := engine.Open(path, o)
			if err == nil {
				c2.Close()
				t.Fatal("open on a full filesystem succeeded: the WAL index needed no space")
			}
			if !errors.Is(err, sqlitevfs.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "a.db-shm") {
				t.Fatalf("open on a full filesystem: %v; want ErrDiskFull, ENOSPC, naming a.db-shm", err)
			}
			smallfs.Empty(t, dir)
			c3 := open(t, path, o)
			if n := queryInt(t, c3, "SELECT count(*) FROM t"); n != 20 {
				t.Fatalf("%d rows after freeing space, want 20", n)
			}
			closeConn(t, c3)
		})
	}
}
