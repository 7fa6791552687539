package pagecrypt

import "time"

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
