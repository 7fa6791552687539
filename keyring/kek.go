package keyring

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
)

// Key sizes.
const (
	KEKSize = 32 // bytes of a key-encryption key
	DEKSize = 32 // bytes of a data-encryption key
)

// DefaultEnvVar is the environment variable [Resolve] reads a KEK from.
const DefaultEnvVar = "GOFASTR_KEK"

// A KEKSource supplies the key-encryption key that wraps a store's DEK. It
// plays the roles of both an age Recipient (NewKEK, for wrapping) and an age
// Identity (KEK, for unwrapping). The package provides [RawKEK], [EnvKEK],
// [FileKEK], [NewPassphraseKEK] and [MachineKEK]; [Resolve] picks one.
// keyringtest.Run checks an implementation against this contract.
//
// Every returned KEK must be a new slice of [KEKSize] bytes: the caller
// clears it after use.
type KEKSource interface {
	// Name describes where the KEK comes from, such as "machine" or
	// "env:GOFASTR_KEK". It never contains key material. It is recorded in
	// the header's meta as "kek=<Name>".
	Name() string

	// NewKEK returns a KEK for wrapping a DEK into a new header, and the KDF
	// record to store in that header, nil if the KEK is not derived from a
	// passphrase. KEK(kdf) must return the same key afterwards.
	NewKEK() (kek []byte, kdf *KDFParams, err error)

	// KEK returns the KEK that opens a header whose KDF record is kdf (nil if
	// the header has none). It must return an error wrapping [ErrWrongKEK]
	// if the source cannot produce that kind of KEK.
	KEK(kdf *KDFParams) ([]byte, error)
}

var _ KEKSource = rawKEK{}

// RawKEK returns a source for a KEK given as [KEKSize] raw bytes. The source
// refers to key rather than copying it: keep key unchanged while the source
// is in use, and clear it afterwards if you like.
func RawKEK(key []byte) KEKSource { return rawKEK{key} }

type rawKEK struct{ key []byte }

func (rawKEK) Name() string { return "raw" }

func (r rawKEK) NewKEK() ([]byte, *KDFParams, error) {
	k, err := r.KEK(nil)
	return k, nil, err
}

func (r rawKEK) KEK(kdf *KDFParams) ([]byte, error) {
	if kdf != nil {
		return nil, errNeedsPassphrase(r.Name())
	}
	if len(r.key) != KEKSize {
		return nil, fmt.Errorf("%w: raw KEK is %d bytes, want %d", ErrInvalidKEK, len(r.key), KEKSize)
	}
	return bytes.Clone(r.key), nil
}

func errNeedsPassphrase(source string) error {
	return fmt.Errorf("%w: the header's KEK is derived from a passphrase (argon2id), but source %q supplies a key", ErrWrongKEK, source)
}

// decodeKEKText decodes a KEK written as text: 64 hex digits, or base64 in
// the standard or URL alphabet, padded (44 characters) or not (43).
// Surrounding white space is ignored. The reason it returns on failure
// never quotes the input.
func decodeKEKText(text []byte) ([]byte, string) {
	text = bytes.TrimSpace(text)
	key := make([]byte, KEKSize)
	switch len(text) {
	case 0:
		return nil, "empty"
	case 2 * KEKSize:
		if _, err := hex.Decode(key, text); err == nil {
			return key, ""
		}
		clear(key)
		return nil, "64 characters but not valid hex"
	case 43, 44:
		buf := make([]byte, 33) // Decode needs DecodedLen(44) = 33 bytes
		defer clear(buf)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if n, err := enc.Strict().Decode(buf, text); err == nil && n == KEKSize {
				copy(key, buf)
				return key, ""
			}
		}
		return nil, fmt.Sprintf("%d characters but not valid base64 of 32 bytes", len(text))
	default:
		return nil, fmt.Sprintf("%d characters; want 64 hex digits or 44 base64 characters (43 unpadded)", len(text))
	}
}

// Sources lists the places a KEK can come from. [Resolve] uses the first one
// that is configured, in field order, except that the environment variable
// comes after every explicitly configured source: it is a default, and must
// not silently override a key file or passphrase the caller asked for.
type Sources struct {
	// Key is a raw KEK passed through the API. Non-nil means configured,
	// even when empty (which then fails with ErrInvalidKEK rather than
	// silently falling through to another source).
	Key []byte
	// EnvVar names the environment variable holding a hex or base64 KEK;
	// "" means DefaultEnvVar. Configured when the variable is set and
	// non-empty.
	EnvVar string
	// KeyFile is a key file (see FileKEK). Configured when non-empty.
	KeyFile string
	// Passphrase is stretched with Argon2id (see NewPassphraseKEK).
	// Configured when non-nil.
	Passphrase []byte
	// MachineKeyFile overrides the machine key path (see MachineKEK).
	MachineKeyFile string
	// NoMachineDefault makes Resolve return ErrNoKEK instead of falling
	// back to the machine key.
	NoMachineDefault bool
}

// Resolve returns the KEK source to use, in this order:
//
//  1. s.Key, raw bytes from the API ([RawKEK]);
//  2. s.KeyFile ([FileKEK]);
//  3. s.Passphrase ([NewPassphraseKEK] with the default parameters);
//  4. the environment variable s.EnvVar or [DefaultEnvVar] ([EnvKEK]);
//  5. the machine key file ([MachineKEK]), unless s.NoMachineDefault.
//
// Explicit configuration (1 to 3) wins over the environment, which is only
// a default: a GOFASTR_KEK left set in a shell must not redirect a store
// whose key file or passphrase was configured on purpose (the header would
// then be rewrapped under, or fail with, a key nobody meant to use).
//
// Resolve reads no key material: errors in the chosen source (a malformed
// variable, a key file with loose permissions) surface when it is used.
func Resolve(s Sources) (KEKSource, error) {
	env := cmp.Or(s.EnvVar, DefaultEnvVar)
	switch {
	case s.Key != nil:
		return RawKEK(s.Key), nil
	case s.KeyFile != "":
		return FileKEK(s.KeyFile), nil
	case s.Passphrase != nil:
		return NewPassphraseKEK(s.Passphrase), nil
	case os.Getenv(env) != "":
		return EnvKEK(env), nil
	case s.NoMachineDefault:
		return nil, ErrNoKEK
	}
	return MachineKEK(s.MachineKeyFile), nil
}

// noSource reports whether src is nil, or a nil pointer (or other nil
// reference) in the interface: a source none of whose methods can run.
func noSource(src KEKSource) bool {
	if src == nil {
		return true
	}
	switch v := reflect.ValueOf(src); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}
