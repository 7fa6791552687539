package keyring

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// Default Argon2id parameters for passphrase KEKs: RFC 9106's second
// recommended option (t=3, 64 MiB) with 4 lanes. They cost about 70 ms and
// 64 MiB of memory each time a header is opened, which is paid once per
// store open, not per page: pages are encrypted with the random DEK.
const (
	DefaultArgon2Time      = 3
	DefaultArgon2MemoryKiB = 64 * 1024
	DefaultArgon2Threads   = 4
)

// Limits on Argon2id parameters, for SetParams and for headers being
// opened (a header cannot make the reader allocate more than 1 GiB).
const (
	maxArgon2Time      = 16
	maxArgon2MemoryKiB = 1 << 20
)

var _ KEKSource = (*PassphraseKEK)(nil)

// PassphraseKEK derives the KEK from a passphrase with Argon2id. Every new
// header gets a new random 16-byte salt; the salt and the parameters are
// stored in the header ([KDFParams]) and authenticated with the wrap.
type PassphraseKEK struct {
	pass    []byte
	time    uint32
	memory  uint32
	threads uint8
}

// NewPassphraseKEK returns a source deriving the KEK from passphrase with
// the default parameters. The source refers to passphrase rather than
// copying it: keep it unchanged while the source is in use, and clear it
// afterwards.
func NewPassphraseKEK(passphrase []byte) *PassphraseKEK {
	return &PassphraseKEK{pass: passphrase, time: DefaultArgon2Time, memory: DefaultArgon2MemoryKiB, threads: DefaultArgon2Threads}
}

// Minimum Argon2id cost SetParams accepts for new headers: the floor of
// RFC 9106 section 7.4 and the OWASP Password Storage Cheat Sheet, which
// trade memory for passes. With one pass at least 46 MiB; with two or
// more passes at least 19 MiB. Anything cheaper lets an attacker holding
// a header test guesses faster than these recommendations assume. The
// defaults (t=3, 64 MiB) are well above both.
const (
	MinArgon2MemoryKiB1Pass = 46 * 1024 // memory floor when t = 1
	MinArgon2MemoryKiB      = 19 * 1024 // memory floor when t >= 2
)

// argon2Floor is the floor SetParams enforces. Only tests lower it
// (export_test.go), so that they can derive keys in microseconds; the
// public API has no way to.
var argon2Floor = struct{ mem1Pass, mem uint32 }{MinArgon2MemoryKiB1Pass, MinArgon2MemoryKiB}

// SetParams sets the Argon2id parameters used for new headers: passes
// (1 to 16), memory in KiB (up to 1 GiB) and threads (lanes, at least 1).
// The memory must be at least [MinArgon2MemoryKiB] (19 MiB) with two or
// more passes, and at least [MinArgon2MemoryKiB1Pass] (46 MiB) with one.
// Out-of-range or weaker parameters are refused with a [*ParamError]
// naming the parameter, wrapping [ErrWeakKDF], and the source keeps its
// previous parameters. Existing headers are always opened with their own
// parameters.
func (s *PassphraseKEK) SetParams(time, memoryKiB uint32, threads uint8) error {
	switch {
	case time < 1 || time > maxArgon2Time:
		return &ParamError{Param: "time", Value: uint64(time), Reason: fmt.Sprintf("want 1 to %d passes", maxArgon2Time)}
	case threads < 1:
		return &ParamError{Param: "threads", Value: uint64(threads), Reason: "want at least 1"}
	case memoryKiB > maxArgon2MemoryKiB:
		return &ParamError{Param: "memory", Value: uint64(memoryKiB), Reason: fmt.Sprintf("want at most %d KiB", maxArgon2MemoryKiB)}
	case memoryKiB < 8*uint32(threads):
		return &ParamError{Param: "memory", Value: uint64(memoryKiB), Reason: fmt.Sprintf("want at least 8 KiB per thread (%d KiB)", 8*uint32(threads))}
	case time == 1 && memoryKiB < argon2Floor.mem1Pass:
		return &ParamError{Param: "memory", Value: uint64(memoryKiB), Reason: fmt.Sprintf("with 1 pass want at least %d KiB (RFC 9106, OWASP)", argon2Floor.mem1Pass)}
	case memoryKiB < argon2Floor.mem:
		return &ParamError{Param: "memory", Value: uint64(memoryKiB), Reason: fmt.Sprintf("want at least %d KiB (RFC 9106, OWASP)", argon2Floor.mem)}
	}
	s.time, s.memory, s.threads = time, memoryKiB, threads
	return nil
}

// Name returns "passphrase".
func (s *PassphraseKEK) Name() string { return "passphrase" }

// NewKEK derives a KEK under a new random salt.
func (s *PassphraseKEK) NewKEK() ([]byte, *KDFParams, error) {
	kdf := &KDFParams{Alg: kdfArgon2id, Salt: make([]byte, saltSize), Time: s.time, Memory: s.memory, Threads: s.threads}
	rand.Read(kdf.Salt)
	k, err := s.KEK(kdf)
	return k, kdf, err
}

// KEK derives the KEK with the salt and parameters of kdf.
func (s *PassphraseKEK) KEK(kdf *KDFParams) ([]byte, error) {
	if kdf == nil {
		return nil, fmt.Errorf("%w: the header's KEK is a key, but source %q derives one from a passphrase", ErrWrongKEK, s.Name())
	}
	if err := kdf.check(); err != nil {
		return nil, err
	}
	if len(s.pass) == 0 {
		return nil, fmt.Errorf("%w: empty passphrase", ErrInvalidKEK)
	}
	return argon2.IDKey(s.pass, kdf.Salt, kdf.Time, kdf.Memory, kdf.Threads, KEKSize), nil
}

// check validates KDF parameters read from a header. It enforces only the
// hard limits, not the floor of SetParams: headers written by older builds
// or by tests keep opening.
func (k *KDFParams) check() *HeaderError {
	switch {
	case k.Alg != kdfArgon2id:
		return corrupt("kdf.alg", "unknown KDF; want argon2id")
	case len(k.Salt) != saltSize:
		return corrupt("kdf.salt", fmt.Sprintf("%d bytes, want %d", len(k.Salt), saltSize))
	case k.Time < 1 || k.Time > maxArgon2Time:
		return corrupt("kdf.t", fmt.Sprintf("%d passes, want 1 to %d", k.Time, maxArgon2Time))
	case k.Threads < 1:
		return corrupt("kdf.p", "0 threads, want at least 1")
	case k.Memory < 8*uint32(k.Threads) || k.Memory > maxArgon2MemoryKiB:
		return corrupt("kdf.m", fmt.Sprintf("%d KiB, want %d to %d", k.Memory, 8*uint32(k.Threads), maxArgon2MemoryKiB))
	}
	return nil
}
