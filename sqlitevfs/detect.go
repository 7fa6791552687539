package sqlitevfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
)

// A FileKind says what a database file is, from its first bytes.
type FileKind int

const (
	// FileMissing is a path with no file, an empty file, or a file whose
	// first 16 bytes are all zero: a new database, possibly one that
	// SQLite has extended but whose first page is not written yet.
	FileMissing FileKind = iota
	// FileEncrypted is a database written through this package's VFS.
	FileEncrypted
	// FilePlaintext is an ordinary (unencrypted) SQLite database.
	FilePlaintext
	// FileOther is anything else.
	FileOther
)

// Detect reports what the file at path is, reading only its first 16
// bytes; it needs no key.
func Detect(path string) (FileKind, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return FileMissing, nil
	}
	if err != nil {
		return FileOther, err
	}
	defer f.Close()
	var hdr [16]byte
	n, err := io.ReadFull(f, hdr[:])
	switch {
	case n == 0 && err == io.EOF:
		return FileMissing, nil
	case err == nil && hdr == [16]byte{}:
		return FileMissing, nil
	case n >= len(fileMagic) && string(hdr[:len(fileMagic)]) == fileMagic:
		return FileEncrypted, nil
	case err == nil && bytes.Equal(hdr[:], sqliteMagic):
		return FilePlaintext, nil
	case err != nil && err != io.ErrUnexpectedEOF:
		return FileOther, err
	}
	return FileOther, nil
}
