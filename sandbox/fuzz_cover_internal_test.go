package sandbox

import (
	"context"
	"slices"
	"testing"

	"github.com/gofastr/store/abi"
)

// TestFuzzHostFunctionsCoversTheABI checks that FuzzHostFunctions reaches
// every host function a guest can import: the host module a Runtime
// instantiates exports exactly the functions of abi.Funcs, each with the
// signature the trampolines assume, and the trampoline module the fuzz
// target calls through has one entry for each of them, so that
// fn % len(names) selects every one.
func TestFuzzHostFunctionsCoversTheABI(t *testing.T) {
	h := newFuzzHost(t)
	want := abi.Funcs()
	slices.Sort(want)
	hostMod := h.rt.rt.Module(abi.HostModule)
	if hostMod == nil {
		t.Fatalf("runtime has no %q module", abi.HostModule)
	}
	defs := hostMod.ExportedFunctionDefinitions()
	var exported []string
	for name := range defs {
		exported = append(exported, name)
	}
	slices.Sort(exported)
	if !slices.Equal(exported, want) {
		t.Fatalf("host module exports %q, the ABI lists %q: the fuzz target would miss a function", exported, want)
	}
	if !slices.Equal(h.names, want) {
		t.Fatalf("fuzz target calls %q, want %q", h.names, want)
	}
	for i, name := range h.names {
		if h.funcs[i] == nil {
			t.Fatalf("trampoline call_%s missing", name)
		}
		sig, ok := hostSignatures[name]
		if !ok {
			t.Fatalf("%s has no signature", name)
		}
		def := defs[name]
		if !slices.Equal(def.ParamTypes(), sig.params) || !slices.Equal(def.ResultTypes(), sig.results) {
			t.Errorf("%s: host signature %v -> %v, table %v -> %v", name, def.ParamTypes(), def.ResultTypes(), sig.params, sig.results)
		}
		tdef := h.funcs[i].Definition()
		if !slices.Equal(tdef.ParamTypes(), sig.params) || !slices.Equal(tdef.ResultTypes(), sig.results) {
			t.Errorf("call_%s: trampoline signature %v -> %v, want %v -> %v", name, tdef.ParamTypes(), tdef.ResultTypes(), sig.params, sig.results)
		}
	}
	// Every function is called through its trampoline on a fresh run
	// state and returns a known status without writing outside its
	// output buffer.
	st := h.newState(t)
	ctx := withRunState(context.Background(), st)
	for i := range h.names {
		h.call(t, ctx, i, 1024, 0, 8192, 4096)
	}
}
