package sandbox

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/gofastr/store/abi"
)

// compileMu serializes compilation in the process: concurrent first
// compiles of one module through a shared file cache can corrupt the
// cache entry in wazero v1.12.0 (wazero issue 2547).
var compileMu sync.Mutex

// Guest is a compiled guest module, ready to run any number of times,
// concurrently; each run instantiates it afresh. Close it when done.
type Guest struct {
	rt       *Runtime
	cm       wazero.CompiledModule
	major    int
	minor    int
	imports  []string
	minPages uint32

	mu     sync.Mutex
	closed bool
}

// Compile compiles a guest module (the bytes of a .wasm file) once, after
// checking that it is a guest this host can run:
//
//   - it exports an ABI marker (gofastr_abi_v<major>_<minor>, a function
//     without parameters or results) of this host's major version and a
//     minor version not above the host's; otherwise ErrNotGuest (no
//     marker) or ErrABIVersion, whose message names both versions;
//   - it is a command: it exports _start, which runs main;
//   - every function it imports from the host module is one this host
//     provides, with the ABI's signature (else ErrABIVersion naming it),
//     and it imports nothing from any other module but WASI preview 1
//     (else ErrNotGuest naming the module).
//
// Compilation is serialized across the process and goes through the
// shared compilation cache, so compiling the same bytes again, in this
// process or another, is quick. The data segments that Go's linker splits
// at every run of zeros are merged first, which halves the time to
// instantiate a Go guest.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Guest, error) {
	if r.isClosed() {
		return nil, errorf(ErrClosed, "sandbox: compile: runtime closed")
	}
	compileMu.Lock()
	cm, err := r.rt.CompileModule(ctx, mergeDataSegments(wasm))
	compileMu.Unlock()
	if err != nil {
		if strings.Contains(err.Error(), "over limit") {
			return nil, errorf(ErrMemoryLimit, "sandbox: compile: %v", err)
		}
		return nil, errorf(ErrNotGuest, "sandbox: compile: %v", err)
	}
	g := &Guest{rt: r, cm: cm}
	if err := g.inspect(r); err != nil {
		cm.Close(ctx)
		return nil, err
	}
	return g, nil
}

// inspect checks the module's marker, entry point and imports and fills
// in g's version, imports and minimum memory.
func (g *Guest) inspect(r *Runtime) error {
	exports := g.cm.ExportedFunctions()
	type marker struct{ major, minor int }
	var markers []marker
	for name, def := range exports {
		major, minor, ok := abi.ParseMarker(name)
		if !ok {
			continue
		}
		if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
			return errorf(ErrNotGuest, "sandbox: marker export %s has parameters or results", name)
		}
		markers = append(markers, marker{major, minor})
	}
	if len(markers) == 0 {
		return errorf(ErrNotGuest, "sandbox: module has no ABI marker export (%s for ABI v%s); build it with package guest",
			abi.MarkerExport(abi.Major, abi.Minor), abi.Version())
	}
	slices.SortFunc(markers, func(a, b marker) int {
		if a.major != b.major {
			return a.major - b.major
		}
		return a.minor - b.minor
	})
	// A guest may declare several versions; take the newest this host
	// speaks.
	found := false
	for _, m := range markers {
		if m.major == abi.Major && m.minor <= abi.Minor {
			g.major, g.minor, found = m.major, m.minor, true
		}
	}
	if !found {
		m := markers[len(markers)-1]
		return errorf(ErrABIVersion, "sandbox: guest built for ABI v%d.%d; this host speaks ABI v%s", m.major, m.minor, abi.Version())
	}

	start, ok := exports["_start"]
	if !ok || len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return errorf(ErrNotGuest, "sandbox: module exports no _start function: build the guest as a command (GOOS=wasip1 GOARCH=wasm go build), not as a library")
	}

	wasi := r.rt.Module(wasi_snapshot_preview1.ModuleName)
	var wasiFuncs map[string]api.FunctionDefinition
	if wasi != nil {
		wasiFuncs = wasi.ExportedFunctionDefinitions()
	}
	for _, def := range g.cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch mod {
		case abi.HostModule:
			sig, ok := hostSignatures[name]
			if !ok {
				return errorf(ErrABIVersion, "sandbox: guest imports %s.%s, which ABI v%s does not provide", mod, name, abi.Version())
			}
			if !sameSignature(def, sig) {
				return errorf(ErrABIVersion, "sandbox: guest imports %s.%s with signature %s; ABI v%s has %s",
					mod, name, signatureString(def.ParamTypes(), def.ResultTypes()), abi.Version(), signatureString(sig.params, sig.results))
			}
			g.imports = append(g.imports, name)
		case wasi_snapshot_preview1.ModuleName:
			want, ok := wasiFuncs[name]
			if !ok || !slices.Equal(want.ParamTypes(), def.ParamTypes()) || !slices.Equal(want.ResultTypes(), def.ResultTypes()) {
				return errorf(ErrNotGuest, "sandbox: guest imports %s.%s, which the host does not provide", mod, name)
			}
		default:
			return errorf(ErrNotGuest, "sandbox: guest imports %s.%s from module %q; guests import only from %s and %s",
				mod, name, mod, abi.HostModule, wasi_snapshot_preview1.ModuleName)
		}
	}
	for _, mem := range g.cm.ImportedMemories() {
		mod, name, _ := mem.Import()
		return errorf(ErrNotGuest, "sandbox: guest imports memory %s.%s; guests define their own memory", mod, name)
	}
	slices.Sort(g.imports)
	g.imports = slices.Compact(g.imports)
	for _, mem := range g.cm.ExportedMemories() {
		g.minPages = max(g.minPages, mem.Min())
	}
	return nil
}

// ABI returns the ABI version the guest was built for, from its marker.
func (g *Guest) ABI() (major, minor int) { return g.major, g.minor }

// Imports returns the names of the host functions the guest imports,
// sorted, in a new slice.
func (g *Guest) Imports() []string { return slices.Clone(g.imports) }

// Close releases the compiled module. Runs in progress finish; later
// runs fail with ErrClosed. Closing twice is a no-op.
func (g *Guest) Close(ctx context.Context) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.cm.Close(ctx)
}

// sameSignature reports whether def has the parameter and result types
// of sig.
func sameSignature(def api.FunctionDefinition, sig signature) bool {
	return slices.Equal(def.ParamTypes(), sig.params) && slices.Equal(def.ResultTypes(), sig.results)
}

// signatureString formats a function type as "(i32, i32) -> i64".
func signatureString(params, results []api.ValueType) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, p := range params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(p))
	}
	b.WriteString(") -> (")
	for i, p := range results {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(p))
	}
	b.WriteByte(')')
	return b.String()
}
