package keyring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// HeaderVersion is the DEK header format written by this package. Headers
// of every earlier version keep opening; version 1 is the first.
const HeaderVersion = 1

// Sizes of header fields, fixed for header version 1.
const (
	nonceSize     = 12           // AES-GCM standard nonce
	wrappedSize   = DEKSize + 16 // DEK plus GCM tag
	sumSize       = 16           // truncated SHA-256 checksum
	saltSize      = 16           // Argon2id salt
	maxMetaLen    = 4096         // bytes of meta, after JSON decoding
	maxHeaderSize = 64 << 10     // bytes of header file
	kdfArgon2id   = "argon2id"   // the only KDF
	headerSuffix  = ".dek"       // see HeaderPath
	headerPerm    = os.FileMode(0o600)
)

// DEKHeader is the on-disk shape of the wrapped DEK, stored as JSON in
// <db>.dek (see [HeaderPath]). The package doc describes the format.
//
// Version, Metadata and KDF are authenticated as associated data of the
// AES-GCM wrap (Nonce and Wrapped). Sum is an unkeyed checksum over every
// field that tells accidental corruption ([ErrCorruptHeader]) apart from a
// wrong key ([ErrWrongKEK]).
type DEKHeader struct {
	Version  int        `json:"version"`
	Nonce    []byte     `json:"nonce"`          // AES-GCM nonce for the wrap
	Wrapped  []byte     `json:"wrapped"`        // AES-GCM ciphertext of the DEK
	Metadata string     `json:"meta,omitempty"` // human-readable, e.g. "kek=machine"
	KDF      *KDFParams `json:"kdf,omitempty"`  // set when the KEK is derived from a passphrase
	Sum      []byte     `json:"sum"`            // checksum against accidental corruption
}

// KDFParams records how a passphrase was stretched into the KEK of one
// store. It is stored in, and authenticated by, the header.
type KDFParams struct {
	Alg     string `json:"alg"`  // always "argon2id"
	Salt    []byte `json:"salt"` // 16 random bytes, new for every wrap
	Time    uint32 `json:"t"`    // Argon2id passes
	Memory  uint32 `json:"m"`    // Argon2id memory in KiB
	Threads uint8  `json:"p"`    // Argon2id lanes
}

// HeaderPath returns the path of the DEK header of the database at dbPath:
// dbPath + ".dek".
func HeaderPath(dbPath string) string { return dbPath + headerSuffix }

// ReadHeader reads and validates the DEK header of the database at dbPath
// without unwrapping it. Validation errors are [*HeaderError]s.
func ReadHeader(dbPath string) (*DEKHeader, error) {
	return readHeaderFile(HeaderPath(dbPath))
}

func readHeaderFile(path string) (*DEKHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: read DEK header: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxHeaderSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: read DEK header: %w", err)
	}
	h, err := ParseHeader(data)
	if he, ok := errors.AsType[*HeaderError](err); ok {
		he.Path = path
	}
	return h, err
}

// ParseHeader parses and validates a DEK header file's contents: the JSON
// syntax, the version, every field's presence, spelling and length, the KDF
// parameter ranges and the checksum. It does not unwrap the DEK. Every error
// is a [*HeaderError].
//
// Parsing is stricter than encoding/json: field names are case-sensitive,
// unknown and duplicate fields are rejected, numbers must be plain decimal
// integers and base64 must be canonical, so that any single-bit change of
// the file is reported.
func ParseHeader(data []byte) (*DEKHeader, error) {
	if len(data) > maxHeaderSize {
		return nil, corrupt("", fmt.Sprintf("larger than %d bytes", maxHeaderSize))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, corrupt("", "empty file")
	}
	obj, err := decodeObject(data, "")
	if err != nil {
		return nil, err
	}
	raw, ok := obj.fields["version"]
	if !ok {
		return nil, corrupt("version", "missing")
	}
	v, err := jsonUint(raw, "version", 31)
	if err != nil {
		return nil, err
	}
	if v != HeaderVersion {
		return nil, &HeaderError{
			Field:  "version",
			Reason: fmt.Sprintf("version %d; this build reads versions 1 to %d", v, HeaderVersion),
			Err:    ErrUnsupportedVersion,
		}
	}
	return parseV1(obj)
}

func parseV1(obj object) (*DEKHeader, error) {
	if err := obj.check([]string{"version", "nonce", "wrapped", "sum"}, []string{"meta", "kdf"}); err != nil {
		return nil, err
	}
	h := &DEKHeader{Version: 1}
	var err error
	if h.Nonce, err = jsonBytes(obj.fields["nonce"], "nonce", nonceSize); err != nil {
		return nil, err
	}
	if h.Wrapped, err = jsonBytes(obj.fields["wrapped"], "wrapped", wrappedSize); err != nil {
		return nil, err
	}
	if raw, ok := obj.fields["meta"]; ok {
		if h.Metadata, err = jsonString(raw, "meta"); err != nil {
			return nil, err
		}
		if len(h.Metadata) > maxMetaLen {
			return nil, corrupt("meta", fmt.Sprintf("longer than %d bytes", maxMetaLen))
		}
	}
	if raw, ok := obj.fields["kdf"]; ok {
		if h.KDF, err = parseKDF(raw); err != nil {
			return nil, err
		}
	}
	if h.Sum, err = jsonBytes(obj.fields["sum"], "sum", sumSize); err != nil {
		return nil, err
	}
	if !bytes.Equal(h.Sum, checksum(h)) {
		return nil, corrupt("sum", "checksum mismatch: the header was damaged")
	}
	return h, nil
}

func parseKDF(raw json.RawMessage) (*KDFParams, error) {
	obj, err := decodeObject(raw, "kdf.")
	if err != nil {
		return nil, err
	}
	if err := obj.check([]string{"alg", "salt", "t", "m", "p"}, nil); err != nil {
		return nil, err
	}
	k := &KDFParams{}
	if k.Alg, err = jsonString(obj.fields["alg"], "kdf.alg"); err != nil {
		return nil, err
	}
	if k.Salt, err = jsonBytes(obj.fields["salt"], "kdf.salt", saltSize); err != nil {
		return nil, err
	}
	t, err := jsonUint(obj.fields["t"], "kdf.t", 32)
	if err != nil {
		return nil, err
	}
	m, err := jsonUint(obj.fields["m"], "kdf.m", 32)
	if err != nil {
		return nil, err
	}
	p, err := jsonUint(obj.fields["p"], "kdf.p", 8)
	if err != nil {
		return nil, err
	}
	k.Time, k.Memory, k.Threads = uint32(t), uint32(m), uint8(p)
	if err := k.check(); err != nil {
		return nil, err
	}
	return k, nil
}

// marshal encodes h as the header file's contents. encoding/json writes
// []byte as canonical padded base64 and replaces invalid UTF-8, which
// ParseHeader relies on; sealHeader sanitizes Metadata for the same reason.
func (h *DEKHeader) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyring: encode DEK header: %w", err)
	}
	return append(b, '\n'), nil
}
