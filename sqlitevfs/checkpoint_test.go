package sqlitevfs_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/sqlitevfs"
)

// TestCheckpointCopiesSealed covers the checkpoint shortcut: frames are
// copied into the database still sealed. The copy must leave no plaintext
// on disk and the data intact, and a frame modified on disk before the
// checkpoint must be caught when the page is read from the database.
func TestCheckpointCopiesSealed(t *testing.T) {
	for _, tamper := range []bool{false, true} {
		name := map[bool]string{false: "intact", true: "tampered"}[tamper]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt.db")
			k := register(t, newKey(t))
			opts := encrypted(k, "wal")
			opts.Synchronous = "normal"
			c := open(t, path, opts)
			hexMarker := []byte(hex.EncodeToString(newKey(t)[:16]))
			mustExec(t, c, "PRAGMA wal_autocheckpoint=0; CREATE TABLE t (i INTEGER PRIMARY KEY, v TEXT)")
			mustExec(t, c, "INSERT INTO t SELECT value, '"+string(hexMarker)+"' || printf('%.900c', 'x') FROM generate_series(1, 200)")
			wal, err := os.ReadFile(path + "-wal")
			if err != nil || len(wal) < 32+3*(24+4096) {
				t.Fatalf("WAL too small to test: %d bytes, %v", len(wal), err)
			}
			if tamper {
				// Flip a byte in the image of the last frame: the latest
				// version of its page, never page 1.
				last := 32 + (len(wal)-32)/(24+4096)*(24+4096) - 4096
				f, err := os.OpenFile(path+"-wal", os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				b := []byte{wal[last+100] ^ 0x40}
				if _, err := f.WriteAt(b, int64(last+100)); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			if _, _, err := c.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE); err != nil {
				t.Fatalf("checkpoint: %v", sqlitevfs.ConnError(c, err))
			}
			db, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(db, hexMarker) || bytes.Contains(db, bytes.Repeat([]byte("x"), 64)) {
				t.Fatal("the checkpoint wrote plaintext to the database file")
			}

			// A fresh connection reads from the database file only.
			r := open(t, path, opts)
			st, _, err := r.Prepare("SELECT count(*), sum(v LIKE '" + string(hexMarker) + "%') FROM t")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ok := st.Step()
			err = sqlitevfs.ConnError(r, st.Err())
			switch {
			case !tamper && (!ok || err != nil):
				t.Fatalf("read after checkpoint: %v", err)
			case !tamper && (st.ColumnInt(0) != 200 || st.ColumnInt(1) != 200):
				t.Fatalf("rows = %d/%d, want 200/200", st.ColumnInt(0), st.ColumnInt(1))
			case tamper:
				var pe *sqlitevfs.PageError
				if !errors.Is(err, sqlite3.IOERR_DATA) || !errors.As(err, &pe) || pe.Kind != "db" {
					t.Fatalf("read of the tampered page: %v; want IOERR_DATA with a db PageError", err)
				}
			}
		})
	}
}
