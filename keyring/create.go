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
// lock. A marker found by a later call means a creation did not finish
// (the process died, or the machine lost power, between the header and
// the database's first page). If the database's first page was never
// written and it has no WAL, no store was ever opened on it: that call
// discards the leftovers (the header and the database files) and creates
// the store again, where the header beside an empty database would
// otherwise read as lost data (host.ErrDatabaseLost) and the store would
// never open. Otherwise only the marker is removed (see recoverCreating).
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

// recoverCreating handles the creation marker of the store at dbPath,
// if it exists. The header lock is held. A creation cut short before
// SQLite wrote the database's first page leaves a database whose start
// is blank (missing, empty or zeros) and no WAL: no store was ever opened
// on it, so its leftovers (the header and the database files) are
// discarded and the store is created again. A database whose first page
// is written (sealed under any key, or plaintext), or a WAL with data,
// may hold acknowledged data whatever else happened since the marker was
// written (a crash after the database was created, a header imported or
// rewrapped, a store restored from a backup, writes with the raw data
// key): only the marker is removed, and the open goes on as without it.
// A KEK that does not open the header fails and changes nothing.
func recoverCreating(dbPath string, src KEKSource) error {
	if _, err := os.Stat(creatingPath(dbPath)); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if h, err := readHeaderFile(HeaderPath(dbPath)); err == nil {
		dek, err := unwrap(h, HeaderPath(dbPath), src)
		if err != nil {
			return err
		}
		clear(dek)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	blank, err := blankStart(dbPath)
	if err != nil {
		return fmt.Errorf("keyring: an unfinished store creation: %w", err)
	}
	walEmpty, err := emptyFile(dbPath + "-wal")
	if err != nil {
		return fmt.Errorf("keyring: an unfinished store creation: %w", err)
	}
	if blank && walEmpty {
		return discardCreation(dbPath, nil)
	}
	return finishCreating(dbPath)
}

// blankStart reports whether the database at dbPath has no first page:
// it is missing or empty, or its first 4 KiB (all of it, if shorter) are
// zeros, as a file extended before its first page was written. A file
// it cannot read is an error: the marker then stays for a later open.
func blankStart(dbPath string) (bool, error) {
	f, err := os.Open(dbPath)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return false, err
	}
	for _, c := range buf[:n] {
		if c != 0 {
			return false, nil
		}
	}
	return true, nil
}

// emptyFile reports whether the file at path is missing or empty.
func emptyFile(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Size() == 0, nil
}

// discardCreation removes what a failed or unfinished creation left:
// the database, its WAL, journal and WAL index if they hold only that
// creation's data (see createdOnly; with a nil dek, only a blank
// database), then the header, then the marker. The header lock is held.
func discardCreation(dbPath string, dek []byte) error {
	if createdOnly(dbPath, dek) {
		for _, p := range []string{dbPath + "-wal", dbPath + "-journal", dbPath + "-shm", dbPath} {
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
// creation under dek did not write: its start is blank (see blankStart),
// or it is sealed under dek, a key no one else has held while the header
// lock is. A plaintext database, or one sealed under another key, is not
// the creation's and is kept.
func createdOnly(dbPath string, dek []byte) bool {
	if blank, err := blankStart(dbPath); err != nil || blank {
		return err == nil
	}
	if dek == nil {
		return false
	}
	ok, err := databaseUses(dbPath, dek)
	return err == nil && ok
}
