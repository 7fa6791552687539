package vgcm

import (
	"os"
	"testing"
)

// unavailable reports why the accelerated code cannot run in this test
// binary, or "" when it can.
func unavailable() string {
	switch {
	case supported:
		return ""
	case !compiled:
		return "built without -tags gofastr_vgcm (or for a platform without the amd64 assembly, or with purego)"
	default:
		return "the CPU or GODEBUG lacks one of AES-NI, PCLMULQDQ, AVX, AVX512F/BW/VL, VAES, VPCLMULQDQ"
	}
}

// requireVGCM skips tb with the reason the accelerated code cannot run,
// or fails it when the environment sets VGCM_REQUIRE=1: on a machine that
// has the instructions (make test sets VGCM_REQUIRE=1 there) a skipped
// vgcm test would prove nothing.
func requireVGCM(tb testing.TB) {
	tb.Helper()
	why := unavailable()
	if why == "" {
		return
	}
	if os.Getenv("VGCM_REQUIRE") == "1" {
		tb.Fatalf("vgcm: VGCM_REQUIRE=1 but the AVX-512 code cannot run: %s", why)
	}
	tb.Skipf("vgcm: not tested: %s (VGCM_REQUIRE=1 makes this a failure)", why)
}
