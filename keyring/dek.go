package keyring

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// LoadOrCreateDEK opens the DEK header at <dbPath>.dek with the raw KEK kek
// ([KEKSize] bytes) and returns the unwrapped DEK and the header path. It
// is [LoadOrCreateDEKWith] with [RawKEK](kek) and no callback.
func LoadOrCreateDEK(dbPath string, kek []byte) ([]byte, string, error) {
	return LoadOrCreateDEKWith(dbPath, RawKEK(kek), nil)
}

// LoadOrCreateDEKWith opens the DEK header at <dbPath>.dek with a KEK from
// src and returns the unwrapped DEK and the header path. The caller owns the
// DEK and should clear it when the store is closed.
//
// It holds the store lock shared and the header lock exclusively while it
// runs (see [LockStore]), waiting for a rekey in progress. A rekey
// interrupted by a crash (see [RekeyWith]) is finished or rolled back
// first; a rekey still running in another process is never mistaken for
// one.
//
// If the header does not exist and neither the database nor its -wal or
// -journal file holds any data, a new random DEK is generated, wrapped
// under a KEK from src and written with mode 0600 (temporary file, fsync,
// exclusive link, directory fsync). If another process creates the header
// at the same moment, the header lock makes one of them create it and the
// other use its DEK. If the header is missing but the
// database has data, LoadOrCreateDEKWith returns an error wrapping
// [ErrNoHeader] and creates nothing.
//
// If fn is not nil, LoadOrCreateDEKWith calls fn(dek, created) while it
// still holds the header lock; created reports whether this call wrote a
// new header. A caller that creates the database in fn (when created is
// true) makes the header and the first data appear together to every
// other LoadOrCreateDEKWith: one that finds the header with the database
// still missing or empty knows that no creation is in progress, so the
// data was lost. If fn returns an error, LoadOrCreateDEKWith returns it
// and removes the header this call created, with the database, WAL and
// journal fn left if they hold nothing but pages sealed under the new
// DEK. A creation cut short by a crash or a power loss is marked by
// <db>.dek.creating (written before the header, removed after fn
// returns): the next call discards its leftovers the same way and
// creates the store again.
//
// A header that cannot be parsed is a [*HeaderError]; a KEK that does not
// open it is [ErrWrongKEK]. On any error the header and the database are
// left as they were (a [MachineKEK] may have created its key file, and the
// empty lock files <db>.lock and <db>.dek.lock may have been created).
func LoadOrCreateDEKWith(dbPath string, src KEKSource, fn func(dek []byte, created bool) error) ([]byte, string, error) {
	hp := HeaderPath(dbPath)
	unlock, err := lockHeader(dbPath, src)
	if err != nil {
		return nil, hp, err
	}
	defer unlock()
	if err := recoverCreating(dbPath, src); err != nil {
		return nil, hp, err
	}
	dek, created, err := loadOrCreate(dbPath, hp, src, fn != nil)
	if err != nil || fn == nil {
		return dek, hp, err
	}
	if err := fn(dek, created); err != nil {
		if created {
			discardCreation(dbPath, dek)
		}
		clear(dek)
		return nil, hp, err
	}
	if created {
		if err := finishCreating(dbPath); err != nil {
			clear(dek)
			return nil, hp, err
		}
	}
	return dek, hp, nil
}

// loadOrCreate loads the DEK of the header hp or creates a new one. The
// caller holds the header lock.
//
// With mark, a new header is preceded by the creation marker (see
// creatingSuffix), which the caller removes once the database exists.
func loadOrCreate(dbPath, hp string, src KEKSource, mark bool) (_ []byte, created bool, _ error) {
	h, err := readHeaderFile(hp)
	if err == nil {
		dek, err := unwrap(h, hp, src)
		return dek, false, err
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := checkNoData(dbPath, hp); err != nil {
		return nil, false, err
	}
	dek := make([]byte, DEKSize)
	rand.Read(dek)
	h, err = wrapNew(src, dek, headerTimes{created: now()})
	if err == nil && mark {
		err = markCreating(dbPath)
	}
	if err == nil {
		err = writeHeader(hp, h, false)
		if err != nil && mark {
			os.Remove(creatingPath(dbPath))
		}
	}
	if errors.Is(err, fs.ErrExist) {
		// Lost a race with a writer that does not take the header lock
		// (an older build): use the header it wrote.
		clear(dek)
		if h, err = readHeaderFile(hp); err != nil {
			return nil, false, err
		}
		dek, err := unwrap(h, hp, src)
		return dek, false, err
	}
	if err != nil {
		clear(dek)
		return nil, false, err
	}
	return dek, true, nil
}

// RotateKEK rewraps the DEK of the database at dbPath from oldKEK to newKEK
// (raw keys). It is [RotateKEKWith] with [RawKEK] sources.
func RotateKEK(dbPath string, oldKEK, newKEK []byte) error {
	return RotateKEKWith(dbPath, RawKEK(oldKEK), RawKEK(newKEK))
}

// RotateKEKWith unwraps the DEK of the database at dbPath with a KEK from
// oldSrc and atomically replaces the header with one wrapping the same DEK
// under a KEK from newSrc. It touches only the header, so it is O(1) in the
// size of the database, works while the database is open, and leaves
// escrow files valid.
//
// Crash safety: the new header is written to a temporary file, fsynced,
// renamed over the old one and the directory fsynced, so at every moment the
// header opens with exactly one of the two KEKs. If RotateKEKWith returns an
// error, either may be in effect: keep both and retry. A retry, or any call
// whose oldSrc no longer opens the header but whose newSrc does, returns nil
// without writing.
//
// Rotation does not change the DEK: anyone who already holds the DEK, or an
// old header copy together with its old KEK, can still read the data. Use
// rekey for that. Concurrent rotations, also from other processes, are
// serialized by the header lock file (see [LockStore]); a rotation waits
// for a rekey in progress.
func RotateKEKWith(dbPath string, oldSrc, newSrc KEKSource) error {
	hp := HeaderPath(dbPath)
	unlock, err := lockHeader(dbPath, oldSrc)
	if err != nil {
		return err
	}
	defer unlock()
	h, err := readHeaderFile(hp)
	if err != nil {
		return err
	}
	dek, err := unwrap(h, hp, oldSrc)
	if errors.Is(err, ErrWrongKEK) {
		if d, nerr := unwrap(h, hp, newSrc); nerr == nil {
			clear(d)
			return nil // already rotated
		}
	}
	if err != nil {
		return err
	}
	defer clear(dek)
	nh, err := wrapNew(newSrc, dek, headerTimes{created: h.Created(), rewrapped: now()})
	if err != nil {
		return err
	}
	return writeHeader(hp, nh, true)
}

// loadDEK unwraps the DEK of an existing header with a KEK from src. The
// caller holds the header lock or the exclusive store lock.
func loadDEK(dbPath string, src KEKSource) ([]byte, error) {
	hp := HeaderPath(dbPath)
	h, err := readHeaderFile(hp)
	if err != nil {
		return nil, err
	}
	return unwrap(h, hp, src)
}

// wrapNew wraps dek under a new KEK from src, recording the dates t and
// src's name in the meta. Before anything is written it checks that src
// gives the same KEK back for the new header, so a misbehaving source
// cannot produce a header that nothing opens.
func wrapNew(src KEKSource, dek []byte, t headerTimes) (*DEKHeader, error) {
	kek, kdf, err := src.NewKEK()
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	again, err := src.KEK(kdf)
	if err != nil {
		return nil, fmt.Errorf("keyring: KEK source %q cannot reproduce its new KEK: %w", src.Name(), err)
	}
	defer clear(again)
	if subtle.ConstantTimeCompare(kek, again) != 1 {
		return nil, fmt.Errorf("keyring: KEK source %q returned a different KEK for the same header", src.Name())
	}
	return sealHeader(kek, dek, kdf, buildMeta(t, src.Name()))
}

// unwrap opens a parsed header with a KEK from src.
func unwrap(h *DEKHeader, path string, src KEKSource) ([]byte, error) {
	kek, err := src.KEK(h.KDF)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	dek, err := openHeader(h, kek)
	if errors.Is(err, ErrWrongKEK) {
		return nil, fmt.Errorf("%w: KEK from source %q does not open %s", ErrWrongKEK, src.Name(), path)
	}
	return dek, err
}

// writeHeader writes h to path: replacing an existing header, or only if
// none exists (the error then wraps fs.ErrExist).
func writeHeader(path string, h *DEKHeader, replace bool) error {
	data, err := h.marshal()
	if err != nil {
		return err
	}
	if replace {
		err = writeFileAtomic(path, data, headerPerm)
	} else {
		err = writeFileNew(path, data, headerPerm)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keyring: write DEK header: %w", err)
	}
	return err
}

// checkNoData returns an error wrapping ErrNoHeader if the database or its
// WAL or rollback journal exists and is not empty. In WAL mode a new
// database's first pages can sit in the -wal file while the main file is
// still empty.
func checkNoData(dbPath, headerPath string) error {
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("keyring: check database: %w", err)
		}
		if fi.IsDir() || fi.Size() > 0 {
			return fmt.Errorf("%w: %s exists and is not empty, but %s does not exist; restore the header from a backup or run ImportDEK with an escrow file",
				ErrNoHeader, p, headerPath)
		}
	}
	return nil
}

// LoadDEK returns the DEK of the database at dbPath, unwrapped from its
// existing header with a KEK from src, and the header it came from. It
// only reads: it never creates a header or a key (a [MachineKEK] whose
// key file is missing fails), never finishes or rolls back an
// interrupted rekey, and changes no file; it may create the empty lock
// files <db>.lock and <db>.dek.lock. It is for tools that inspect a store
// without opening it, such as host.Verify; the caller owns the DEK and
// should clear it after use.
//
// It holds the store lock shared and the header lock while it reads (see
// [LockStore]), so it waits for a rekey in progress. The leftovers of an
// interrupted rekey are judged as recovery would judge them, without
// touching them: when the database passes the key check of the DEK in
// <db>.dek.next (the rekey reached its commit point), that DEK and header
// are returned. A missing header is an error wrapping [fs.ErrNotExist];
// a header that cannot be parsed is a [*HeaderError]; a KEK that does not
// open it is [ErrWrongKEK].
func LoadDEK(dbPath string, src KEKSource) ([]byte, *DEKHeader, error) {
	if noSource(src) {
		return nil, nil, fmt.Errorf("keyring: load DEK of %s: %w", dbPath, ErrNoKEK)
	}
	if _, err := os.Stat(HeaderPath(dbPath)); err != nil {
		// Checked before the lock files are created: a missing header
		// (or directory) is reported as it is.
		return nil, nil, fmt.Errorf("keyring: read DEK header: %w", err)
	}
	sl, err := acquire(dbPath+storeLockSuffix, false, lockWait)
	if err != nil {
		return nil, nil, err
	}
	defer sl.release()
	hl, err := acquire(dbPath+headerLockSuffix, true, lockWait)
	if err != nil {
		return nil, nil, err
	}
	defer hl.release()
	next := dbPath + nextHeaderSuffix
	if nh, err := readHeaderFile(next); err == nil && !isPlaintext(dbPath) {
		if dek, err := unwrap(nh, next, src); err == nil {
			if uses, err := databaseUses(dbPath, dek); err == nil && uses {
				return dek, nh, nil
			}
			clear(dek)
		}
	}
	hp := HeaderPath(dbPath)
	h, err := readHeaderFile(hp)
	if err != nil {
		return nil, nil, err
	}
	dek, err := unwrap(h, hp, src)
	if err != nil {
		return nil, nil, err
	}
	return dek, h, nil
}
