package host

import (
	"crypto/sha256"
	"encoding/hex"
)

// HashArgs returns the lowercase hex SHA-256 of tool arguments, used to
// fill [abi.ToolIntent.ArgsHash].
//
// The hash is over the bytes exactly as given: two encodings of the same
// JSON value (key order, whitespace) hash differently, so a caller that
// compares hashes across runs must serialise arguments the same way each
// time. Hash the arguments before redaction if the hash must identify the
// original call.
func HashArgs(args []byte) string {
	sum := sha256.Sum256(args)
	return hex.EncodeToString(sum[:])
}
