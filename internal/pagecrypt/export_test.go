package pagecrypt

import (
	"fmt"
	"strings"
	"time"
)

// SetClock replaces the clock c's failure budget refills by.
func SetClock(c *Cipher, now func() time.Time) {
	c.subkeys.mu.Lock()
	c.subkeys.now = now
	c.subkeys.mu.Unlock()
}

// FailBurst and FailRate export the failure budget.
const (
	FailBurst = failBurst
	FailRate  = failRate
)

// Impls lists the AES-GCM implementations this build can use: "std", and
// "vgcm" with the gofastr_vgcm build tag.
func Impls() []string { return impls }

// UseImpl makes Ciphers created afterwards derive their subkeys with impl
// ("std" forces crypto/cipher; "vgcm" is the build's default selection) and
// returns a function that restores the default. Not for parallel tests.
func UseImpl(impl string) (restore func()) {
	old := forceStd
	forceStd = impl == "std"
	return func() { forceStd = old }
}

// Impl reports which implementation c's subkeys use: "vgcm" or "std".
func Impl(c *Cipher) string {
	if strings.HasPrefix(fmt.Sprintf("%T", c.subkey(0)), "*vgcm.") {
		return "vgcm"
	}
	return "std"
}
