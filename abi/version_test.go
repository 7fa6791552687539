package abi_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gofastr/store/abi"
)

func TestVersion(t *testing.T) {
	if abi.Major != 1 || abi.Minor != 0 || abi.Version() != "1.0" {
		t.Errorf("version %d.%d (%q), want 1.0", abi.Major, abi.Minor, abi.Version())
	}
	if abi.HostModule != "gofastr_store_v1" || abi.WASIModule != "wasi_snapshot_preview1" {
		t.Errorf("modules %q, %q", abi.HostModule, abi.WASIModule)
	}
	if abi.MaxRequest != 4<<20 {
		t.Errorf("MaxRequest = %d, want 4 MiB", abi.MaxRequest)
	}
	if got := abi.PackVersion(abi.Major, abi.Minor); got != 1<<16 {
		t.Errorf("PackVersion(1, 0) = %#x, want 0x10000", got)
	}
	for _, v := range [][2]int{{0, 0}, {1, 0}, {1, 7}, {2, 65535}, {65535, 1}} {
		if ma, mi := abi.UnpackVersion(abi.PackVersion(v[0], v[1])); ma != v[0] || mi != v[1] {
			t.Errorf("UnpackVersion(PackVersion(%d, %d)) = %d, %d", v[0], v[1], ma, mi)
		}
	}
}

func TestMarker(t *testing.T) {
	if got := abi.MarkerExport(abi.Major, abi.Minor); got != "gofastr_abi_v1_0" {
		t.Errorf("MarkerExport(1, 0) = %q", got)
	}
	for _, v := range [][2]int{{1, 0}, {2, 13}, {0, 0}, {65535, 65535}} {
		name := abi.MarkerExport(v[0], v[1])
		ma, mi, ok := abi.ParseMarker(name)
		if !ok || ma != v[0] || mi != v[1] {
			t.Errorf("ParseMarker(%q) = %d, %d, %v", name, ma, mi, ok)
		}
	}
	for _, name := range []string{"", "gofastr_abi_v", "gofastr_abi_v1", "gofastr_abi_v1_", "gofastr_abi_v_0",
		"gofastr_abi_v01_0", "gofastr_abi_v1_00", "gofastr_abi_v+1_0", "gofastr_abi_v-1_0", "gofastr_abi_v1_0_1",
		"gofastr_abi_v65536_0", "gofastr_abi_v1_999999", "gofastr_abi_v1_0x", "GOFASTR_ABI_V1_0", "xgofastr_abi_v1_0",
		"gofastr_abi_v１_0", "main", "_start"} {
		if ma, mi, ok := abi.ParseMarker(name); ok {
			t.Errorf("ParseMarker(%q) = %d, %d, true; want not a marker", name, ma, mi)
		}
	}
}

func TestFuncs(t *testing.T) {
	want := []string{"abi_version", "events_since", "list_sessions", "orphan_intents", "attempts_for_turn",
		"append_event", "log", "input", "take_result", "replay_user", "replay_model", "replay_tool", "replay_emit"}
	got := abi.Funcs()
	if !slices.Equal(got, want) {
		t.Errorf("Funcs() = %q\nwant %q", got, want)
	}
	got[0] = "changed"
	if abi.Funcs()[0] != "abi_version" {
		t.Error("Funcs returns a slice that aliases the package's list")
	}
	for _, f := range want {
		if !abi.IsFunc(f) {
			t.Errorf("IsFunc(%q) = false", f)
		}
	}
	for _, f := range []string{"", "changed", "fd_write", "ABI_VERSION"} {
		if abi.IsFunc(f) {
			t.Errorf("IsFunc(%q) = true", f)
		}
	}
}

func TestErrno(t *testing.T) {
	codes := []struct {
		e    abi.Errno
		v    uint32
		name string
	}{
		{abi.ErrnoOK, 0, "ErrnoOK"}, {abi.ErrnoInval, 1, "ErrnoInval"}, {abi.ErrnoFault, 2, "ErrnoFault"},
		{abi.ErrnoDenied, 3, "ErrnoDenied"}, {abi.ErrnoNotFound, 4, "ErrnoNotFound"}, {abi.ErrnoTooBig, 5, "ErrnoTooBig"},
		{abi.ErrnoEOF, 6, "ErrnoEOF"}, {abi.ErrnoDiverged, 7, "ErrnoDiverged"}, {abi.ErrnoUnavailable, 8, "ErrnoUnavailable"},
		{abi.ErrnoNoResult, 9, "ErrnoNoResult"}, {abi.ErrnoRange, 10, "ErrnoRange"}, {abi.ErrnoUnsupported, 11, "ErrnoUnsupported"},
		{abi.ErrnoInternal, 12, "ErrnoInternal"},
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if uint32(c.e) != c.v || c.e.String() != c.name || !c.e.Known() {
			t.Errorf("Errno %d: value %d, String %q, Known %v; want %d, %q, true", c.e, uint32(c.e), c.e.String(), c.e.Known(), c.v, c.name)
		}
		msg := c.e.Error()
		if len(msg) < len("abi: x") || msg[:5] != "abi: " || seen[msg] {
			t.Errorf("%s.Error() = %q: not an abi: message, or not unique", c.name, msg)
		}
		seen[msg] = true
	}
	for _, e := range []abi.Errno{13, 1000, 1<<32 - 1} {
		want := fmt.Sprintf("errno(%d)", uint32(e))
		if e.Known() || e.String() != want || e.Error() != "abi: "+want {
			t.Errorf("unknown errno %d: Known %v, String %q, Error %q", uint32(e), e.Known(), e.String(), e.Error())
		}
	}
	var err error = fmt.Errorf("events_since: %w", abi.ErrnoDenied)
	if !errors.Is(err, abi.ErrnoDenied) || errors.Is(err, abi.ErrnoNotFound) {
		t.Errorf("errors.Is through wrapping does not match Errno values")
	}
}

func TestResult(t *testing.T) {
	for _, c := range []struct {
		e abi.Errno
		n uint32
		r uint64
	}{
		{abi.ErrnoOK, 0, 0}, {abi.ErrnoOK, 1<<32 - 1, 0xffffffff}, {abi.ErrnoRange, 5, 10<<32 | 5},
		{1<<32 - 1, 1<<32 - 1, 1<<64 - 1},
	} {
		if got := abi.Result(c.e, c.n); got != c.r {
			t.Errorf("Result(%d, %d) = %#x, want %#x", c.e, c.n, got, c.r)
		}
		if e, n := abi.SplitResult(c.r); e != c.e || n != c.n {
			t.Errorf("SplitResult(%#x) = %d, %d", c.r, e, n)
		}
	}
}
