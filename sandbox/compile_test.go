package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/sandbox"
)

func TestCompileChecks(t *testing.T) {
	rt := newRuntime(t, sandbox.NewRuntimeConfig())
	ctx := context.Background()
	v10 := abi.MarkerExport(1, 0)
	for _, tc := range []struct {
		name string
		wasm []byte
		want error
		msg  string // a part of the message
	}{
		{"other major", sandbox.MarkerGuest("gofastr_abi_v2_0"), sandbox.ErrABIVersion,
			"sandbox: guest built for ABI v2.0; this host speaks ABI v1.0"},
		{"newer minor", sandbox.MarkerGuest("gofastr_abi_v1_1"), sandbox.ErrABIVersion,
			"sandbox: guest built for ABI v1.1; this host speaks ABI v1.0"},
		{"older major", sandbox.MarkerGuest("gofastr_abi_v0_9"), sandbox.ErrABIVersion, "guest built for ABI v0.9"},
		{"no marker", sandbox.MarkerGuest(""), sandbox.ErrNotGuest, "no ABI marker export"},
		{"unknown host function", sandbox.MarkerGuest(v10, [3]string{abi.HostModule, "frobnicate", "op"}), sandbox.ErrABIVersion,
			"gofastr_store_v1.frobnicate"},
		{"wrong signature", sandbox.MarkerGuest(v10, [3]string{abi.HostModule, abi.FuncEventsSince, "i32"}), sandbox.ErrABIVersion,
			"gofastr_store_v1.events_since with signature () -> (i32)"},
		{"other module", sandbox.MarkerGuest(v10, [3]string{"env", "getenv", "op"}), sandbox.ErrNotGuest, `module "env"`},
		{"old host module", sandbox.MarkerGuest(v10, [3]string{"gofastr_store_v0", abi.FuncEventsSince, "op"}), sandbox.ErrNotGuest,
			`module "gofastr_store_v0"`},
		{"unknown WASI function", sandbox.MarkerGuest(v10, [3]string{"wasi_snapshot_preview1", "sock_open", "op"}), sandbox.ErrNotGuest,
			"wasi_snapshot_preview1.sock_open"},
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), sandbox.ErrNotGuest, "compile"},
		{"empty", nil, sandbox.ErrNotGuest, "compile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := rt.Compile(ctx, tc.wasm)
			if !errors.Is(err, tc.want) {
				g.Close(ctx)
				t.Fatalf("Compile: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q lacks %q", err, tc.msg)
			}
		})
	}

	// A minimal hand-made guest of this version compiles and runs.
	g, err := rt.Compile(ctx, sandbox.MarkerGuest(v10, [3]string{abi.HostModule, abi.FuncABIVersion, "i32"}))
	if err != nil {
		t.Fatalf("minimal guest: %v", err)
	}
	defer g.Close(ctx)
	if imports := g.Imports(); len(imports) != 1 || imports[0] != abi.FuncABIVersion {
		t.Errorf("Imports() = %v", imports)
	}
	if res, err := g.Run(ctx, sandbox.NewRunConfig()); err != nil || res.ExitCode != 0 {
		t.Errorf("Run: %v, exit %d", err, res.ExitCode)
	}
	// A guest that imports nothing from the host is a guest too.
	if g2, err := rt.Compile(ctx, sandbox.MarkerGuest(v10)); err != nil {
		t.Errorf("v1.0 guest: %v", err)
	} else {
		g2.Close(ctx)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	rt, err := sandbox.NewRuntime(ctx, sandbox.NewRuntimeConfig())
	if err != nil {
		t.Fatal(err)
	}
	g, err := rt.Compile(ctx, sandbox.MarkerGuest(abi.MarkerExport(1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Run(ctx, sandbox.NewRunConfig()); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Run after Guest.Close: %v", err)
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Compile(ctx, sandbox.MarkerGuest(abi.MarkerExport(1, 0))); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Compile after Runtime.Close: %v", err)
	}
	if err := rt.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestMergedDataSegmentsSameMemory instantiates a Go guest as built and
// with its data segments merged (as Compile does), without running it:
// the initial memories are byte-identical, and the merged module has far
// fewer segments.
func TestMergedDataSegmentsSameMemory(t *testing.T) {
	wasm := buildGuest(t, "empty")
	merged := sandbox.MergeDataSegments(wasm)
	if len(merged) >= len(wasm)*2 {
		t.Errorf("merged module of %d bytes, built %d", len(merged), len(wasm))
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mems := make([][]byte, 2)
	for i, b := range [][]byte{wasm, merged} {
		m, err := rt.InstantiateWithConfig(ctx, b, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		view, _ := m.Memory().Read(0, m.Memory().Size())
		mems[i] = bytes.Clone(view)
		m.Close(ctx)
	}
	if !bytes.Equal(mems[0], mems[1]) {
		t.Fatal("the merged module's initial memory differs")
	}
	if bytes.Equal(wasm, merged) {
		t.Error("nothing was merged")
	}
	t.Logf("module %d -> %d bytes, memory %d bytes", len(wasm), len(merged), len(mems[0]))
}
