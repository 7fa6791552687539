// Package keyring manages the keys of an encrypted store: it wraps each
// store's data-encryption key (DEK) under a key-encryption key (KEK) in a
// small header file, rotates the KEK, and escrows the DEK to age public keys.
//
// The DEK is 32 random bytes per store; sqlitevfs encrypts every page with
// it. The DEK never touches disk in the clear: [LoadOrCreateDEK] keeps it
// wrapped under the KEK in <db>.dek ([HeaderPath]), and [RotateKEK] rewraps it
// under a new KEK without touching the database. [ExportDEK] encrypts the DEK
// to age recipients so that a lost KEK or header can be recovered with the
// stock age tool, and [ImportDEK] installs an escrowed DEK under a local KEK
// after checking it against the database's key check. [LoadDEK] reads a
// store's DEK for tools that inspect it, creating and recovering nothing. [RekeyWith] replaces
// the DEK and has every page re-encrypted: it runs the keys, locks, headers
// and crash recovery of a rekey, and a [Reencrypter] supplied by the caller
// copies the database under the new DEK. [EncryptWith] runs the same
// protocol with no old DEK to convert a plaintext database into an
// encrypted one. This package links no SQLite; package host supplies the
// SQLite re-encrypter (host.Rekey, host.Encrypt).
//
// The functions taking raw key bytes keep their original shapes (the
// compatibility API). Each has a variant taking a [KEKSource], which also
// covers passphrases, named with the suffix With: [LoadOrCreateDEKWith],
// [RotateKEKWith], [ExportDEKWith], [ImportDEKWith]; [RekeyWith] has only
// that form.
//
// # Threat model
//
// Protected:
//
//   - A copy of the database and its header without the KEK (a stolen
//     backup or laptop disk whose KEK lives elsewhere) reveals no page
//     content: the DEK is wrapped with AES-256-GCM under a key derived from
//     the KEK.
//   - A leaked KEK is contained by [RotateKEK], provided the attacker has not
//     also copied the header (or the DEK) while it was wrapped under the
//     leaked KEK.
//   - A tampered header fails closed: the version, metadata and KDF
//     parameters are authenticated as associated data, so a modified
//     header never yields a DEK. A damaged header is reported as
//     [ErrCorruptHeader], distinct from a wrong key ([ErrWrongKEK]).
//   - A crash during creation, rotation or import leaves a header that
//     opens with exactly one of the old and new KEKs; a crash during
//     [RekeyWith] leaves a store that opens with exactly one DEK and all of
//     its data (the next open finishes or rolls back the rekey), and a
//     crash during [EncryptWith] leaves either the plaintext database or
//     the encrypted one with its header, each with all of its data.
//   - Concurrency: every operation locks the store's lock files (see
//     [LockStore]), so creation, rotation, import, export, rekey and rekey
//     recovery in any number of goroutines and processes run one at a
//     time where they must, and a rekey never runs while a store opened
//     with host.OpenWithKEK is open. A rekey still running is never
//     mistaken for an interrupted one.
//   - A lost KEK or header is recoverable from an escrow file by whoever
//     holds one of its age identities.
//
// Not protected:
//
//   - Rollback. Restoring an older header, database or individual pages
//     from a backup is not detected by the keyring; an old header together
//     with its old KEK still opens the store, because rotation does not
//     change the DEK. Rekey (a new DEK, every page re-encrypted) is the
//     remedy after a DEK or old-KEK compromise.
//   - Memory disclosure. The DEK stays in process memory while a store is
//     open, and Go may copy it (garbage collection, AES key schedules, age
//     and Argon2 internals, strings from the environment). This package
//     clears the key buffers it owns with clear() after use; that narrows
//     but does not close the window. An attacker running as the same user
//     can read the machine key file, the environment and process memory.
//   - Deletion. Without the header (or its KEK) the data is unreadable by
//     design. Keep an escrow file, made with [ExportDEK], somewhere else.
//     [LoadOrCreateDEK] refuses ([ErrNoHeader]) to create a new DEK over a
//     database that has data. The reverse case, a header next to a missing
//     or empty database (the data was lost), is refused by package host
//     (host.ErrDatabaseLost); the callback of [LoadOrCreateDEKWith] lets a
//     caller create the database under the header lock so the two are
//     never confused.
//   - Weak passphrases. Argon2id makes each guess expensive, not impossible.
//   - Quantum adversaries, for escrow to X25519 recipients; use age1pq1
//     hybrid recipients if that matters.
//
// # Key management
//
// Lifetimes: the DEK lives as long as the store, until a rekey. A KEK lives
// until it is rotated; one KEK (such as the machine key) may wrap the DEKs of
// many stores. An escrow file stays valid across KEK rotations and becomes
// obsolete only when the store is rekeyed.
//
// [Resolve] picks the KEK source, first match wins:
//
//  1. raw key bytes passed through the API ([RawKEK]);
//  2. a key file ([FileKEK]): 32 raw bytes or the text forms of 4; refused
//     if group or others can access it (not checked on Windows);
//  3. a passphrase ([NewPassphraseKEK]): Argon2id with t=3, m=64 MiB, p=4
//     by default and a random 16-byte salt per header; [PassphraseKEK.SetParams]
//     refuses less than the RFC 9106 / OWASP floor (19 MiB with two or more
//     passes, 46 MiB with one);
//  4. the environment variable GOFASTR_KEK ([EnvKEK]): 64 hex digits or 32
//     bytes in base64 (standard or URL alphabet, padded or not). It is a
//     default: explicitly configured sources (1 to 3) win over it;
//  5. the machine default ([MachineKEK]): a random key in a 0600 file,
//     created on first use at $XDG_CONFIG_HOME/gofastr/kek or the
//     platform's user config directory ([DefaultMachineKEKPath]).
//
// Unlike age, which has no default key path, the machine default exists so
// that a store is encrypted at rest without configuration; its limits are
// described at [MachineKEK].
//
// # File formats
//
// Header, <db>.dek, version 1 ([HeaderVersion]): a JSON object, mode 0600.
//
//	{
//	  "version": 1,
//	  "nonce": "<base64, 12 bytes>",
//	  "wrapped": "<base64, 48 bytes: AES-256-GCM(DEK) with tag>",
//	  "meta": "created=2026-01-02T03:04:05Z rewrapped=2026-03-04T05:06:07Z kek=machine",
//	  "kdf": {"alg": "argon2id", "salt": "<base64, 16 bytes>", "t": 3, "m": 65536, "p": 4},
//	  "sum": "<base64, 16 bytes>"
//	}
//
// "meta" (free text naming the KEK source, after the dates when the DEK
// was created and last rewrapped, RFC 3339 UTC, each left out when
// unknown or never; see [DEKHeader.Created], [DEKHeader.Rewrapped] and
// [DEKHeader.Source]; headers written before the dates were recorded hold
// "kek=<source>" alone) and "kdf" (present only for passphrase KEKs) are
// optional. Binary fields are canonical padded
// standard base64. The wrap key is HKDF-SHA256(KEK, info "github.com/gofastr/
// store/keyring v1 wrap key"); the nonce is random; the associated data is
// the label "github.com/gofastr/store/keyring v1 header" followed by the
// version, meta and kdf fields in a length-prefixed binary encoding; "sum" is
// a truncated SHA-256 over all fields that detects accidental damage (it is
// not a MAC). wrap.go specifies the encoding. Readers reject unknown fields,
// so any change to the format is a new version, and every version ever
// written keeps opening (testdata/vectors holds frozen examples).
//
// Escrow file: a binary age v1 file (age-encryption.org/v1) whose plaintext
// is the raw 32-byte DEK. Decrypt it with age -d -i key.txt.
//
// Rekey in progress: <db>.dek.next (a version 1 header for the new DEK) and
// <db>.rekey (the re-encrypted copy). The database's plaintext key check
// (see package sqlitevfs) tells which DEK it is sealed under, and so whether
// the rekey reached its commit point, the rename of the copy. An
// encryption ([EncryptWith]) uses the same two files; while the database
// still starts with SQLite's plaintext header, it did not reach its commit
// point.
//
// Creation in progress: <db>.dek.creating, empty, written before a new
// header and removed once [LoadOrCreateDEKWith]'s callback has created the
// database (create.go). Found later beside a database whose first page
// was never written and no WAL, it means that creation never finished:
// the next LoadOrCreateDEKWith removes the header and the database files
// and creates the store again. Beside anything else it is removed alone.
//
// Lock files: <db>.lock (the store lock) and <db>.dek.lock (the header
// lock), empty, mode 0600, locked with flock (Unix) or LockFileEx (Windows)
// and never deleted; lock.go describes the protocol.
//
// All files are created with mode 0600, whatever the umask.
//
// # What each file gives an attacker
//
// Read access means a copy of the file (a backup, a synced folder, another
// local user if the modes were loosened); write access means the attacker
// can replace, modify or delete it. Both assume the attacker does not have
// the KEK (or passphrase) or the DEK; with the KEK, reading <db>.dek gives
// the DEK, and with the DEK, every page.
//
//   - <db>.dek, read: the wrapped DEK, the nonce, the KDF salt and
//     parameters (which reveal whether the KEK is a passphrase, and let
//     the attacker test passphrase guesses offline at the Argon2id cost),
//     and the meta naming the KEK source ("kek=machine",
//     "kek=file:/path") and when the DEK was created and last rewrapped.
//     Nothing about the data. Write: deleting or
//     corrupting it denies service until it is restored or re-created
//     with ImportDEK; a modified header fails authentication
//     ([ErrWrongKEK]) or its checksum ([ErrCorruptHeader]) and never
//     yields a different DEK. Replacing it with an older copy of itself
//     (rollback) makes a rotated-away KEK open the store again. Replacing
//     it with a header the attacker made under their own KEK fails with
//     [ErrWrongKEK]; should such a header ever be opened, its DEK fails the
//     database's key check and the store refuses to open (wrong key)
//     rather than read or write the data under another key.
//   - <db>.dek.next, read: the same as <db>.dek, for the DEK a rekey is
//     installing. Write: recovery installs it only if the database's key
//     check matches its DEK, and otherwise deletes it, so a planted or
//     modified one can only block recovery (a header the KEK does not open
//     is an error) until it is removed; deleting it mid-rekey is the same
//     as a crash before the commit point.
//   - <db>.dek.creating, write: planting one beside a store whose
//     database has lost its first page makes the next open start a new
//     empty store instead of failing with lost data; beside a store with
//     a first page it is removed and changes nothing. Destroying the
//     data takes no marker for an attacker who can write the files.
//   - <db>.rekey, read: a database copy sealed under the new DEK, as
//     opaque as the database itself. Write: it is only ever renamed over
//     the database by the rekey that wrote it, while it holds the
//     exclusive store lock; without the new DEK the attacker cannot make
//     pages that authenticate, so a modified copy fails quick_check or,
//     later, page authentication: corruption, not disclosure. A planted
//     one is deleted by the next recovery or rekey.
//   - <db>.lock and <db>.dek.lock, read: nothing (they are empty). Write:
//     holding a lock on them (which needs only read access to open them)
//     blocks rekey, rotation, import, export and store opens, which fail
//     with [ErrInUse] after a bounded wait: a denial of service. Deleting
//     or replacing one lets a process lock a different file than processes
//     that opened it earlier: the operations they protect may then run
//     concurrently again, with the races they exist to prevent.
//   - Escrow files, read: nothing without one of the age identities;
//     with one, the DEK and therefore every page, until the next rekey,
//     whatever KEK the header uses. Write: deleting loses the recovery
//     path; replacing it with the escrow of another DEK is refused by
//     ImportDEK ([ErrForeignDEK]), since that DEK fails the database's
//     key check.
//
// Key file: 32 raw bytes, or the key as hex or base64 text. The machine key
// file holds standard base64 and a newline.
package keyring
