// Package engine is the one place that configures SQLite: the wazero
// runtime it runs in, its on-disk compilation cache, and how connections are
// opened (VFS, reserved bytes, journal mode, durability). Everything
// engine-specific stays here so moving to another SQLite build is small.
package engine

import (
	"errors"
	"math/bits"
	"os"
	"path/filepath"
	"sync"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/embed" // the SQLite Wasm binary
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// EnvCacheDir names the environment variable that overrides the compilation
// cache directory. The value "off" disables the cache.
const EnvCacheDir = "GOFASTR_CACHE_DIR"

// Config is the runtime configuration. The zero value uses the default
// cache directory.
type Config struct {
	// CacheDir is where wazero keeps compiled SQLite (and guest) code.
	// Empty means $GOFASTR_CACHE_DIR, else $XDG_CACHE_HOME/gofastr/wazero
	// (os.UserCacheDir). "off" disables the cache.
	CacheDir string
}

var setup struct {
	once  sync.Once
	dir   string // cache directory in use, "" if none
	cache wazero.CompilationCache
	err   error
}

// ErrAlreadyConfigured is returned by [Configure] after the runtime was set
// up with another configuration.
var ErrAlreadyConfigured = errors.New("engine: runtime already configured")

// Configure sets up the SQLite runtime once per process. Later calls with
// the same configuration are no-ops; with another, they return
// [ErrAlreadyConfigured]. A cache directory that cannot be created silently
// degrades to no cache: the only cost is a slower first open.
func Configure(cfg Config) error {
	dir := resolveCacheDir(cfg.CacheDir)
	first := false
	setup.once.Do(func() {
		first = true
		initialize(dir)
	})
	if !first && dir != setup.dir && setup.cache != nil {
		return ErrAlreadyConfigured
	}
	return setup.err
}

// ensure configures the runtime with the defaults unless Configure did.
func ensure() error {
	setup.once.Do(func() { initialize(resolveCacheDir("")) })
	return setup.err
}

// initialize builds the runtime configuration and compiles SQLite.
func initialize(dir string) {
	rc := wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2)
	if bits.UintSize < 64 {
		rc = rc.WithMemoryLimitPages(512) // 32 MiB
	} else {
		rc = rc.WithMemoryLimitPages(4096) // 256 MiB
	}
	if dir != "" && os.MkdirAll(dir, 0o700) == nil {
		if c, err := wazero.NewCompilationCacheWithDir(dir); err == nil {
			setup.cache = c
			setup.dir = dir
			rc = rc.WithCompilationCache(c)
		}
	}
	sqlite3.RuntimeConfig = rc
	setup.err = sqlite3.Initialize()
}

// CacheDir returns the compilation cache directory in use, or "" if the
// runtime runs without a cache (or is not configured yet).
func CacheDir() string { return setup.dir }

// CompilationCache returns the cache shared with guest runtimes, or nil.
func CompilationCache() wazero.CompilationCache { return setup.cache }

// SharedCompilationCache configures the runtime with the defaults unless
// [Configure] did, then returns its compilation cache (nil when the
// runtime runs without one). Guest runtimes call it so that they share
// the cache whatever was opened first.
func SharedCompilationCache() (wazero.CompilationCache, error) {
	if err := ensure(); err != nil {
		return nil, err
	}
	return setup.cache, nil
}

// resolveCacheDir applies the documented precedence.
func resolveCacheDir(dir string) string {
	if dir == "" {
		dir = os.Getenv(EnvCacheDir)
	}
	if dir == "off" {
		return ""
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "gofastr", "wazero")
	}
	return dir
}
