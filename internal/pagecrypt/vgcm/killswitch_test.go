package vgcm

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestKillSwitch checks that GODEBUG=cpu.avx512vaes=off turns the
// accelerated code off: it reruns this test binary with the setting and
// the child asserts that New returns false.
func TestKillSwitch(t *testing.T) {
	if os.Getenv("VGCM_KILLSWITCH_CHILD") == "1" {
		if _, ok := New(make([]byte, KeySize)); ok {
			t.Fatalf("New returned true with GODEBUG=%s", os.Getenv("GODEBUG"))
		}
		return
	}
	requireVGCM(t)
	for _, off := range []string{"cpu.avx512vaes=off", "cpu.avx512vpclmulqdq=off", "cpu.avx512f=off"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillSwitch$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "VGCM_KILLSWITCH_CHILD=1", "GODEBUG="+off)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestKillSwitch") {
			t.Errorf("GODEBUG=%s: child failed: %v\n%s", off, err, out)
		}
	}
}
