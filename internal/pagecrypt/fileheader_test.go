package pagecrypt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/internal/pagecrypt/internal/testkit"
)

// TestFileHeader checks the documented plaintext prefix of page 1: the
// magic in bytes 0..7, the key check in bytes 8..15, SQLite's bytes 16..
// untouched; and that FileUsesKey tells the key it was written with from
// another.
func TestFileHeader(t *testing.T) {
	keyA, keyB := rnd("file header A").Bytes(32), rnd("file header B").Bytes(32)
	page := bytes.Repeat([]byte{0xee}, 4096)
	copy(page, "SQLite format 3\x00")
	newCipher(t, keyA).PutFileHeader(page)
	want := append([]byte("gfstore\x01"), testkit.KeyCheck(keyA)...)
	if !bytes.Equal(page[:16], want) {
		t.Fatalf("prefix = %x, want %x", page[:16], want)
	}
	if page[16] != 0xee || pagecrypt.FilePrefixSize != 24 {
		t.Fatalf("PutFileHeader wrote past byte 15, or the prefix is not 24 bytes (%d)", pagecrypt.FilePrefixSize)
	}
	if !newCipher(t, keyA).HasKeyCheck(page) || newCipher(t, keyB).HasKeyCheck(page) {
		t.Fatal("HasKeyCheck does not tell the writing key from another")
	}
	if newCipher(t, keyA).HasKeyCheck(page[:15]) {
		t.Fatal("HasKeyCheck accepted a header too short to hold the key check")
	}

	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, page, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  []byte
		want bool
	}{{keyA, true}, {keyB, false}} {
		got, err := pagecrypt.FileUsesKey(path, c.key)
		if err != nil || got != c.want {
			t.Fatalf("FileUsesKey = %v, %v; want %v", got, err, c.want)
		}
	}
	if err := os.WriteFile(path, page[:12], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pagecrypt.FileUsesKey(path, keyA); err == nil {
		t.Fatal("FileUsesKey accepted a 12-byte file")
	}
	if _, err := pagecrypt.FileUsesKey(filepath.Join(t.TempDir(), "missing"), keyA); err == nil {
		t.Fatal("FileUsesKey accepted a missing file")
	}
	if _, err := pagecrypt.FileUsesKey(path, keyA[:16]); err == nil {
		t.Fatal("FileUsesKey accepted a 16-byte key")
	}
}
