package host

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/pricing"
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
	busy       time.Duration
	cacheDir   string
	prices     *pricing.Table
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
// The Config keeps src itself: a source over caller-owned bytes, such as
// keyring.RawKEK(k), reads k whenever a store is opened with the Config,
// so keep k unchanged for as long as the Config is used (a cleared k is
// refused as an all-zero KEK).
func (c Config) WithKEKSource(src keyring.KEKSource) Config {
	if isNil(src) {
		return c.invalid("WithKEKSource", "nil source")
	}
	c.kek = src
	return c
}

// WithKey returns a copy of c that opens an encrypted store with key, its
// raw 32-byte data key (see [OpenEncrypted]); most callers want
// WithKEKSource, which keeps the data key wrapped on disk. It excludes
// WithKEKSource. An all-zero key is refused: it is a cleared or unfilled
// buffer, never a real key.
//
// The Config keeps its own copy of key, so the caller may clear its slice
// at once; the copy lives as long as the Config (Go cannot clear it when
// the Config is garbage), and each Store keeps its own copy while it is
// open.
func (c Config) WithKey(key []byte) Config {
	if len(key) != sqlitevfs.KeySize {
		return c.invalid("WithKey", "key must be %d bytes, got %d", sqlitevfs.KeySize, len(key))
	}
	if !slices.ContainsFunc(key, func(b byte) bool { return b != 0 }) {
		return c.invalid("WithKey", "all %d bytes of the key are zero", len(key))
	}
	c.key = bytes.Clone(key)
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
// connections of their own. n must be between 1 and [MaxReaders].
func (c Config) WithReaders(n int) Config {
	if n < 1 || n > MaxReaders {
		return c.invalid("WithReaders", "%d read connections, want 1 to %d", n, MaxReaders)
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

// WithBusyTimeout returns a copy of c whose store waits up to d for a lock
// another handle or process holds before a write or read fails with
// [ErrBusy] (default 5 s). ApplyRetention holds the write lock while it
// rewrites the whole store, several seconds for hundreds of megabytes:
// writers that share a large store with it need a longer timeout. d must
// be between 1 ms and 1 hour.
func (c Config) WithBusyTimeout(d time.Duration) Config {
	if d < time.Millisecond || d > time.Hour {
		return c.invalid("WithBusyTimeout", "%v, want 1ms to 1h", d)
	}
	c.busy = d
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
	if dir != "off" {
		dir = filepath.Clean(dir)
	}
	c.cacheDir = dir
	return c
}

// maxPriceSource is the longest price table source (name and date, see
// pricing.Source.String) WithPricing accepts: the source is stored with
// every attempt priced from the table, within [MaxAttemptString] bytes
// together with the reason of an unpriced attempt.
const maxPriceSource = MaxAttemptString - 64

// WithPricing returns a copy of c whose store prices provider attempts
// from table t: [Store.RecordAttempt] estimates the cost of an attempt
// recorded with neither an EstimatedUSD nor a Price snapshot, at the
// prices in force at its StartedAt, and stores the estimate with a
// snapshot of the prices used, so that later tables do not change the
// recorded history. An attempt the table has no price for is stored with
// an unpriced snapshot ([abi.AttemptPrice.Unpriced]), never as a silent
// zero. Without WithPricing (the default) attempts are stored as given.
// t must not be nil, its name must not be empty nor begin with
// [abi.UnpricedPrefix], and its name and date together (pricing.Source's
// String) must be at most MaxAttemptString-64 bytes. The table is
// shared, not copied: a Table is immutable.
func (c Config) WithPricing(t *pricing.Table) Config {
	if t == nil {
		return c.invalid("WithPricing", "nil table")
	}
	if t.Name() == "" {
		return c.invalid("WithPricing", "table without a name")
	}
	if strings.HasPrefix(t.Name(), abi.UnpricedPrefix) {
		return c.invalid("WithPricing", "table name begins with %q, the mark of unpriced attempts", abi.UnpricedPrefix)
	}
	if n := len(tableSource(t)); n > maxPriceSource {
		return c.invalid("WithPricing", "table name and date of %d bytes, at most %d", n, maxPriceSource)
	}
	c.prices = t
	return c
}

// priceTable is the type of a Store's price table (a name for the field
// of Store).
type priceTable = pricing.Table

// tableSource is the source recorded for prices taken from t.
func tableSource(t *pricing.Table) string {
	return pricing.Source{Name: t.Name(), Date: t.Date()}.String()
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
		return fmt.Errorf("%w: WithCacheDir(%q): SQLite is already set up in this process with another cache directory (%q): the cache directory is chosen once per process", ErrInvalidArgument, c.cacheDir, engine.CacheDir())
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
	s.prices = c.prices
}

// isNil reports whether src is nil or a nil pointer, map, slice, func or
// channel in an interface: a source no method can be called on.
func isNil(src keyring.KEKSource) bool {
	if src == nil {
		return true
	}
	switch v := reflect.ValueOf(src); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// readerCount returns the number of idle read connections c asks for.
func (c Config) readerCount() int {
	if c.readers == 0 {
		return DefaultReaders
	}
	return c.readers
}
