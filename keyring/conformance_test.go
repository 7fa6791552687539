package keyring_test

import (
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/keyring/keyringtest"
)

// TestKEKSources runs the KEKSource conformance suite on every source.
func TestKEKSources(t *testing.T) {
	key := newKEK()
	t.Run("raw", func(t *testing.T) {
		keyringtest.Run(t, func(*testing.T) keyring.KEKSource { return keyring.RawKEK(key) })
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv("KEYRING_TEST_KEK", hex.EncodeToString(key))
		keyringtest.Run(t, func(*testing.T) keyring.KEKSource { return keyring.EnvKEK("KEYRING_TEST_KEK") })
	})
	t.Run("file", func(t *testing.T) {
		p := writeKeyFile(t, key, 0o600)
		keyringtest.Run(t, func(*testing.T) keyring.KEKSource { return keyring.FileKEK(p) })
	})
	t.Run("passphrase", func(t *testing.T) {
		keyringtest.Run(t, func(*testing.T) keyring.KEKSource { return fastPassphrase("correct horse") })
	})
	t.Run("machine", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "gofastr", "kek") // created by the first NewKEK
		keyringtest.Run(t, func(*testing.T) keyring.KEKSource { return keyring.MachineKEK(p) })
	})
}
