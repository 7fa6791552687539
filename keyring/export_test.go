package keyring

// Hooks for the black-box tests in package keyring_test.

// MarshalHeader encodes h as a header file.
func MarshalHeader(h *DEKHeader) ([]byte, error) { return h.marshal() }

// WriteFileAtomic is the atomic replace used for headers.
var WriteFileAtomic = writeFileAtomic

// StaleTempAge is how old a temporary file must be before it is removed.
const StaleTempAge = staleTempAge
