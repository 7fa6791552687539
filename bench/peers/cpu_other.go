//go:build !unix

package peers

import "time"

// cpuTime is not measured on this platform (the tables show 0).
func cpuTime() time.Duration { return 0 }
