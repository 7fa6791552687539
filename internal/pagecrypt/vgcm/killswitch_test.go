package vgcm

import (
	"os"
	"strings"
	"testing"

	"github.com/gofastr/store/internal/testkit/proc"
)

// TestKillSwitch checks that GODEBUG=cpu.avx512vaes=off turns the
// accelerated code off: it reruns this test binary with the setting and
// the child asserts that New returns false.
func TestKillSwitch(t *testing.T) {
	if proc.InTest(t) {
		if _, ok := New(make([]byte, KeySize)); ok {
			t.Fatalf("New returned true with GODEBUG=%s", os.Getenv("GODEBUG"))
		}
		return
	}
	requireVGCM(t)
	for _, off := range []string{"cpu.avx512vaes=off", "cpu.avx512vpclmulqdq=off", "cpu.avx512f=off"} {
		out, err := proc.Run(t, proc.Spec{Test: t.Name(), Env: []string{"GODEBUG=" + off}})
		if err != nil || !strings.Contains(out, "--- PASS: TestKillSwitch") {
			t.Errorf("GODEBUG=%s: child failed: %v\n%s", off, err, out)
		}
	}
}
