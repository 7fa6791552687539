package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/gofastr/store/internal/pagecrypt"
)

// EncryptWith converts the plaintext SQLite database at dbPath into one
// encrypted under a new random DEK, wrapped under a KEK from src in
// <db>.dek, in place. It runs the protocol of [RekeyWith] with no old DEK:
// r's Reencrypt is called with a nil oldDEK, meaning that src is a
// plaintext database, and copies it to <db>.rekey sealed under the new
// DEK. host.Encrypt calls it with the SQLite re-encrypter.
//
// The database must not be open anywhere: if another process holds its
// store lock, or r reports it in use, EncryptWith returns [ErrInUse] and
// changes nothing. It refuses, changing nothing, a database that is
// already encrypted ([ErrAlreadyEncrypted]), a file that is not a
// plaintext SQLite database ([ErrNotPlaintext]), a missing one (an error
// wrapping [fs.ErrNotExist]) and a plaintext database that already has a
// header <db>.dek ([ErrHeaderExists]).
//
// Crash safety is a rekey's: the header is written to <db>.dek.next and
// the copy to <db>.rekey before the copy is renamed over the database,
// the commit point; the header rename follows. Killed at any point, the
// next keyring operation on the database that recovers (LoadOrCreateDEK,
// RotateKEK, ExportDEK, ImportDEK, [RecoverWith], RekeyWith, EncryptWith)
// leaves either the plaintext database, with <db>.dek.next and <db>.rekey
// removed, or the encrypted one with its header <db>.dek. A database that
// still starts with SQLite's plaintext header never reached the commit
// point, so that rollback needs no KEK. Once EncryptWith has returned nil,
// or an interrupted run has passed its commit point, the database is
// encrypted and a retry returns [ErrAlreadyEncrypted].
func EncryptWith(dbPath string, src KEKSource, r Reencrypter) error {
	if r == nil {
		return fmt.Errorf("keyring: encrypt %s: %w", dbPath, ErrNoReencrypter)
	}
	if noSource(src) {
		return fmt.Errorf("keyring: encrypt %s: %w", dbPath, ErrNoKEK)
	}
	// Checked before the lock too, so that an encrypted store that is
	// open reports what it is rather than ErrInUse, and a missing one
	// gets no lock file. Leftovers of an interrupted run (<db>.dek.next)
	// go on to recovery.
	if err := checkPlaintext(dbPath); err != nil {
		if _, nerr := os.Stat(dbPath + nextHeaderSuffix); !errors.Is(err, ErrAlreadyEncrypted) || nerr != nil {
			return err
		}
	}
	sl, err := acquire(dbPath+storeLockSuffix, true, rekeyLockWait)
	if err != nil {
		return err
	}
	defer sl.release()
	if err := recoverRekey(dbPath, src); err != nil {
		return err
	}
	if err := checkPlaintext(dbPath); err != nil {
		return err
	}
	hp := HeaderPath(dbPath)
	if _, err := os.Stat(hp); err == nil {
		return fmt.Errorf("%w: %s exists beside the plaintext database %s, which is not sealed under its key; "+
			"if it belongs to an encrypted copy of this store, keep it with that copy; otherwise remove it, then encrypt again",
			ErrHeaderExists, hp, dbPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keyring: encrypt %s: %w", dbPath, err)
	}
	if err := replaceDatabase(dbPath, src, r, nil); err != nil {
		return fmt.Errorf("keyring: encrypt %s: %w", dbPath, err)
	}
	return nil
}

// RecoverWith finishes or rolls back a rekey ([RekeyWith]) or an
// encryption ([EncryptWith]) of the database at dbPath that was
// interrupted, as every other operation of this package does before it
// starts; a KEK from src opens <db>.dek.next. With nothing to recover it
// changes nothing. It holds the store lock shared and the header lock
// while it runs, so it waits for a rekey or encryption in progress rather
// than mistaking it for an interrupted one.
//
// Package host calls it when a store opened with a KEK source turns out to
// be plaintext, so that such an open leaves no files of an interrupted
// encryption behind.
func RecoverWith(dbPath string, src KEKSource) error {
	if noSource(src) {
		return fmt.Errorf("keyring: recover %s: %w", dbPath, ErrNoKEK)
	}
	unlock, err := lockHeader(dbPath, src)
	if err != nil {
		return err
	}
	unlock()
	return nil
}

// sqliteMagic is the first 16 bytes of a plaintext SQLite database.
const sqliteMagic = "SQLite format 3\x00"

// checkPlaintext returns nil if the file at dbPath starts with SQLite's
// plaintext header, and otherwise an error saying what it is.
func checkPlaintext(dbPath string) error {
	hdr, err := readPrefix(dbPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("keyring: encrypt %s: no database: %w", dbPath, err)
	case err != nil:
		return fmt.Errorf("keyring: encrypt %s: %w", dbPath, err)
	case bytes.HasPrefix(hdr, []byte(pagecrypt.FileMagic)):
		return fmt.Errorf("keyring: encrypt %s: %w", dbPath, ErrAlreadyEncrypted)
	case string(hdr) != sqliteMagic:
		return fmt.Errorf("keyring: encrypt %s: %w", dbPath, ErrNotPlaintext)
	}
	return nil
}

// isPlaintext reports whether the file at dbPath starts with SQLite's
// plaintext header. Errors (a missing file included) report false.
func isPlaintext(dbPath string) bool {
	hdr, err := readPrefix(dbPath)
	return err == nil && string(hdr) == sqliteMagic
}

// readPrefix returns up to the first 16 bytes of the file at path.
func readPrefix(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hdr := make([]byte, len(sqliteMagic))
	n, err := io.ReadFull(f, hdr)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return hdr[:n], err
}
