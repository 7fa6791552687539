//go:build wasip1

// Command empty is the smallest guest: it links the SDK (and so exports
// the ABI marker) and returns at once.
package main

import "github.com/gofastr/store/guest"

var _ = guest.HostVersion

func main() {}
