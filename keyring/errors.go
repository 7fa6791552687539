package keyring

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofastr/store/internal/diskfull"
)

// Keyring errors. Check them with [errors.Is]. No error returned by this
// package contains key bytes, passphrases or the value of an environment
// variable holding a key.
var (
	// ErrWrongKEK is returned (wrapped) when the DEK in a header fails
	// authentication under the supplied KEK, or when the KEK source cannot
	// produce the kind of KEK the header needs (a raw key for a header whose
	// KEK is derived from a passphrase, or the other way around). The header
	// itself passed its integrity checksum, so the usual cause is the wrong
	// key; a deliberately forged header fails the same way.
	ErrWrongKEK = errors.New("keyring: wrong KEK")

	// ErrCorruptHeader is wrapped by a [*HeaderError] when a DEK header is
	// not valid JSON, has missing, unknown or malformed fields, has fields
	// of the wrong length, or fails its integrity checksum.
	ErrCorruptHeader = errors.New("keyring: corrupt DEK header")

	// ErrUnsupportedVersion is wrapped by a [*HeaderError] when a DEK header
	// has a version this build does not read (see [HeaderVersion]).
	ErrUnsupportedVersion = errors.New("keyring: unsupported DEK header version")

	// ErrNoHeader is returned by [LoadOrCreateDEK] when the header file is
	// missing but the database (or its WAL or rollback journal) exists and is
	// not empty. Creating a new DEK would make that data unreadable, so the
	// header must be restored from a backup or re-created with [ImportDEK]
	// from an escrow file.
	ErrNoHeader = errors.New("keyring: DEK header missing for a non-empty database")

	// ErrInvalidKEK is returned (wrapped) when a KEK is not [KEKSize] bytes
	// or is all zero bytes (a cleared or unfilled buffer, never a real
	// key), or when a KEK in an environment variable or key file is not
	// valid hex or base64.
	ErrInvalidKEK = errors.New("keyring: invalid KEK")

	// ErrInsecureKeyFile is returned (wrapped) when a key file can be read or
	// written by its group or by others. The message names the chmod command
	// that fixes it.
	ErrInsecureKeyFile = errors.New("keyring: key file permissions too open")

	// ErrNoKEK is returned by [Resolve] when no KEK source is configured and
	// the machine default is disabled, and (wrapped) by [EncryptWith] and
	// [RecoverWith] when given no source.
	ErrNoKEK = errors.New("keyring: no KEK source configured")

	// ErrWrongIdentity is returned (wrapped, together with age's
	// [*age.NoIdentityMatchError]) by [ImportDEK] when none of the given
	// identities can decrypt the escrow file.
	ErrWrongIdentity = errors.New("keyring: identity does not match the escrow file")

	// ErrEscrowFormat is returned (wrapped) by [ImportDEK] when an escrow
	// file decrypts but does not hold a [DEKSize]-byte DEK, and by
	// [ExportDEK] when a recipient cannot be parsed.
	ErrEscrowFormat = errors.New("keyring: invalid escrow data")

	// ErrDEKMismatch is returned by [ImportDEK] when the store already has a
	// header that opens with the local KEK and holds a different DEK than the
	// escrow file. Replacing it would orphan the existing data; remove the
	// header first if that is really intended.
	ErrDEKMismatch = errors.New("keyring: escrowed DEK differs from the store's DEK")

	// ErrForeignDEK is returned by [ImportDEK] when the store has no header
	// the local KEK opens and the escrowed DEK does not pass the database's
	// key check (the escrow of another store, or of this store before a
	// rekey), or when there is no database to check it against but a header
	// exists. Nothing is changed: replacing the header would leave the
	// store unopenable.
	ErrForeignDEK = errors.New("keyring: escrowed DEK is not the database's key")

	// ErrInUse is returned by [RekeyWith] and [EncryptWith] when another connection has the
	// database open (its [Reencrypter] reports it) or another process holds
	// its store lock (see [LockStore]): every page must be re-encrypted
	// while nobody reads or writes it. The other operations return it when
	// a lock file stays locked longer than they wait (a rekey of a large
	// store, or a hung process).
	ErrInUse = errors.New("keyring: database is in use")

	// ErrAlreadyEncrypted is returned (wrapped) by [EncryptWith] for a
	// database that is already encrypted: it starts with the magic of an
	// encrypted database instead of SQLite's plaintext header.
	ErrAlreadyEncrypted = errors.New("keyring: database is already encrypted")

	// ErrNotPlaintext is returned (wrapped) by [EncryptWith] for a file
	// that is neither a plaintext SQLite database nor an encrypted one
	// (an empty file included); it is left untouched.
	ErrNotPlaintext = errors.New("keyring: not a plaintext SQLite database")

	// ErrHeaderExists is returned (wrapped) by [EncryptWith] when a DEK
	// header <db>.dek already exists beside a plaintext database. The
	// database is not sealed under its DEK; encrypting would replace a
	// header that may be the only key to other data (an encrypted copy of
	// the store). Keep it with the data it belongs to, or remove it if it
	// belongs to none, and encrypt again. Package host returns it too
	// when asked to open such a database: its data belongs under the key.
	ErrHeaderExists = errors.New("keyring: a DEK header exists beside the plaintext database")

	// ErrDiskFull is returned (wrapped, together with the operating
	// system's error, which matches syscall.ENOSPC) when a header, a
	// lock file or an escrow file cannot be written because the
	// filesystem is full. The write is atomic: the file it replaces is
	// unchanged and its temporary file removed. Free space and retry. It
	// is the same value as sqlitevfs.ErrDiskFull and host.ErrDiskFull.
	ErrDiskFull = diskfull.ErrDiskFull

	// ErrNoReencrypter is returned by [RekeyWith] when it is given no
	// [Reencrypter]: this package cannot read the database format itself.
	ErrNoReencrypter = errors.New("keyring: no re-encrypter for the database")
)

// ErrWeakKDF is wrapped by the [*ParamError] that
// [PassphraseKEK.SetParams] returns for Argon2id parameters that are out of
// range or below the documented floor.
var ErrWeakKDF = errors.New("keyring: Argon2id parameters too weak or out of range")

// ParamError names an Argon2id parameter SetParams refuses. It wraps
// [ErrWeakKDF].
type ParamError struct {
	Param  string // "time", "memory" or "threads"
	Value  uint64 // the value given (KiB for memory)
	Reason string // what is acceptable
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("%v: %s=%d: %s", ErrWeakKDF, e.Param, e.Value, e.Reason)
}

func (e *ParamError) Unwrap() error { return ErrWeakKDF }

// HeaderError describes a DEK header that cannot be used. Err is
// [ErrCorruptHeader] or [ErrUnsupportedVersion].
type HeaderError struct {
	Path   string // header file; empty when parsing bytes with [ParseHeader]
	Field  string // JSON field at fault, such as "nonce" or "kdf.salt"; empty for the whole file
	Reason string // what is wrong, for humans; never contains key material
	Err    error
}

func (e *HeaderError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Path != "" {
		b.WriteString(" " + e.Path)
	}
	if e.Field != "" {
		b.WriteString(": field " + e.Field)
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	return b.String()
}

func (e *HeaderError) Unwrap() error { return e.Err }

func corrupt(field, reason string) *HeaderError {
	return &HeaderError{Field: field, Reason: reason, Err: ErrCorruptHeader}
}
