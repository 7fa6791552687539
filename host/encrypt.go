package host

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/sqldb"
	"github.com/gofastr/store/keyring"
)

// Encrypt converts the plaintext store at path, as created by [Open], into
// an encrypted one, in place: every page is copied, sealed under a new
// random data key, and the data key is wrapped under a KEK from src in
// <path>.dek ([keyring.RawKEK] for raw key bytes, [keyring.Resolve] to
// pick a source). Afterwards open the store with [OpenWithKEK] or
// [OpenWithConfig] and [Config.WithKEKSource]; [Open] refuses it with
// [ErrEncryptedStore]. Events, sessions, tool intents and outcomes, pins
// and the compression dictionaries are carried over unchanged, and a
// store of an older schema is migrated by its next open, as usual.
//
// Every handle on the store must be closed first. Every Store holds the
// store lock <path>.lock shared while it is open, and Encrypt takes it
// exclusively: while a Store is open on path, in this or another process,
// Encrypt fails with an error wrapping [keyring.ErrInUse] (after waiting
// about a second) and changes nothing, and the open Store goes on working.
// An Open that starts while Encrypt runs waits for the lock, then finds
// the encrypted store and fails with [ErrEncryptedStore] ([OpenWithKEK]
// opens it). Code that opens the database without this package (the
// sqlite3 tool, another SQLite library) takes no store lock; the
// exclusive SQLite lock Encrypt holds refuses it while the copy is made,
// but such a connection opened before Encrypt ends up on the replaced
// file: close those first.
//
// Encrypt refuses, changing nothing: a store that is already encrypted
// ([ErrEncryptedStore]), a file that is not a session store or not
// SQLite at all ([ErrNotStore]), a store of a newer schema
// ([ErrNewerSchema]), a missing database (an error wrapping
// [fs.ErrNotExist]), and a plaintext store with a DEK header <path>.dek
// beside it ([keyring.ErrHeaderExists]; the message says what to do).
//
// Encrypt is [keyring.EncryptWith] with the SQLite re-encrypter of
// [Rekey]: under the store lock <path>.lock, held exclusively, it writes
// the new header to <path>.dek.next, copies the database with VACUUM INTO
// to <path>.rekey through a VFS keyed with the new data key, checks and
// fsyncs the copy, and renames it over the database (the commit point),
// all while an exclusive SQLite lock keeps the old file from being
// written; then it installs the header as <path>.dek. Killed at any
// point, the store is exactly one of: the plaintext store with all its
// data, or the encrypted store with all its data. The next call that
// recovers (Encrypt again, OpenWithKEK or OpenWithConfig with a KEK
// source, [keyring.LoadOrCreateDEKWith], [Rekey]) removes the files of a
// run that did not reach the commit point (<path>.dek.next, <path>.rekey)
// or installs the header of one that did; until then [Open] opens the
// plaintext store, or fails with [ErrEncryptedStore] once the commit point
// has passed. A retry after the commit point returns [ErrEncryptedStore]:
// the store is encrypted.
//
// The plaintext leaves the store's files: the old database file is
// replaced and its -wal and -shm files are removed. Blocks of the old
// files may remain on the disk (SSD wear levelling, filesystem journals
// and snapshots, backups); secure deletion is not promised. Encrypt a
// store before it holds secrets where that matters.
func Encrypt(path string, src keyring.KEKSource) error {
	switch {
	case path == "":
		return fmt.Errorf("encrypt: %w: empty path", ErrInvalidArgument)
	case isNil(src):
		return fmt.Errorf("encrypt %s: %w: no KEK source", path, ErrInvalidArgument)
	}
	if err := sqldb.CheckFile(path, schema); err != nil {
		return fmt.Errorf("encrypt %s: %w", path, err)
	}
	return encryptWith(path, src, reencrypter{})
}

// encryptWith runs keyring.EncryptWith with r and gives its refusals the
// errors of this package.
func encryptWith(path string, src keyring.KEKSource, r keyring.Reencrypter) error {
	err := keyring.EncryptWith(path, src, r)
	switch {
	case errors.Is(err, keyring.ErrAlreadyEncrypted):
		return fmt.Errorf("encrypt %s: %w (%w)", path, ErrEncryptedStore, keyring.ErrAlreadyEncrypted)
	case errors.Is(err, keyring.ErrNotPlaintext):
		return fmt.Errorf("encrypt %s: %w (%w)", path, ErrNotStore, keyring.ErrNotPlaintext)
	}
	return err
}

// checkPlainStore returns ErrNotStore unless the plaintext database of c
// is a session store with data, and ErrNewerSchema for one of a newer
// schema than this build's.
func checkPlainStore(c *sqlite3.Conn) error {
	app, err := sqldb.QueryInt(c, "PRAGMA application_id")
	if err != nil {
		return err
	}
	version, err := sqldb.QueryInt(c, "PRAGMA user_version")
	if err != nil {
		return err
	}
	switch {
	case app != applicationID:
		return fmt.Errorf("%w: application ID %#x, want %#x", ErrNotStore, app, applicationID)
	case version > int64(schema.Version()):
		return fmt.Errorf("%w: file has version %d, this build supports up to %d", ErrNewerSchema, version, schema.Version())
	}
	return nil
}

// recoverEncrypt runs the keyring's recovery for a store that an open
// with a KEK source found plaintext, if an interrupted Encrypt left its
// next header behind: the leftovers are removed (the store is still
// plaintext, so the run never reached its commit point).
func recoverEncrypt(path string, src keyring.KEKSource) error {
	if _, err := os.Stat(path + ".dek.next"); err != nil {
		return nil
	}
	return keyring.RecoverWith(path, src)
}

// checkPlainWAL returns ErrNotStore unless the plaintext database at path
// is in WAL mode, as every store is (bytes 18 and 19 of its header are 2).
func checkPlainWAL(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var hdr [20]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("%w: %s: short header", ErrNotStore, path)
	}
	if hdr[18] != 2 || hdr[19] != 2 {
		return fmt.Errorf("%w: %s is not in WAL mode", ErrNotStore, path)
	}
	return nil
}
