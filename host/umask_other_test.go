//go:build !unix

package host_test

// setUmask is not available here; file modes are not checked.
func setUmask(mask int) (old int, ok bool) { return 0, false }
