package sandbox

import (
	"encoding/binary"
	"slices"
)

// The tests craft small WebAssembly modules byte by byte: guests of other
// ABI versions, modules with unknown imports, and the trampoline module
// the fuzz target calls host functions through.

// Value types in the binary format.
const (
	wasmI32 byte = 0x7f
	wasmI64 byte = 0x7e
)

// wasmImport is an imported function.
type wasmImport struct {
	module, name    string
	params, results []byte
}

// wasmFunc is a function defined by the module; body is its instructions
// without the final end.
type wasmFunc struct {
	params, results []byte
	body            []byte
}

// wasmExport exports a function (kind 0) or memory (kind 2).
type wasmExport struct {
	name string
	kind byte
	idx  uint32
}

// wasmModule describes a module; functions are indexed imports first.
type wasmModule struct {
	imports  []wasmImport
	funcs    []wasmFunc
	exports  []wasmExport
	memPages uint32 // 0: no memory
}

func wasmVec(n int) []byte { return binary.AppendUvarint(nil, uint64(n)) }

func wasmName(s string) []byte { return append(wasmVec(len(s)), s...) }

func wasmSection(id byte, body []byte) []byte {
	return append(append([]byte{id}, wasmVec(len(body))...), body...)
}

// encode returns the module's binary form.
func (m wasmModule) encode() []byte {
	type sig struct{ params, results string }
	var sigs []sig
	typeOf := func(params, results []byte) uint32 {
		s := sig{string(params), string(results)}
		if i := slices.Index(sigs, s); i >= 0 {
			return uint32(i)
		}
		sigs = append(sigs, s)
		return uint32(len(sigs) - 1)
	}
	var imports, funcs, code []byte
	imports = wasmVec(len(m.imports))
	for _, im := range m.imports {
		imports = append(imports, wasmName(im.module)...)
		imports = append(imports, wasmName(im.name)...)
		imports = append(imports, 0x00)
		imports = binary.AppendUvarint(imports, uint64(typeOf(im.params, im.results)))
	}
	funcs = wasmVec(len(m.funcs))
	code = wasmVec(len(m.funcs))
	for _, f := range m.funcs {
		funcs = binary.AppendUvarint(funcs, uint64(typeOf(f.params, f.results)))
		body := append(append([]byte{0x00}, f.body...), 0x0b) // no locals, body, end
		code = append(append(code, wasmVec(len(body))...), body...)
	}
	types := wasmVec(len(sigs))
	for _, s := range sigs {
		types = append(types, 0x60)
		types = append(append(types, wasmVec(len(s.params))...), s.params...)
		types = append(append(types, wasmVec(len(s.results))...), s.results...)
	}
	exports := wasmVec(len(m.exports))
	for _, e := range m.exports {
		exports = append(exports, wasmName(e.name)...)
		exports = append(exports, e.kind)
		exports = binary.AppendUvarint(exports, uint64(e.idx))
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, wasmSection(1, types)...)
	if len(m.imports) > 0 {
		out = append(out, wasmSection(2, imports)...)
	}
	out = append(out, wasmSection(3, funcs)...)
	if m.memPages > 0 {
		mem := append(wasmVec(1), 0x00)
		mem = binary.AppendUvarint(mem, uint64(m.memPages))
		out = append(out, wasmSection(5, mem)...)
	}
	out = append(out, wasmSection(7, exports)...)
	out = append(out, wasmSection(10, code)...)
	return out
}

// hostImport returns the import of host function name with its ABI
// signature.
func hostImport(module, name string) wasmImport {
	sig := hostSignatures[name]
	return wasmImport{module: module, name: name, params: sig.params, results: sig.results}
}

// markerGuest returns a minimal guest: the marker export of the given
// name, an empty _start, one page of memory, and the given imports.
func markerGuest(marker string, imports ...wasmImport) []byte {
	n := uint32(len(imports))
	m := wasmModule{
		imports:  imports,
		funcs:    []wasmFunc{{}, {}},
		memPages: 1,
		exports:  []wasmExport{{name: "_start", kind: 0, idx: n}, {name: "memory", kind: 2, idx: 0}},
	}
	if marker != "" {
		m.exports = append(m.exports, wasmExport{name: marker, kind: 0, idx: n + 1})
	}
	return m.encode()
}
