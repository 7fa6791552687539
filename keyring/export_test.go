package keyring

import "time"

// Hooks for the black-box tests in package keyring_test.

// MarshalHeader encodes h as a header file.
func MarshalHeader(h *DEKHeader) ([]byte, error) { return h.marshal() }

// WriteFileAtomic is the atomic replace used for headers.
var WriteFileAtomic = writeFileAtomic

// StaleTempAge is how old a temporary file must be before it is removed.
const StaleTempAge = staleTempAge

// SetArgon2Floor replaces the Argon2id floor SetParams enforces (memory in
// KiB with one pass, and with more) and returns a function restoring the
// previous one. Tests lower it to derive keys quickly; it is not safe to
// call while other goroutines use SetParams.
func SetArgon2Floor(mem1Pass, mem uint32) (restore func()) {
	old := argon2Floor
	argon2Floor.mem1Pass, argon2Floor.mem = mem1Pass, mem
	return func() { argon2Floor = old }
}

// Params returns the parameters s uses for new headers.
func (s *PassphraseKEK) Params() (time, memoryKiB uint32, threads uint8) {
	return s.time, s.memory, s.threads
}

// StopRekeyAt makes RekeyWith return at stage ("next-written",
// "before-rename" or "renamed") leaving its files behind, as if the process
// had died there. It returns a function that undoes it.
func StopRekeyAt(stage string) (restore func()) {
	old := testRekeyStop
	testRekeyStop = func(s string) bool { return s == stage }
	return func() { testRekeyStop = old }
}

// ErrSimulatedCrash is what RekeyWith returns where StopRekeyAt stops it.
var ErrSimulatedCrash = errSimulatedCrash

// SetNow replaces the clock header dates come from and returns a function
// restoring it. Not safe while other goroutines write headers.
func SetNow(f func() time.Time) (restore func()) {
	old := now
	now = f
	return func() { now = old }
}

// ParseMeta exposes the meta parser: created, rewrapped, source.
func ParseMeta(meta string) (created, rewrapped time.Time, source string) {
	t, s := parseMeta(meta)
	return t.created, t.rewrapped, s
}
