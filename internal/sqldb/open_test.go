package sqldb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/sqlitevfs"
)

// dirState lists the files in dir with their contents.
func dirState(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s %x", e.Name(), fileBytes(t, filepath.Join(dir, e.Name()))))
	}
	slices.Sort(out)
	return out
}

// TestOpenMigrates opens a database of the schema's first version: Open
// applies the second migration and sets the version.
func TestOpenMigrates(t *testing.T) {
	path := tempPath(t)
	v1 := &Schema{AppID: toy.AppID, Migrations: toy.Migrations[:1], Counters: toy.Counters}
	db, err := Open(path, v1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if v := rawInt(t, path, "PRAGMA user_version"); v != 1 {
		t.Fatalf("user_version %d after the first version, want 1", v)
	}
	db = openToy(t, path, nil)
	if err := db.Write(context.Background(), func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO items (id, owner, size) VALUES (1, 'x', 3)`)
		return err
	}); err != nil {
		t.Fatalf("the second migration's column: %v", err)
	}
	db.Close()
	if v := rawInt(t, path, "PRAGMA user_version"); v != int64(toy.Version()) {
		t.Fatalf("user_version %d, want %d", v, toy.Version())
	}
	if v := rawInt(t, path, "PRAGMA application_id"); v != int64(toy.AppID) {
		t.Fatalf("application_id %#x, want %#x", v, toy.AppID)
	}
}

// TestOpenNewerSchema: a database of a newer version fails with
// ErrNewerSchema and is not changed.
func TestOpenNewerSchema(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprint("encrypted=", key != nil), func(t *testing.T) {
			path := tempPath(t)
			openToy(t, path, key).Close()
			rawExec(t, path, key, fmt.Sprintf("PRAGMA user_version=%d", toy.Version()+1))
			before := dirState(t, filepath.Dir(path))
			db, err := Open(path, toy, Options{Key: key})
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, ErrNewerSchema) {
				t.Fatalf("open of a newer version: %v, want ErrNewerSchema", err)
			}
			if after := dirState(t, filepath.Dir(path)); !slices.Equal(before, after) {
				t.Fatal("the failed open changed the directory")
			}
		})
	}
}

// TestOpenNotStore: a database of another application, or of none, fails
// with ErrNotStore and is not changed.
func TestOpenNotStore(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string)
	}{
		{"foreign wal", func(t *testing.T, path string) { createForeignDB(t, path, engine.Options{}) }},
		{"foreign rollback", func(t *testing.T, path string) {
			createForeignDB(t, path, engine.Options{JournalMode: "delete"})
		}},
		{"other application", func(t *testing.T, path string) {
			openToy(t, path, nil).Close()
			rawExec(t, path, nil, "PRAGMA application_id=1")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := tempPath(t)
			c.setup(t, path)
			before := dirState(t, filepath.Dir(path))
			db, err := Open(path, toy, Options{})
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, ErrNotStore) {
				t.Fatalf("open: %v, want ErrNotStore", err)
			}
			if runtime.GOOS != "linux" {
				return // the -wal and -shm cleanup runs on Linux only
			}
			if after := dirState(t, filepath.Dir(path)); !slices.Equal(before, after) {
				t.Fatalf("the failed open changed the directory:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

// TestOpenWrongKey: a database opened with another key fails with
// sqlitevfs.ErrWrongKey and, on Linux, leaves no new files.
func TestOpenWrongKey(t *testing.T) {
	path := tempPath(t)
	db := openToy(t, path, testKey)
	mustAdd(t, db, "x")
	db.Close()
	before := dirState(t, filepath.Dir(path))
	db, err := Open(path, toy, Options{Key: otherKey})
	if err == nil {
		db.Close()
	}
	if !errors.Is(err, sqlitevfs.ErrWrongKey) {
		t.Fatalf("open with another key: %v, want ErrWrongKey", err)
	}
	if strings.Contains(err.Error(), fmt.Sprintf("%x", otherKey[:8])) {
		t.Fatalf("the error shows the key: %v", err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	if after := dirState(t, filepath.Dir(path)); !slices.Equal(before, after) {
		t.Fatalf("the failed open changed the directory:\nbefore %q\nafter  %q", before, after)
	}
}

// TestOpenFailKeepsFilesInUse checks the guard of the cleanup after a
// failed open: while any connection (here a DB, or a plain reader of a
// foreign database) has the database open, its -wal and -shm count as in
// use and are never removed.
func TestOpenFailKeepsFilesInUse(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the cleanup runs on Linux only")
	}
	unused := func(path string) bool {
		unlock, ok := lockUnused(path)
		if ok {
			unlock()
		}
		return ok
	}
	path := tempPath(t)
	db, err := Open(path, toy, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "x")
	if unused(path) {
		t.Fatal("the files of an open database count as unused")
	}
	db2, err := Open(path, toy, Options{Key: otherKey})
	if err == nil {
		db2.Close()
		t.Fatal("open with the wrong key succeeded")
	}
	for _, p := range []string{path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("after a failed open next to an open database: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if !unused(path) {
		t.Fatal("the files of a closed database count as in use")
	}

	foreign := filepath.Join(t.TempDir(), "foreign.db")
	createForeignDB(t, foreign, engine.Options{})
	c, err := engine.Open(foreign, engine.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec("BEGIN; SELECT count(*) FROM notes; COMMIT"); err != nil {
		t.Fatal(err)
	}
	if unused(foreign) {
		t.Fatal("the files of a database a reader has open count as unused")
	}
}

// TestOpenInvalid: bad arguments fail with ErrInvalidArgument and create
// nothing.
func TestOpenInvalid(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "x.db")
	k := &Counter{Name: "k"}
	for name, c := range map[string]struct {
		path   string
		schema *Schema
		o      Options
	}{
		"empty path":      {"", toy, Options{}},
		"nil schema":      {path, nil, Options{}},
		"no app ID":       {path, &Schema{Migrations: toy.Migrations}, Options{}},
		"no migrations":   {path, &Schema{AppID: 1}, Options{}},
		"short key":       {path, toy, Options{Key: testKey[:16]}},
		"negative reader": {path, toy, Options{Readers: -1}},
		"counter twice":   {path, &Schema{AppID: 1, Migrations: toy.Migrations, Counters: []*Counter{k, k}}, Options{}},
		"unnamed counter": {path, &Schema{AppID: 1, Migrations: toy.Migrations, Counters: []*Counter{{}}}, Options{}},
	} {
		db, err := Open(c.path, c.schema, c.o)
		if err == nil {
			db.Close()
		}
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("invalid opens created %d entries", len(entries))
	}
}

// TestBindUnsupported: an argument of an unsupported type is an error,
// not a panic.
func TestBindUnsupported(t *testing.T) {
	db := openToy(t, tempPath(t), nil)
	err := db.Write(context.Background(), func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO items (id, owner) VALUES (?, ?)`, 1, struct{}{})
		return err
	})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("binding a struct: %v, want ErrInvalidArgument", err)
	}
}

// TestReadDamagedPage damages the pages of an encrypted database: a read
// fails with an error that carries the PageError naming the file, the
// read connection's own typed error.
func TestReadDamagedPage(t *testing.T) {
	path := tempPath(t)
	db := openToy(t, path, testKey)
	note := bytes.Repeat([]byte("n"), 3000)
	for i := range 60 {
		err := db.Write(context.Background(), func(tx *Tx) error {
			id, err := tx.Next(toyIDs)
			if err != nil {
				return err
			}
			note[0] = byte('a' + i%26)
			_, err = tx.Exec(`INSERT INTO items (id, owner, note) VALUES (?, 'x', ?)`, id, string(note))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	raw := fileBytes(t, path)
	size := int(binary.BigEndian.Uint16(raw[16:18]))
	if size == 1 {
		size = 65536
	}
	pages := len(raw) / size
	if pages < 20 {
		t.Fatalf("database has %d pages, want at least 20", pages)
	}
	for pg := pages / 2; pg < pages; pg++ {
		raw[pg*size+100] ^= 1
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openToy(t, path, testKey)
	err := db.Read(context.Background(), func(q *ReadTx) error {
		_, err := QueryInt(q.Conn(), `SELECT sum(length(note)) FROM items`)
		return err
	})
	var pe *sqlitevfs.PageError
	if !errors.As(err, &pe) || pe.File != path || !errors.Is(err, sqlitevfs.ErrAuth) {
		t.Fatalf("reading the damaged database: %v, want a PageError for %s", err, path)
	}
}
