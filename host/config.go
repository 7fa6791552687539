package host

import (
	"fmt"
	"slices"
	"time"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// Config says how [OpenWithConfig] opens a store. A Config is immutable:
// [NewConfig] returns the defaults and every With method returns a
// modified copy, leaving its receiver as it was, so one Config can be
// shared and extended freely. The zero Config is the default one.
//
// A bad value given to a With method is reported by OpenWithConfig, as an
// error wrapping [ErrInvalidArgument] that names the option.
type Config struct {
	kek        keyring.KEKSource
	key        []byte
	redactors  []Redactor
	redactSet  bool // WithRedactors was called (even with none)
	readers    int
	clock      func() time.Time
	maxPayload int
	cacheDir   string
	err        error // the first bad value given to a With method
}

// NewConfig returns the default configuration: a plaintext store,
// [DefaultRedactor], [DefaultReaders] read connections, timestamps from
// time.Now and payloads of at most [MaxPayloadSize] bytes.
func NewConfig() Config { return Config{} }

// invalid returns c with the first bad value recorded.
func (c Config) invalid(option, format string, args ...any) Config {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s: %s", ErrInvalidArgument, option, fmt.Sprintf(format, args...))
	}
	return c
}

// WithKEKSource returns a copy of c that opens an encrypted store whose
// data key is wrapped under the KEK src supplies, in <path>.dek (see
// [OpenWithKEK]); [keyring.Resolve] picks a source. It excludes WithKey.
func (c Config) WithKEKSource(src keyring.KEKSource) Config {
	if src == nil {
		return c.invalid("WithKEKSource", "nil source")
	}
	c.kek = src
	return c
}

// WithKey returns a copy of c that opens an encrypted store with key, its
// raw 32-byte data key (see [OpenEncrypted]); most callers want
// WithKEKSource, which keeps the data key wrapped on disk. It excludes
// WithKEKSource.
//
// The Config refers to key rather than copying it, so that no copy of the
// key outlives the caller's control: keep key unchanged until
// OpenWithConfig returns. The Store keeps its own copy of the key for as
// long as it is open; after OpenWithConfig returns, the caller may clear
// its slice.
func (c Config) WithKey(key []byte) Config {
	if len(key) != sqlitevfs.KeySize {
		return c.invalid("WithKey", "key must be %d bytes, got %d", sqlitevfs.KeySize, len(key))
	}
	c.key = key
	return c
}

// WithRedactors returns a copy of c whose store runs rs, in order, on every
// event payload, tool argument and tool result before it is stored,
// instead of [DefaultRedactor]. With no redactors, nothing is redacted.
// The slice is copied.
func (c Config) WithRedactors(rs ...Redactor) Config {
	if slices.Contains(rs, nil) {
		return c.invalid("WithRedactors", "nil redactor")
	}
	c.redactors, c.redactSet = slices.Clone(rs), true
	return c
}

// WithReaders returns a copy of c whose store keeps n idle read
// connections (default [DefaultReaders]); reads beyond them open
// connections of their own. n must be at least 1.
func (c Config) WithReaders(n int) Config {
	if n < 1 {
		return c.invalid("WithReaders", "%d read connections, want at least 1", n)
	}
	c.readers = n
	return c
}

// WithClock returns a copy of c whose store takes the current time from
// now: the time of an event, tool intent or outcome given without one, of
// a pin, and the base of retention's cutoffs. The default is time.Now.
func (c Config) WithClock(now func() time.Time) Config {
	if now == nil {
		return c.invalid("WithClock", "nil clock")
	}
	c.clock = now
	return c
}

// WithMaxPayloadSize returns a copy of c whose store refuses, with
// [ErrPayloadTooLarge], an event payload, tool arguments or a tool result
// larger than n bytes of JSON. n must be between 1 and [MaxPayloadSize],
// the default.
func (c Config) WithMaxPayloadSize(n int) Config {
	if n < 1 || n > MaxPayloadSize {
		return c.invalid("WithMaxPayloadSize", "%d bytes, want 1 to %d", n, MaxPayloadSize)
	}
	c.maxPayload = n
	return c
}

// WithCacheDir returns a copy of c that keeps the compiled SQLite module
// in dir ("off": no cache). The cache is shared by the whole process and
// set once, by the first store opened (or by the environment variable
// GOFASTR_CACHE_DIR, then the user cache directory): OpenWithConfig fails
// with [ErrInvalidArgument] if SQLite was already set up with another
// cache directory.
func (c Config) WithCacheDir(dir string) Config {
	if dir == "" {
		return c.invalid("WithCacheDir", "empty directory")
	}
	c.cacheDir = dir
	return c
}

// check returns the error of a bad value given to a With method, or of
// options that exclude each other.
func (c Config) check() error {
	switch {
	case c.err != nil:
		return c.err
	case c.kek != nil && c.key != nil:
		return fmt.Errorf("%w: WithKEKSource and WithKey exclude each other", ErrInvalidArgument)
	}
	return nil
}

// setUp configures the SQLite engine as c asks, if it does.
func (c Config) setUp() error {
	if c.cacheDir == "" {
		return nil
	}
	if err := engine.Configure(engine.Config{CacheDir: c.cacheDir}); err != nil {
		return fmt.Errorf("%w: WithCacheDir(%q): %w", ErrInvalidArgument, c.cacheDir, err)
	}
	return nil
}

// apply sets the options of c on a new Store.
func (c Config) apply(s *Store) {
	s.Redactors = []Redactor{DefaultRedactor{}}
	if c.redactSet {
		s.Redactors = slices.Clone(c.redactors)
	}
	s.now = c.clock
	if s.now == nil {
		s.now = time.Now
	}
	s.maxPayload = c.maxPayload
	if s.maxPayload == 0 {
		s.maxPayload = MaxPayloadSize
	}
}

// readerCount returns the number of idle read connections c asks for.
func (c Config) readerCount() int {
	if c.readers == 0 {
		return DefaultReaders
	}
	return c.readers
}
