package pagecrypt

import (
	"crypto/subtle"
	"fmt"
	"io"
	"os"
)

// The plaintext prefix of an encrypted database file.
//
// Page 1 of a database keeps its first [FilePrefixSize] bytes in
// plaintext (authenticated with the page as its sealing prefix):
//
//	magic[8] ‖ key check[8] ‖ SQLite header bytes 16..23
//
// The magic, [FileMagic], replaces the first 8 bytes of "SQLite format
// 3\0"; the key check ([Cipher.KeyCheck]) replaces the other 8 and names
// the DEK the file is sealed under without revealing it.
//
// The layout is defined here, beside the derivation of the key check,
// rather than in package sqlitevfs, which writes it: package keyring reads
// it to tell which DEK a database is sealed under (to finish or roll back
// an interrupted rekey, and to check an escrowed DEK), and must do so
// without linking SQLite. This package imports nothing from SQLite, so
// both use this one definition.
const (
	// FileMagic is the first 8 bytes of an encrypted database file; it
	// names the version of the page layout.
	FileMagic = "gfstore\x01"
	// KeyCheckOffset and KeyCheckSize locate the key check in the file.
	KeyCheckOffset = len(FileMagic)
	KeyCheckSize   = 8
	// FilePrefixSize is the plaintext, authenticated prefix of page 1:
	// the magic, the key check and SQLite's header bytes 16..23 (page
	// size, file format versions, reserved bytes, payload fractions).
	FilePrefixSize = 24
)

// PutFileHeader writes the magic and c's key check over the first 16
// bytes of page 1 (SQLite's "SQLite format 3\0"), which must be at least
// [FilePrefixSize] bytes long.
func (c *Cipher) PutFileHeader(page1 []byte) {
	copy(page1, FileMagic)
	copy(page1[KeyCheckOffset:KeyCheckOffset+KeyCheckSize], c.check[:])
}

// HasKeyCheck reports whether hdr, the first bytes of a database file
// (at least KeyCheckOffset+KeyCheckSize of them), carries c's key check.
// The comparison takes constant time. It does not look at the magic.
func (c *Cipher) HasKeyCheck(hdr []byte) bool {
	if len(hdr) < KeyCheckOffset+KeyCheckSize {
		return false
	}
	return subtle.ConstantTimeCompare(hdr[KeyCheckOffset:KeyCheckOffset+KeyCheckSize], c.check[:]) == 1
}

// FileUsesKey reports whether the database file at path is sealed under
// dek, by the key check in its plaintext prefix. It reads only the first
// 16 bytes of the file; a file shorter than that is an error.
func FileUsesKey(path string, dek []byte) (bool, error) {
	c, err := New(dek)
	if err != nil {
		return false, err
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var hdr [KeyCheckOffset + KeyCheckSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false, fmt.Errorf("read header of %s: %w", path, err)
	}
	return c.HasKeyCheck(hdr[:]), nil
}
