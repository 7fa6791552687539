// Package keyring manages the keys of an encrypted store: it wraps each
// store's data-encryption key (DEK) under a key-encryption key (KEK) in a
// small header file, rotates the KEK, and escrows the DEK to age public keys.
//
// The DEK is 32 random bytes per store; sqlitevfs encrypts every page with
// it. The DEK never touches disk in the clear: [LoadOrCreateDEK] keeps it
// wrapped under the KEK in <db>.dek ([HeaderPath]), and [RotateKEK] rewraps it
// under a new KEK without touching the database. [ExportDEK] encrypts the DEK
// to age recipients so that a lost KEK or header can be recovered with the
// stock age tool, and [ImportDEK] installs an escrowed DEK under a local KEK.
//
// The functions taking raw key bytes keep the shapes of the original
// session/sqlite API; each has a variant taking a [KEKSource]
// ([LoadOrCreateDEKWith], [RotateKEKWith], [ExportDEKTo], [ImportDEKFrom]),
// which also covers passphrases.
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
//     [Rekey] leaves a store that opens with exactly one DEK and all of
//     its data (the next open finishes or rolls back the rekey).
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
//     database that has data.
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
//     by default and a random 16-byte salt per header;
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
//	  "meta": "kek=machine",
//	  "kdf": {"alg": "argon2id", "salt": "<base64, 16 bytes>", "t": 3, "m": 65536, "p": 4},
//	  "sum": "<base64, 16 bytes>"
//	}
//
// "meta" (free text naming the KEK source) and "kdf" (present only for
// passphrase KEKs) are optional. Binary fields are canonical padded
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
// the rekey reached its commit point, the rename of the copy.
//
// Key file: 32 raw bytes, or the key as hex or base64 text. The machine key
// file holds standard base64 and a newline.
package keyring
