package sandbox

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/gofastr/store/internal/engine"
)

// Memory sizes, in bytes.
const (
	// DefaultMaxMemory is a runtime's default ceiling on the memory of a
	// guest (see RuntimeConfig.WithMaxMemory).
	DefaultMaxMemory = 256 << 20
	// DefaultMemoryLimit is the memory a run allows when its
	// configuration sets none (see RunConfig.WithMemoryLimit); it is
	// lowered to the runtime's ceiling when that is smaller.
	DefaultMemoryLimit = 64 << 20
)

// pageSize is the size of a WebAssembly memory page.
const pageSize = 64 << 10

// RuntimeConfig configures a Runtime. Its methods return modified copies;
// the zero value is the default configuration.
type RuntimeConfig struct {
	maxMemory   uint64
	cooperative bool
	noCache     bool // tests: compile without the shared cache
}

// NewRuntimeConfig returns the default configuration.
func NewRuntimeConfig() RuntimeConfig { return RuntimeConfig{} }

// WithMaxMemory sets the ceiling on any guest's memory, in bytes, rounded
// down to whole 64 KiB pages (default DefaultMaxMemory, at most 4 GiB).
// A run's own limit (RunConfig.WithMemoryLimit) is lowered to it.
func (c RuntimeConfig) WithMaxMemory(bytes uint64) RuntimeConfig {
	c.maxMemory = bytes
	return c
}

// WithCooperativeDeadlines makes the runtime's guests run up to about
// ten times faster on CPU-bound work, at a cost in safety: a run's
// deadline and cancellation are then checked only when the guest calls
// the host (its host functions, and the clock and sleep calls the Go
// runtime makes), so a guest that loops without calling the host is never
// stopped. Use it only for trusted guests, such as a harness's own agent
// loop replayed in its test suite.
//
// By default the compiled guest code checks, at every loop and function
// entry, whether its run was stopped, which stops any guest at its
// deadline; with Go guests those checks dominate CPU-bound work. The
// compilation cache keys code by whether it checks (wazero records the
// setting in the key), so cached code without the checks never serves a
// runtime that needs them; as a second line of defence, such code is
// also kept in a subdirectory of its own ("cooperative") of the shared
// cache.
func (c RuntimeConfig) WithCooperativeDeadlines() RuntimeConfig {
	c.cooperative = true
	return c
}

// maxPages returns the ceiling in pages, at least one.
func (c RuntimeConfig) maxPages() uint32 {
	b := c.maxMemory
	if b == 0 {
		b = DefaultMaxMemory
	}
	p := b / pageSize
	switch {
	case p < 1:
		p = 1
	case p > 65536:
		p = 65536
	}
	return uint32(p)
}

// Runtime compiles and runs guests. It shares the compilation cache of
// the SQLite engine (package internal/engine), so a guest compiled once
// on a machine loads from the cache afterwards, in any process. It holds
// the WASI and host-function modules that guest instances link to; each
// run gets a fresh anonymous guest instance (see Guest.Run). A Runtime is
// safe for concurrent use; Close it when done.
type Runtime struct {
	rt          wazero.Runtime
	maxPages    uint32
	cooperative bool

	runs flights // of every guest; the last to end after Close releases rt
}

// exitCodeClosed is the exit code with which the wazero runtime is
// closed, so that no instance it might close looks like a guest that
// finished (wazero reports an instance closed with exit code 0 as a
// success). It differs from wazero's codes for a canceled context and a
// deadline.
const exitCodeClosed uint32 = 0xdfffffff

// NewRuntime creates a runtime: a wazero runtime with the shared
// compilation cache, context-driven termination of guests (deadlines and
// cancellation stop a running guest; see also
// RuntimeConfig.WithCooperativeDeadlines), the memory ceiling of cfg,
// WASI preview 1 and the host module of this ABI.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	rc := wazero.NewRuntimeConfig().
		WithCoreFeatures(api.CoreFeaturesV2).
		WithCloseOnContextDone(!cfg.cooperative).
		WithMemoryLimitPages(cfg.maxPages())
	if !cfg.noCache {
		cache, err := engine.SharedCompilationCache()
		if err != nil {
			return nil, fmt.Errorf("sandbox: new runtime: %w", err)
		}
		if cfg.cooperative {
			// wazero's cache key records whether the code checks for
			// termination (AssignModuleID hashes the setting), so the
			// shared cache would keep the two apart already; a
			// directory of their own is defence in depth, against a
			// wazero version that stopped doing so.
			cache = nil
			if dir := engine.CacheDir(); dir != "" {
				cache, _ = wazero.NewCompilationCacheWithDir(filepath.Join(dir, "cooperative"))
			}
		}
		if cache != nil {
			rc = rc.WithCompilationCache(cache)
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("sandbox: new runtime: instantiate WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("sandbox: new runtime: instantiate host module: %w", err)
	}
	return &Runtime{rt: rt, maxPages: cfg.maxPages(), cooperative: cfg.cooperative}, nil
}

// Close closes the runtime without waiting for anything: later calls of
// Compile and Run return ErrClosed, and runs in flight are stopped
// (their contexts are canceled) and return ErrClosed. The runtime, its
// host modules and every guest compiled on it are released at once when
// no run is in flight, otherwise by the last of them as it returns (its
// instance is closed first; wazero closing the runtime under a running
// instance would race with it). Close may be called from any goroutine,
// including from a run's own output or log writer or Source method.
// Closing twice is a no-op.
func (r *Runtime) Close(ctx context.Context) error {
	if r == nil {
		return nil
	}
	if r.runs.close("runtime") {
		return r.rt.CloseWithExitCode(ctx, exitCodeClosed)
	}
	return nil
}

// isClosed reports whether Close was called.
func (r *Runtime) isClosed() bool { return r.runs.isClosed() }
