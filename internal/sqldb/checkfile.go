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
		h, err := plainHeader(path)
		if err != nil {
			return err
		}
		switch id := binary.BigEndian.Uint32(h.hdr[appIDOffset:]); {
		case h.short:
			return fmt.Errorf("%w: an SQLite database header cut short", ErrNotStore)
		case id != 0 && id != uint32(schema.AppID):
			return fmt.Errorf("%w: an SQLite database of another application (application ID %#08x)", ErrNotStore, id)
		case id == 0 && h.tables:
			// A store sets its application ID in the transaction that
			// creates its first table, and both live on page 1: page 1
			// with tables and no ID was written by someone else. (A
			// newer page 1 in a WAL cannot turn it into a store.)
			return fmt.Errorf("%w: an SQLite database of another application (no application ID, and tables)", ErrNotStore)
		}
	}
	return nil
}

// plainPage1 is what CheckFile reads of a plaintext database's page 1.
type plainPage1 struct {
	hdr    [headerSize]byte
	short  bool // the file is shorter than SQLite's 100-byte header
	tables bool // page 1, the schema table's root, lists tables
}

// plainHeader reads the header of the plaintext SQLite database at path
// and whether its schema table (rooted on page 1, right after the header)
// is empty: a leaf page with no cells.
func plainHeader(path string) (plainPage1, error) {
	var p plainPage1
	f, err := os.Open(path)
	if err != nil {
		return p, err
	}
	defer f.Close()
	var b [headerSize + 8]byte // the header and the b-tree page header
	n, err := f.ReadAt(b[:], 0)
	switch {
	case n < headerSize:
		if err == io.EOF {
			p.short = true
			return p, nil
		}
		return p, err
	case n < len(b):
		// A header and no page: nothing to tell.
	default:
		const leafTable = 0x0d
		pageType, cells := b[headerSize], binary.BigEndian.Uint16(b[headerSize+3:])
		p.tables = pageType != leafTable || cells > 0
		if pageType == 0 {
			p.tables = false // not written yet
		}
	}
	copy(p.hdr[:], b[:headerSize])
	return p, nil
}
