//go:build ignore

// gen_golden writes testdata/golden.db: a small encrypted database in
// rollback-journal mode whose contents Test_fileformat checks. Run it only
// when the page format changes on purpose (and bump pagecrypt.FileMagic then):
//
//	go run ./testdata/gen_golden.go [-out dir]
//
// -out (default testdata) is the directory golden.db is written to. The
// file is not byte-for-byte reproducible: pages are sealed under random
// nonces. go run ./internal/cmd/genvectors regenerates it only when asked
// by name, and its check mode skips it, saying so.
package main

import (
	"bytes"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/gofastr/store/internal/engine"
)

var outDir = flag.String("out", "testdata", "directory golden.db is written to")

func main() {
	flag.Parse()
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(*outDir, "golden.db")
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
