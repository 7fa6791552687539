package keyring

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/sqlitevfs"
)

// Rekey file names, next to the database.
const (
	// nextHeaderSuffix names the header of a rekey in progress.
	nextHeaderSuffix = ".dek.next"
	// rekeyDBSuffix names the re-encrypted copy a rekey builds.
	rekeyDBSuffix = ".rekey"
)

// ErrInUse is returned by [Rekey] when another connection has the database
// open: every page must be re-encrypted while nobody reads or writes it.
var ErrInUse = errors.New("keyring: database is in use")

// Rekey replaces the DEK of the encrypted database at dbPath (raw KEK). It
// is [RekeyWith] with [RawKEK](kek).
func Rekey(dbPath string, kek []byte) error { return RekeyWith(dbPath, RawKEK(kek)) }

// RekeyWith replaces the DEK of the encrypted database at dbPath with a new
// random one and re-encrypts every page under it; the header stays wrapped
// under a KEK from src. Afterwards the old DEK (and escrow files made with
// it) no longer open the database: export a new escrow. It works for
// databases in WAL mode. The database must not be open anywhere else; if it
// is, RekeyWith returns [ErrInUse] and changes nothing.
//
// Crash safety: the new header is written to <db>.dek.next and the
// re-encrypted copy to <db>.rekey (both fsynced) before the copy is renamed
// over the database, which is the commit point; the header rename follows.
// The database's plaintext key check tells which DEK it needs, so the next
// LoadOrCreateDEK, RotateKEK, ExportDEK or RekeyWith finishes an interrupted
// rekey or rolls it back: killed at any point, the store opens with exactly
// one DEK and all of its data.
func RekeyWith(dbPath string, src KEKSource) error {
	oldDEK, err := loadDEK(dbPath, src)
	if err != nil {
		return err
	}
	defer clear(oldDEK)
	newDEK := make([]byte, DEKSize)
	rand.Read(newDEK)
	defer clear(newDEK)

	nh, err := wrapNew(src, newDEK)
	if err != nil {
		return err
	}
	next, tmp := dbPath+nextHeaderSuffix, dbPath+rekeyDBSuffix
	os.Remove(tmp)
	if err := writeHeader(next, nh, true); err != nil {
		return err
	}
	if err := reencrypt(dbPath, tmp, oldDEK, newDEK); err != nil {
		os.Remove(tmp)
		os.Remove(next)
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	// The old -wal is empty after the TRUNCATE checkpoint, the -shm
	// describes it, and a -journal left by exclusive locking mode is not
	// hot after a clean close: none of them belongs to the new file.
	for _, p := range []string{dbPath + "-wal", dbPath + "-shm", dbPath + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
		}
	}
	if err := os.Rename(tmp, dbPath); err != nil { // commit point
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	if err := syncDir(filepath.Dir(dbPath)); err != nil {
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	return finishRekey(dbPath)
}

// reencrypt copies the database at src, sealed under oldDEK, to dst sealed
// under newDEK, checks the copy and fsyncs it.
func reencrypt(src, dst string, oldDEK, newDEK []byte) error {
	from, err := engine.RegisterKey(oldDEK)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := engine.RegisterKey(newDEK)
	if err != nil {
		return err
	}
	defer to.Close()

	c, err := engine.Open(src, engine.Options{VFS: from.Name, Encrypted: true, JournalMode: "wal", BusyTimeout: rekeyBusyTimeout})
	if err != nil {
		return inUse(err)
	}
	defer c.Close()
	// Exclusive locking mode holds the exclusive lock taken by the empty
	// write transaction until c closes, keeping other connections out; it
	// fails with BUSY if another connection has the database open.
	if err := c.Exec("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT"); err != nil {
		return inUse(sqlitevfs.ConnError(c, err))
	}
	if _, _, err := c.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE); err != nil {
		return inUse(sqlitevfs.ConnError(c, err))
	}
	if err := sqlitevfs.SetReserve(c, "main"); err != nil {
		return err
	}
	if err := c.Exec("VACUUM INTO " + sqlQuote(engine.URI(dst, to.Name))); err != nil {
		return sqlitevfs.ConnError(c, err)
	}

	check, err := engine.Open(dst, engine.Options{VFS: to.Name, Encrypted: true, JournalMode: "delete"})
	if err != nil {
		return err
	}
	st, _, err := check.Prepare("PRAGMA quick_check")
	if err == nil {
		if st.Step() && st.ColumnText(0) != "ok" {
			err = fmt.Errorf("re-encrypted copy fails quick_check: %s", st.ColumnText(0))
		} else if err = st.Err(); err != nil {
			err = sqlitevfs.ConnError(check, err)
		}
		st.Close()
	}
	if cerr := check.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// rekeyBusyTimeout bounds the wait for other connections to let go.
const rekeyBusyTimeout = time.Second

// inUse maps lock contention to ErrInUse.
func inUse(err error) error {
	if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
		return fmt.Errorf("%w: %w", ErrInUse, err)
	}
	return err
}

// recoverRekey finishes or rolls back a rekey that was interrupted. The
// database's key check decides: if it matches the DEK in <db>.dek.next, the
// new file is in place and the header rename is finished; otherwise the
// leftovers are removed.
func recoverRekey(dbPath string, src KEKSource) error {
	next := dbPath + nextHeaderSuffix
	nh, err := readHeaderFile(next)
	if errors.Is(err, fs.ErrNotExist) {
		os.Remove(dbPath + rekeyDBSuffix)
		return nil
	}
	if err != nil {
		return fmt.Errorf("keyring: interrupted rekey: %w", err)
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
	os.Remove(dbPath + rekeyDBSuffix)
	if err := os.Remove(next); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keyring: interrupted rekey of %s: %w", dbPath, err)
	}
	return nil
}

// finishRekey installs <db>.dek.next as the header.
func finishRekey(dbPath string) error {
	if err := os.Rename(dbPath+nextHeaderSuffix, HeaderPath(dbPath)); err != nil {
		return fmt.Errorf("keyring: rekey %s: install header: %w", dbPath, err)
	}
	if err := syncDir(filepath.Dir(dbPath)); err != nil {
		return fmt.Errorf("keyring: rekey %s: %w", dbPath, err)
	}
	return nil
}

// databaseUses reports whether the database at path is sealed under dek,
// by its key check value (see package sqlitevfs: bytes 8..15 of the file).
func databaseUses(path string, dek []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var hdr [16]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false, fmt.Errorf("read header of %s: %w", path, err)
	}
	c, err := pagecrypt.New(dek)
	if err != nil {
		return false, err
	}
	check := c.KeyCheck()
	return subtle.ConstantTimeCompare(hdr[8:16], check[:]) == 1, nil
}

// sqlQuote quotes s as an SQL string literal.
func sqlQuote(s string) string {
	b := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b = append(b, '\'')
		}
		b = append(b, s[i])
	}
	return string(append(b, '\''))
}
