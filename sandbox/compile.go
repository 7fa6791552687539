package sandbox

import (
	"context"
	"encoding/binary"
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

	runs flights // the last run to end after Close releases cm
}

// Compile compiles a guest module (the bytes of a .wasm file) once, after
// checking that it is a guest this host can run:
//
//   - it exports an ABI marker (gofastr_abi_v<major>_<minor>, a function
//     without parameters or results) of this host's major version and a
//     minor version not above the host's; otherwise ErrNotGuest (no
//     marker) or ErrABIVersion, whose message names both versions;
//   - it is a command: it exports _start, which runs main;
//   - it defines its memory and exports it as "memory" (else ErrNotGuest);
//     its initial size is checked against each run's memory limit;
//   - every function it imports from the host module is one this host
//     provides, with the ABI's signature (else ErrABIVersion naming it),
//     and it imports nothing from any other module but WASI preview 1
//     (else ErrNotGuest naming the module), and nothing but functions:
//     no memory, table or global (else ErrNotGuest naming the import).
//
// Compilation is serialized across the process and goes through the
// shared compilation cache, so compiling the same bytes again, in this
// process or another, is quick. The data segments that Go's linker splits
// at every run of zeros are merged first, which halves the time to
// instantiate a Go guest; modules with a data count section are compiled
// as given.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Guest, error) {
	if r.isClosed() {
		return nil, errorf(ErrClosed, "sandbox: compile: runtime closed")
	}
	merged := mergeDataSegments(wasm)
	compileMu.Lock()
	cm, err := r.rt.CompileModule(ctx, merged)
	compileMu.Unlock()
	if err != nil && r.isClosed() {
		return nil, errorf(ErrClosed, "sandbox: compile: runtime closed: %v", err)
	}
	if err != nil {
		if strings.Contains(err.Error(), "over limit") {
			return nil, errorf(ErrMemoryLimit, "sandbox: compile: %v", err)
		}
		return nil, errorf(ErrNotGuest, "sandbox: compile: %v", err)
	}
	g := &Guest{rt: r, cm: cm}
	if err := g.inspect(r, wasm); err != nil {
		cm.Close(ctx)
		if r.isClosed() {
			return nil, errorf(ErrClosed, "sandbox: compile: runtime closed: %v", err)
		}
		return nil, err
	}
	return g, nil
}

// inspect checks the module's marker, entry point, memory and imports and
// fills in g's version, imports and minimum memory. wasm is the module as
// given, which compiled.
func (g *Guest) inspect(r *Runtime, wasm []byte) error {
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
	layout, ok := parseLayout(wasm)
	if !ok {
		return errorf(ErrNotGuest, "sandbox: module's import or memory section does not parse")
	}
	for _, im := range layout.imports {
		switch im.kind {
		case externFunc:
			// Checked above.
		case externMemory:
			return errorf(ErrNotGuest, "sandbox: guest imports memory %s.%s; guests define their own memory", im.module, im.name)
		default:
			return errorf(ErrNotGuest, "sandbox: guest imports %s %s.%s; guests import only functions",
				externName(im.kind), im.module, im.name)
		}
	}
	if _, ok := g.cm.ExportedMemories()[guestMemory]; !ok {
		return errorf(ErrNotGuest, "sandbox: module exports no memory named %q: a guest defines its memory and exports it as %q", guestMemory, guestMemory)
	}
	slices.Sort(g.imports)
	g.imports = slices.Compact(g.imports)
	g.minPages = layout.minPages
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

// Close closes the guest without waiting for anything: runs that start
// later fail with ErrClosed, and runs in flight are stopped (their
// contexts are canceled) and return ErrClosed. The compiled module is
// released at once when no run is in flight, otherwise by the last of
// them as it returns. Close may be called from any goroutine, including
// from a run's own output or log writer or Source method. Closing twice
// is a no-op.
func (g *Guest) Close(ctx context.Context) error {
	if g == nil {
		return nil
	}
	if g.runs.close("guest") {
		return g.cm.Close(ctx)
	}
	return nil
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

// guestMemory is the name under which a guest exports its memory.
const guestMemory = "memory"

// External kinds of imports in the binary format.
const (
	externFunc   = 0
	externTable  = 1
	externMemory = 2
	externGlobal = 3
	externTag    = 4
)

// externName names an external kind.
func externName(kind byte) string {
	switch kind {
	case externFunc:
		return "function"
	case externTable:
		return "table"
	case externMemory:
		return "memory"
	case externGlobal:
		return "global"
	case externTag:
		return "tag"
	}
	return "import"
}

// moduleImport is an entry of a module's import section.
type moduleImport struct {
	module, name string
	kind         byte
}

// moduleLayout is what Compile reads from a module's binary form: its
// imports and the largest initial size of the memories it defines.
type moduleLayout struct {
	imports  []moduleImport
	minPages uint32
}

// parseLayout reads the import and memory sections of wasm; ok is false
// when they do not parse.
func parseLayout(wasm []byte) (l moduleLayout, ok bool) {
	sections, ok := splitSections(wasm)
	if !ok {
		return l, false
	}
	for _, s := range sections {
		r := reader{b: s.body}
		switch s.id {
		case 2: // imports
			n := r.uvarint()
			for i := uint64(0); i < n && r.ok(); i++ {
				im := moduleImport{module: r.name(), name: r.name(), kind: r.byte()}
				switch im.kind {
				case externFunc:
					r.uvarint()
				case externTable:
					r.byte()
					r.limits()
				case externMemory:
					r.limits()
				case externGlobal:
					r.byte()
					r.byte()
				case externTag:
					r.byte()
					r.uvarint()
				default:
					return l, false
				}
				l.imports = append(l.imports, im)
			}
		case 5: // memories
			n := r.uvarint()
			for i := uint64(0); i < n && r.ok(); i++ {
				pages := r.limits()
				l.minPages = uint32(min(max(uint64(l.minPages), pages), 1<<16))
			}
		default:
			continue
		}
		if !r.ok() {
			return l, false
		}
	}
	return l, true
}

// reader reads the binary format; a read past the end or a malformed
// number sets bad, after which every read returns zero.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) ok() bool { return !r.bad }

func (r *reader) byte() byte {
	if r.bad || len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) name() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// limits reads a table's or memory's limits and returns the minimum.
func (r *reader) limits() uint64 {
	flags := r.byte()
	minimum := r.uvarint()
	if flags&1 != 0 {
		r.uvarint()
	}
	return minimum
}
