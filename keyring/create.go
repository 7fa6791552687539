package keyring

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Creating a store with [LoadOrCreateDEKWith] writes a marker,
// <db>.dek.creating, before the new header, and removes it once the
// callback has created the database. Every step runs under the header
// lock, so while the marker exists no other process has opened the store:
// a marker found by a later call means its creation never finished (the
// process died, or the machine lost power, between the header and the
// database), and that call discards what the creation left (the header,
// and the database, its WAL and journal when they hold nothing but that
// creation's pages) and creates the store again. Without the marker, a
// header beside an empty database is the sign of lost data
// (host.ErrDatabaseLost), and such a half-created store would never open.
const creatingSuffix = ".creating"

func creatingPath(dbPath string) string { return HeaderPath(dbPath) + creatingSuffix }

// markCreating writes the creation marker of dbPath and makes it durable.
func markCreating(dbPath string) error {
	p := creatingPath(dbPath)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("keyring: create %s: %w", p, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(p))
	}
	if err != nil {
		os.Remove(p)
		return fmt.Errorf("keyring: create %s: %w", p, err)
	}
	return nil
}

// finishCreating removes the creation marker once the database exists.
func finishCreating(dbPath string) error {
	if err := os.Remove(creatingPath(dbPath)); err != nil {
		return fmt.Errorf("keyring: remove creation marker: %w", err)
	}
	return syncDir(filepath.Dir(dbPath))
}

// recoverCreating discards the leftovers of an unfinished creation of the
// store at dbPath, if its marker exists. The header lock is held. The
// header's DEK, unwrapped with a KEK from src, tells the creation's
// database pages from others; a KEK that does not open the header fails
// and changes nothing.
func recoverCreating(dbPath string, src KEKSource) error {
	if _, err := os.Stat(creatingPath(dbPath)); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	var dek []byte
	if h, err := readHeaderFile(HeaderPath(dbPath)); err == nil {
		if dek, err = unwrap(h, HeaderPath(dbPath), src); err != nil {
			return err
		}
		defer clear(dek)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return discardCreation(dbPath, dek)
}

// discardCreation removes what an unfinished or failed creation left:
// the database, its WAL and journal if they hold only that creation's
// data (see createdOnly), then the header, then the marker. The header
// lock is held.
func discardCreation(dbPath string, dek []byte) error {
	if createdOnly(dbPath, dek) {
		for _, p := range []string{dbPath + "-wal", dbPath + "-journal", dbPath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("keyring: discard an unfinished store creation: %w", err)
			}
		}
	}
	for _, p := range []string{HeaderPath(dbPath), creatingPath(dbPath)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keyring: discard an unfinished store creation: %w", err)
		}
	}
	return syncDir(filepath.Dir(dbPath))
}

// createdOnly reports whether the database at dbPath holds nothing a
// creation under dek did not write: it is missing, empty or all zeros
// (extended before its first page was written), or sealed under dek.
// A plaintext database, or one sealed under another key, is not the
// creation's and is kept.
func createdOnly(dbPath string, dek []byte) bool {
	f, err := os.Open(dbPath)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				if dek == nil {
					return false
				}
				ok, err := databaseUses(dbPath, dek)
				return err == nil && ok
			}
		}
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}
