package sqldb

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/gofastr/store/sqlitevfs"
)

// An SQLite database header is 100 bytes; its application ID is the
// 4-byte big-endian integer at offset 68.
const (
	headerSize  = 100
	appIDOffset = 68
)

// CheckFile reports, from the file's first bytes alone and without a key
// or a connection, whether the file at path cannot be a database of
// schema: an error wrapping [ErrNotStore] for a file that is not an SQLite
// database at all, or a plaintext SQLite database whose header names
// another application. A missing or new file, an encrypted database (its
// header is sealed) and a plaintext database of the schema's application
// (or of none yet) pass; Open checks them further. Open calls it before
// any connection touches the file, so such a file is never changed, even
// with a hot journal next to it.
func CheckFile(path string, schema *Schema) error {
	kind, err := sqlitevfs.Detect(path)
	if err != nil {
		return err
	}
	switch kind {
	case sqlitevfs.FileOther:
		return fmt.Errorf("%w: not an SQLite database", ErrNotStore)
	case sqlitevfs.FilePlaintext:
		id, short, err := plainAppID(path)
		if err != nil {
			return err
		}
		if short {
			return fmt.Errorf("%w: an SQLite database header cut short", ErrNotStore)
		}
		if id != 0 && id != uint32(schema.AppID) {
			return fmt.Errorf("%w: an SQLite database of another application (application ID %#08x)", ErrNotStore, id)
		}
	}
	return nil
}

// plainAppID reads the application ID from the header of the plaintext
// SQLite database at path; short reports a file shorter than SQLite's
// 100-byte database header, which SQLite cannot open either.
func plainAppID(path string) (id uint32, short bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		if err == io.EOF {
			return 0, true, nil
		}
		return 0, false, err
	}
	return binary.BigEndian.Uint32(h[appIDOffset:]), false, nil
}
