package sandbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/gofastr/store/abi"
)

// rawGuest describes a guest module written section by section: a marker
// export and _start (whose body is start, without the final end), and
// optionally imports other than functions, a memory, its export, a data
// count section and a data section.
type rawGuest struct {
	imports   []byte // import section entries, without the count
	nImports  int
	memPages  int // -1: no memory section
	exportMem bool
	dataCount int // -1: no data count section
	data      []byte
	start     []byte
}

func (g rawGuest) encode() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, wasmSection(1, []byte{1, 0x60, 0, 0})...) // one type: () -> ()
	if g.nImports > 0 {
		out = append(out, wasmSection(2, append(wasmVec(g.nImports), g.imports...))...)
	}
	out = append(out, wasmSection(3, []byte{2, 0, 0})...)
	if g.memPages >= 0 {
		out = append(out, wasmSection(5, binary.AppendUvarint([]byte{1, 0x00}, uint64(g.memPages)))...)
	}
	exports := wasmVec(2 + btoi(g.exportMem))
	exports = append(append(exports, wasmName("_start")...), 0, 0)
	exports = append(append(exports, wasmName(abi.MarkerExport(abi.Major, abi.Minor))...), 0, 1)
	if g.exportMem {
		exports = append(append(exports, wasmName("memory")...), 2, 0)
	}
	out = append(out, wasmSection(7, exports)...)
	if g.dataCount >= 0 {
		out = append(out, wasmSection(12, wasmVec(g.dataCount))...)
	}
	code := wasmVec(2)
	for _, body := range [][]byte{g.start, nil} {
		b := append(append([]byte{0x00}, body...), 0x0b)
		code = append(append(code, wasmVec(len(b))...), b...)
	}
	out = append(out, wasmSection(10, code)...)
	if g.data != nil {
		out = append(out, wasmSection(sectionData, g.data)...)
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// evenSegments returns a data section body of n segments, step bytes
// apart, each holding data.
func evenSegments(n int, step uint32, data []byte) []byte {
	segs := make([]dataSegment, n)
	for i := range segs {
		segs[i] = dataSegment{uint32(i) * step, data}
	}
	return segmentsBody(segs...)
}

func newTestRuntime(t *testing.T) *Runtime {
	t.Helper()
	ctx := context.Background()
	rt, err := NewRuntime(ctx, NewRuntimeConfig().WithoutCache())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	return rt
}

// TestCompileRefusesMemoryAndImports: a guest must define its memory and
// export it as "memory", and import nothing but functions. A module
// without memory used to pass Compile and crash the host in Run; one with
// an unexported memory escaped the run's memory limit.
func TestCompileRefusesMemoryAndImports(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	globalImport := append(append(wasmName("env"), wasmName("g")...), 0x03, wasmI32, 0x00)
	tableImport := append(append(wasmName(abi.HostModule), wasmName("t")...), 0x01, 0x70, 0x00, 0x01)
	memImport := append(append(wasmName("env"), wasmName("memory")...), 0x02, 0x00, 0x01)
	for _, tc := range []struct {
		name string
		g    rawGuest
		msg  string
	}{
		{"no memory", rawGuest{memPages: -1, dataCount: -1}, `no memory named "memory"`},
		{"memory not exported", rawGuest{memPages: 3200, dataCount: -1}, `no memory named "memory"`},
		{"global import", rawGuest{imports: globalImport, nImports: 1, memPages: 1, exportMem: true, dataCount: -1}, "global env.g"},
		{"table import", rawGuest{imports: tableImport, nImports: 1, memPages: 1, exportMem: true, dataCount: -1},
			"table " + abi.HostModule + ".t"},
		{"memory import", rawGuest{imports: memImport, nImports: 1, memPages: -1, dataCount: -1}, "imports memory env.memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := rt.Compile(ctx, tc.g.encode())
			if err == nil {
				// Before the fix: the run crashed the host or ignored the limit.
				res, err := g.Run(ctx, NewRunConfig().WithMemoryLimit(1<<20))
				g.Close(ctx)
				t.Fatalf("Compile accepted the module; Run: %v, %d bytes of memory", err, res.MemoryBytes)
			}
			if !errors.Is(err, ErrNotGuest) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Compile: %v, want ErrNotGuest naming %q", err, tc.msg)
			}
		})
	}
	// The same module with its memory exported compiles and runs.
	g, err := rt.Compile(ctx, rawGuest{memPages: 1, exportMem: true, dataCount: -1}.encode())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(ctx)
	if res, err := g.Run(ctx, NewRunConfig()); err != nil || res.MemoryBytes != pageSize {
		t.Fatalf("Run: %v, %d bytes of memory", err, res.MemoryBytes)
	}
}

// TestParseLayout: the initial memory is read from the memory section,
// exported or not, so that the run's limit applies to it.
func TestParseLayout(t *testing.T) {
	l, ok := parseLayout(rawGuest{memPages: 3200, dataCount: -1}.encode())
	if !ok || l.minPages != 3200 {
		t.Fatalf("parseLayout: %d pages, ok %v", l.minPages, ok)
	}
	for _, b := range [][]byte{nil, []byte("\x00asm\x01\x00\x00\x00\x02\x03\x05\x01"), []byte("\x00asm\x01\x00\x00\x00\x05\x01\x01")} {
		if _, ok := parseLayout(b); ok {
			t.Errorf("parseLayout(%x) ok", b)
		}
	}
}

// TestMergeBounded: segments spaced 1 KiB apart, with or without data,
// do not make the merger allocate more than a small multiple of the
// module (it used to fill every gap: a thousand times the module).
func TestMergeBounded(t *testing.T) {
	for _, data := range [][]byte{nil, {1}} {
		wasm := rawGuest{memPages: 2000, exportMem: true, dataCount: -1, data: evenSegments(100000, 1024, data)}.encode()
		var out []byte
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		out = mergeDataSegments(wasm)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		if len(out) > 2*len(wasm) || alloc > 16*uint64(len(wasm)) {
			t.Errorf("%d-byte segments: module %d bytes, merged %d bytes, %d bytes allocated", len(data), len(wasm), len(out), alloc)
		}
		if len(data) == 0 && !bytes.Equal(out, wasm) {
			t.Error("empty segments were merged")
		}
		want, _ := image(t, wasm)
		got, _ := image(t, out)
		if !bytes.Equal(got, want) {
			t.Errorf("%d-byte segments: merged image differs", len(data))
		}
	}
}

// plainCompile compiles wasm with a plain wazero runtime of the sandbox's
// features.
func plainCompile(wasm []byte) error {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV2))
	defer rt.Close(ctx)
	_, err := rt.CompileModule(ctx, wasm)
	return err
}

// TestMergeKeepsValidity: with a data count section the module is
// compiled as given, so data.drop indices and a wrong count are judged as
// wazero judges them.
func TestMergeKeepsValidity(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := context.Background()
	data := evenSegments(3, 10, []byte{1, 2, 3})
	drop := rawGuest{memPages: 1, exportMem: true, dataCount: 3, data: data, start: []byte{0xfc, 0x09, 2}}.encode() // data.drop 2
	badCount := rawGuest{memPages: 1, exportMem: true, dataCount: 7, data: data}.encode()
	for _, wasm := range [][]byte{drop, badCount} {
		if out := mergeDataSegments(wasm); !bytes.Equal(out, wasm) {
			t.Error("a module with a data count section was changed")
		}
	}
	if err := plainCompile(drop); err != nil {
		t.Fatal(err)
	}
	g, err := rt.Compile(ctx, drop)
	if err != nil {
		t.Fatalf("data.drop 2 of 3 segments: %v", err)
	}
	defer g.Close(ctx)
	if _, err := g.Run(ctx, NewRunConfig()); err != nil {
		t.Errorf("data.drop 2 of 3 segments: Run: %v", err)
	}
	want := plainCompile(badCount)
	if want == nil {
		t.Fatal("wazero accepts a wrong data count")
	}
	if g, err := rt.Compile(ctx, badCount); err == nil || !strings.Contains(err.Error(), want.Error()) {
		g.Close(ctx)
		t.Errorf("wrong data count: Compile: %v, want %v", err, want)
	}
}

// FuzzMergeModule mutates whole modules: no panic, the output stays
// within the bound, and a module wazero accepts has the same initial
// memory merged as given.
func FuzzMergeModule(f *testing.F) {
	f.Add(rawGuest{memPages: 1, exportMem: true, dataCount: -1, data: evenSegments(5, 700, []byte("abc"))}.encode())
	f.Add(rawGuest{memPages: 1, exportMem: true, dataCount: 3, data: evenSegments(3, 10, []byte{1, 2, 3})}.encode())
	f.Add(rawGuest{memPages: 1, exportMem: true, dataCount: -1, data: evenSegments(40, 1024, nil)}.encode())
	f.Fuzz(func(t *testing.T, wasm []byte) {
		in := bytes.Clone(wasm)
		out := mergeDataSegments(wasm)
		if !bytes.Equal(wasm, in) {
			t.Fatal("input modified")
		}
		if len(out) > 2*len(in)+binary.MaxVarintLen64 {
			t.Fatalf("merged %d bytes into %d", len(in), len(out))
		}
		if bytes.Equal(out, in) || len(in) > 1<<16 {
			return
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(api.CoreFeaturesV2))
		defer rt.Close(ctx)
		var mems [2][]byte
		var errs [2]error
		for i, b := range [][]byte{in, out} {
			m, err := rt.InstantiateWithConfig(ctx, b, wazero.NewModuleConfig().WithName("").WithStartFunctions())
			if errs[i] = err; err != nil {
				continue
			}
			if mem := m.ExportedMemory("memory"); mem != nil {
				view, _ := mem.Read(0, mem.Size())
				mems[i] = bytes.Clone(view)
			}
			m.Close(ctx)
		}
		if errs[0] != nil {
			return // invalid as given: the merged module's fate is the compiler's
		}
		if errs[1] != nil || !bytes.Equal(mems[0], mems[1]) {
			t.Fatalf("merged module: %v; memories equal: %v", errs[1], bytes.Equal(mems[0], mems[1]))
		}
	})
}

// TestDescribeUTF8: the divergence message cuts a long payload at a rune
// boundary.
func TestDescribeUTF8(t *testing.T) {
	payload := []byte(`"` + strings.Repeat("é", 100) + `"`) // 'é' is 2 bytes: byte 120 is inside one
	for _, p := range [][]byte{payload, payload[:20], []byte("\xff\xfe")} {
		s := describe(&abi.EventEnvelope{Kind: "tool_call", Payload: p})
		if !utf8.ValidString(s) {
			t.Errorf("describe: invalid UTF-8 %q", s)
		}
	}
	if s := describe(&abi.EventEnvelope{Kind: "x", Payload: payload}); !strings.HasSuffix(s, "é…") {
		t.Errorf("describe cut %q", s)
	}
}

// TestCloseDuringRuns: closing a guest and its runtime while runs start
// and finish on other goroutines gives every run nil or ErrClosed, and
// no panic.
func TestCloseDuringRuns(t *testing.T) {
	ctx := context.Background()
	for range 20 {
		rt, err := NewRuntime(ctx, NewRuntimeConfig().WithoutCache())
		if err != nil {
			t.Fatal(err)
		}
		// _start loops a little, so that runs are in flight.
		loop := []byte{0x02, 0x40, 0x03, 0x40, 0x41, 0x00, 0x0d, 0x00, 0x0b, 0x0b}
		g, err := rt.Compile(ctx, rawGuest{memPages: 1, exportMem: true, dataCount: -1, start: loop}.encode())
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errc := make(chan error, 64)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 8 {
					if _, err := g.Run(ctx, NewRunConfig()); err != nil {
						errc <- err
						if errors.Is(err, ErrClosed) {
							return
						}
					}
				}
			}()
		}
		runtime.Gosched()
		g.Close(ctx)
		rt.Close(ctx)
		wg.Wait()
		close(errc)
		for err := range errc {
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("run during Close: %v, want nil or ErrClosed", err)
			}
		}
	}
}
