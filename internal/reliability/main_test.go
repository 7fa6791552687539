package reliability_test

import (
	"os"
	"testing"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/faultvfs"
)

// faultVFS sits under every VFS the engine registers in this test binary
// (the encrypting VFS of each data key, the plaintext VFS): the fault and
// power-loss tests of this package arm it; disarmed, it passes every call
// through.
var faultVFS = faultvfs.New(nil)

func TestMain(m *testing.M) {
	restore := engine.SetBaseVFS(faultVFS)
	code := m.Run()
	restore()
	os.Exit(code)
}
