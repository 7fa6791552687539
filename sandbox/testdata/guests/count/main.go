//go:build wasip1

// Command count is the example guest of package guest's documentation,
// kept here so that a test builds and runs it.
package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/guest"
)

func main() {
	in, err := guest.Input()
	if err != nil {
		guest.Logf("input: %v", err)
		os.Exit(1)
	}
	counts := map[string]int{}
	for e, err := range guest.Events(abi.SessionID(in), 0) {
		if err != nil {
			guest.Logf("events: %v", err)
			os.Exit(1)
		}
		counts[e.Kind]++
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Printf("%s %d\n", k, counts[k])
	}
}
