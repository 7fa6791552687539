package sqlitevfs_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofastr/store/internal/engine"
)

// Test_fileformat opens testdata/golden.db, written by an earlier build
// (testdata/gen_golden.go), so a change to the page format cannot go
// unnoticed: files written by released versions must keep opening.
func Test_fileformat(t *testing.T) {
	golden, err := os.ReadFile("testdata/golden.db")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(golden[:8]); got != "gfstore\x01" {
		t.Fatalf("magic = %q, want %q", got, "gfstore\x01")
	}
	path := filepath.Join(t.TempDir(), "golden.db")
	if err := os.WriteFile(path, golden, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := engine.RegisterKey(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	c, err := engine.Open(path, engine.Options{VFS: k.Name, Encrypted: true, JournalMode: "delete", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	st, _, err := c.Prepare(`SELECT (SELECT user_version FROM pragma_user_version), (SELECT integrity_check FROM pragma_integrity_check), (SELECT page_size FROM pragma_page_size), group_concat(v, ',') FROM golden`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.Step() {
		t.Fatal(st.Err())
	}
	if got := st.ColumnInt(0); got != 7 {
		t.Errorf("user_version = %d, want 7", got)
	}
	if got := st.ColumnText(1); got != "ok" {
		t.Errorf("integrity_check = %q, want ok", got)
	}
	if got := st.ColumnInt(2); got != 1024 {
		t.Errorf("page_size = %d, want 1024", got)
	}
	if got, want := st.ColumnText(3), "gofastr,store,"+strings.Repeat("x", 3000); got != want {
		t.Errorf("rows = %.40q…, want %.40q…", got, want)
	}
	if bytes.Contains(golden, []byte("gofastr")) || bytes.Contains(golden, []byte("xxxxxxxx")) || bytes.Contains(golden, []byte("CREATE TABLE")) {
		t.Error("golden.db contains plaintext")
	}
}
