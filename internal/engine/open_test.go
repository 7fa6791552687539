package engine

import (
	"path/filepath"
	"testing"
)

// TestTempStore: every connection, plaintext or encrypted, read-write or
// read-only, runs with temp_store=file (1), so SQLite's temporary files
// go through the VFS and not into its capped Wasm heap.
func TestTempStore(t *testing.T) {
	k, err := RegisterKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	for _, o := range []Options{{}, {VFS: k.Name, Encrypted: true}} {
		path := filepath.Join(t.TempDir(), "t.db")
		for _, readOnly := range []bool{false, true} {
			o.ReadOnly = readOnly
			c, err := Open(path, o)
			if err != nil {
				t.Fatal(err)
			}
			if !readOnly {
				if err := c.Exec(`CREATE TABLE t (x)`); err != nil {
					t.Fatal(err)
				}
			}
			st, _, err := c.Prepare(`PRAGMA temp_store`)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Step() {
				t.Fatalf("PRAGMA temp_store: no row: %v", st.Err())
			}
			if got := st.ColumnInt(0); got != 1 {
				t.Errorf("VFS %q, read-only %v: temp_store %d, want 1 (file)", o.VFS, readOnly, got)
			}
			st.Close()
			c.Close()
		}
	}
}
