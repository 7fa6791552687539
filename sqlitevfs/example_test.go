package sqlitevfs_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/embed" // the SQLite Wasm binary
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/sqlitevfs"
)

// A VFS made by Wrap carries its key, so no key appears in the URI. Call
// SetReserve on each new connection before the first write.
func ExampleWrap() {
	key := bytes.Repeat([]byte{0x01}, sqlitevfs.KeySize) // a random data key from a keyring in real code
	v, err := sqlitevfs.Wrap(nil, key)
	if err != nil {
		log.Fatal(err)
	}
	vfs.Register("example-store", v)
	defer vfs.Unregister("example-store")

	dir, err := os.MkdirTemp("", "sqlitevfs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "notes.db")

	c, err := sqlite3.Open("file:" + filepath.ToSlash(path) + "?vfs=example-store")
	if err != nil {
		log.Fatal(err)
	}
	if err := sqlitevfs.SetReserve(c, "main"); err != nil {
		log.Fatal(err)
	}
	err = c.Exec(`
		PRAGMA journal_mode=wal;
		CREATE TABLE notes(body TEXT);
		INSERT INTO notes VALUES('meet at noon');`)
	if err != nil {
		log.Fatal(err)
	}
	stmt, _, err := c.Prepare(`SELECT body FROM notes`)
	if err != nil {
		log.Fatal(err)
	}
	for stmt.Step() {
		fmt.Println(stmt.ColumnText(0))
	}
	stmt.Close()
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", raw[:8])
	fmt.Println(bytes.Contains(raw, []byte("meet at noon")))
	// Output:
	// meet at noon
	// "gfstore\x01"
	// false
}

// Register installs the stable-name VFS, which takes the key from the
// hexkey URI parameter. Anything that sees the URI sees the key.
func ExampleRegister() {
	sqlitevfs.Register()

	dir, err := os.MkdirTemp("", "sqlitevfs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	key := bytes.Repeat([]byte{0x02}, sqlitevfs.KeySize)
	uri := "file:" + filepath.ToSlash(filepath.Join(dir, "kv.db")) +
		"?vfs=" + sqlitevfs.Name + "&hexkey=" + hex.EncodeToString(key)

	c, err := sqlite3.Open(uri)
	if err != nil {
		log.Fatal(err)
	}
	if err := sqlitevfs.SetReserve(c, "main"); err != nil {
		log.Fatal(err)
	}
	if err := c.Exec(`CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES('a', 'b')`); err != nil {
		log.Fatal(err)
	}
	c.Close()

	wrong := bytes.Repeat([]byte{0x03}, sqlitevfs.KeySize)
	_, err = sqlite3.Open(uri[:len(uri)-64] + hex.EncodeToString(wrong))
	fmt.Println(errors.Is(err, sqlitevfs.ErrWrongKey), errors.Is(err, sqlite3.IOERR_BADKEY))
	// Output:
	// true true
}

// A page that fails authentication is an I/O error for SQLite; ConnError
// adds the PageError that says which file and page.
func ExampleConnError() {
	key := bytes.Repeat([]byte{0x04}, sqlitevfs.KeySize)
	v, err := sqlitevfs.Wrap(nil, key)
	if err != nil {
		log.Fatal(err)
	}
	vfs.Register("example-tamper", v)
	defer vfs.Unregister("example-tamper")

	dir, err := os.MkdirTemp("", "sqlitevfs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "t.db")
	uri := "file:" + filepath.ToSlash(path) + "?vfs=example-tamper"

	c, err := sqlite3.Open(uri)
	if err != nil {
		log.Fatal(err)
	}
	if err := sqlitevfs.SetReserve(c, "main"); err != nil {
		log.Fatal(err)
	}
	if err := c.Exec(`CREATE TABLE t(x); INSERT INTO t VALUES('hello')`); err != nil {
		log.Fatal(err)
	}
	c.Close()

	// Flip one byte of page 2 (the table) on disk.
	raw, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	raw[4096+100] ^= 1
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		log.Fatal(err)
	}

	c, err = sqlite3.Open(uri)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = sqlitevfs.ConnError(c, c.Exec(`SELECT * FROM t`))
	fmt.Println(errors.Is(err, sqlite3.IOERR_DATA))
	var pe *sqlitevfs.PageError
	if errors.As(err, &pe) {
		fmt.Println(pe.Kind, pe.Page, errors.Is(pe, sqlitevfs.ErrAuth))
	}
	// Output:
	// true
	// db 2 true
}
