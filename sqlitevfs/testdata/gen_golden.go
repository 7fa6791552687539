//go:build ignore

// gen_golden writes testdata/golden.db: a small encrypted database in
// rollback-journal mode whose contents Test_fileformat checks. Run it only
// when the page format changes on purpose (and bump pagecrypt.FileMagic then):
//
//	go run ./testdata/gen_golden.go
package main

import (
	"bytes"
	"log"
	"os"

	"github.com/gofastr/store/internal/engine"
)

func main() {
	const path = "testdata/golden.db"
	os.Remove(path)
	k, err := engine.RegisterKey(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		log.Fatal(err)
	}
	c, err := engine.Open(path, engine.Options{VFS: k.Name, Encrypted: true, JournalMode: "delete", PageSize: 1024})
	if err != nil {
		log.Fatal(err)
	}
	err = c.Exec(`PRAGMA user_version=7;
		CREATE TABLE golden (id INTEGER PRIMARY KEY, v TEXT);
		INSERT INTO golden (v) VALUES ('gofastr'), ('store'), (printf('%.3000c', 'x'));`)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
}
