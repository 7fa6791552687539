package keyring

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gofastr/store/internal/pagecrypt"
)

// Rekey file names, next to the database.
const (
	// nextHeaderSuffix names the header of a rekey in progress.
	nextHeaderSuffix = ".dek.next"
	// rekeyDBSuffix names the re-encrypted copy a rekey builds.
	rekeyDBSuffix = ".rekey"
)

// A Reencrypter supplies the half of a rekey that knows the database
// format: it copies the database, sealed under the old DEK, to a new file
// sealed under the new one. [RekeyWith] does the rest (locks, headers,
// the commit point and crash recovery), and so does [EncryptWith] for a
// plaintext database. Package host implements it with SQLite (host.Rekey,
// host.Encrypt); this package links no SQLite.
//
// Reencrypt copies the database at src, sealed under oldDEK, to dst,
// sealed under newDEK. A nil oldDEK means that src is a plaintext
// database, which [EncryptWith] converts. Its contract:
//
//   - dst does not exist (RekeyWith removed any leftover). Reencrypt
//     creates it with mode 0600, whatever the umask, since it is renamed
//     over the database.
//   - From before it reads src until the returned [Swap] has committed,
//     nothing else can write to src: every committed transaction is in the
//     copy, and nothing is committed to src after it was read. If src is
//     in use elsewhere, Reencrypt fails with an error wrapping [ErrInUse].
//   - Before it returns, the copy is verified (it opens with newDEK and is
//     intact) and durable (fsynced). Like every file sealed by package
//     sqlitevfs, it carries newDEK's key check in plaintext (bytes 8..15):
//     recovery reads it to tell whether the copy replaced the database.
//   - It may leave files named dst+"-wal", dst+"-shm" and dst+"-journal"
//     only if the process dies; RekeyWith and recovery remove them.
//   - It does not keep oldDEK or newDEK after it returns: the caller
//     clears them.
//   - On error it has released src and changed nothing else; RekeyWith
//     removes dst.
type Reencrypter interface {
	Reencrypt(src, dst string, oldDEK, newDEK []byte) (Swap, error)
}

// A Swap holds the old database, still protected from writers, while its
// re-encrypted copy replaces it.
//
// Commit removes whatever belongs to the old database and not to the copy
// (such as SQLite's -wal, -shm and -journal files), while nothing can
// write to the old database, and then calls rename once, unless it failed
// before; rename moves the copy over the database and makes that durable:
// it is the rekey's commit point. Commit releases the old database before
// it returns, in every case, and returns the first error (rename's
// included). RekeyWith calls Commit exactly once.
type Swap interface {
	Commit(rename func() error) error
}

// RekeyWith replaces the DEK of the encrypted database at dbPath with a new
// random one and has r re-encrypt every page under it; the header stays
// wrapped under a KEK from src. Afterwards the old DEK (and escrow files
// made with it) no longer open the database: export a new escrow. The
// database must not be open anywhere else; if it is (a [StoreLock] is
// held, or r reports it in use), RekeyWith returns [ErrInUse] and changes
// nothing. host.Rekey calls it with the SQLite re-encrypter.
//
// Locking: RekeyWith holds the store lock file exclusively for the whole
// operation, so no other keyring operation, rekey recovery or store open
// (host.OpenWithKEK) runs meanwhile, in this or any other process. r keeps
// the old database protected from writers until the re-encrypted copy has
// been renamed over it and the rename is durable (see [Reencrypter]), so
// that even a process that opens the database without the lock file
// cannot commit to the old file in between.
//
// Crash safety: the new header is written to <db>.dek.next and the
// re-encrypted copy to <db>.rekey (both fsynced) before the copy is renamed
// over the database, which is the commit point; the header rename follows.
// The database's plaintext key check tells which DEK it needs, so the next
// LoadOrCreateDEK, RotateKEK, ExportDEK, ImportDEK or RekeyWith finishes an
// interrupted rekey or rolls it back: killed at any point, the store opens
// with exactly one DEK and all of its data.
func RekeyWith(dbPath string, src KEKSource, r Reencrypter) error {
	if r == nil {
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, ErrNoReencrypter)
	}
	if noSource(src) {
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, ErrNoKEK)
	}
	sl, err := acquire(dbPath+storeLockSuffix, true, rekeyLockWait)
	if err != nil {
		return err
	}
	defer sl.release()
	if err := recoverRekey(dbPath, src); err != nil {
		return err
	}
	oldDEK, err := loadDEK(dbPath, src)
	if err != nil {
		return err
	}
	defer clear(oldDEK)
	if err := replaceDatabase(dbPath, src, r, oldDEK); err != nil {
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	return nil
}

// replaceDatabase is the part of the protocol a rekey and an encryption
// share, run under the exclusive store lock after recovery: a new random
// DEK wrapped under a KEK from src in <db>.dek.next, r's copy of the
// database under it in <db>.rekey, the rename of the copy over the
// database (the commit point), the header rename. oldDEK is nil for a
// plaintext database.
func replaceDatabase(dbPath string, src KEKSource, r Reencrypter, oldDEK []byte) error {
	newDEK := make([]byte, DEKSize)
	rand.Read(newDEK)
	defer clear(newDEK)

	t := headerTimes{created: now()}
	if oldDEK != nil {
		t.rewrapped = t.created // a rekey rewraps; an encryption creates
	}
	nh, err := wrapNew(src, newDEK, t)
	if err != nil {
		return err
	}
	next, tmp := dbPath+nextHeaderSuffix, dbPath+rekeyDBSuffix
	removeCopy(tmp)
	if err := writeHeader(next, nh, true); err != nil {
		return err
	}
	if testRekeyStop("next-written") {
		return errSimulatedCrash
	}
	swap, err := r.Reencrypt(dbPath, tmp, oldDEK, newDEK)
	if err == nil && swap == nil {
		err = errors.New("the re-encrypter returned no Swap")
	}
	if err != nil {
		removeCopy(tmp)
		os.Remove(next)
		return err
	}
	renamed := false
	err = swap.Commit(func() error {
		if renamed {
			return errors.New("keyring: Swap.Commit called rename twice")
		}
		if testRekeyStop("before-rename") {
			return errSimulatedCrash
		}
		if err := os.Rename(tmp, dbPath); err != nil { // commit point
			return err
		}
		renamed = true
		return syncDir(filepath.Dir(dbPath))
	})
	if err != nil {
		// Before the rename the old database is intact and the next
		// recovery rolls back; after it, the next recovery finishes.
		return err
	}
	if !renamed {
		return errNotRenamed
	}
	if testRekeyStop("renamed") {
		return errSimulatedCrash
	}
	return installNext(dbPath)
}

// errNotRenamed reports a Swap whose Commit returned nil without calling
// rename: the database was not replaced, and the next recovery rolls the
// rekey back.
var errNotRenamed = errors.New("the re-encrypter's Swap did not replace the database")

// recoverRekey finishes or rolls back a rekey (or an encryption, see
// EncryptWith) that was interrupted. The database's key check decides: if
// it matches the DEK in <db>.dek.next, the new file is in place and the
// header rename is finished; otherwise the leftovers are removed. A
// database that is still plaintext is rolled back without the KEK.
//
// The caller holds the store lock (shared, with the header lock, or
// exclusively): no rekey is running then, so leftovers belong to a dead
// one. Without the lock a rekey in progress would look interrupted, and
// removing its files destroys the store.
func recoverRekey(dbPath string, src KEKSource) error {
	next := dbPath + nextHeaderSuffix
	nh, err := readHeaderFile(next)
	if errors.Is(err, fs.ErrNotExist) {
		removeCopy(dbPath + rekeyDBSuffix)
		return nil
	}
	if err != nil {
		return fmt.Errorf("keyring: interrupted rekey: %w", err)
	}
	if isPlaintext(dbPath) {
		// An interrupted EncryptWith before its commit point: the
		// database is still the plaintext original, and no KEK is
		// needed to tell.
		return rollBack(dbPath)
	}
	newDEK, err := unwrap(nh, next, src)
	if err != nil {
		return fmt.Errorf("keyring: interrupted rekey of %s: %w", dbPath, err)
	}
	defer clear(newDEK)
	uses, err := databaseUses(dbPath, newDEK)
	if err != nil {
		return fmt.Errorf("keyring: interrupted rekey of %s: %w", dbPath, err)
	}
	if uses {
		return finishRekey(dbPath)
	}
	return rollBack(dbPath)
}

// rollBack removes the files of an interrupted rekey or encryption that
// did not reach its commit point: the copy, then the next header.
func rollBack(dbPath string) error {
	removeCopy(dbPath + rekeyDBSuffix)
	if err := os.Remove(dbPath + nextHeaderSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keyring: interrupted rekey of %s: %w", dbPath, err)
	}
	return syncDir(filepath.Dir(dbPath))
}

// removeCopy removes a re-encrypted copy and the -wal, -shm and -journal
// files its check connection may have left if the process died.
func removeCopy(tmp string) {
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"} {
		os.Remove(p)
	}
}

// finishRekey installs <db>.dek.next as the header.
func finishRekey(dbPath string) error {
	if err := installNext(dbPath); err != nil {
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	return nil
}

// installNext renames <db>.dek.next over the header and makes that
// durable.
func installNext(dbPath string) error {
	if err := os.Rename(dbPath+nextHeaderSuffix, HeaderPath(dbPath)); err != nil {
		return fmt.Errorf("install header: %w", err)
	}
	return syncDir(filepath.Dir(dbPath))
}

// databaseUses reports whether the database at path is sealed under dek,
// by the key check value in its plaintext prefix (the layout is defined
// by package internal/pagecrypt, which package sqlitevfs writes it with).
func databaseUses(path string, dek []byte) (bool, error) {
	return pagecrypt.FileUsesKey(path, dek)
}

// errSimulatedCrash is returned where testRekeyStop stopped a rekey.
var errSimulatedCrash = errors.New("keyring: rekey stopped by a test hook")

// testRekeyStop, set by tests only, makes RekeyWith return at the named
// stage leaving its files behind, as if the process had died there
// (locks are released, as the OS would).
var testRekeyStop = func(stage string) bool { return false }
