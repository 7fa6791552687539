package main

import (
	"fmt"
	"math"

	"github.com/gofastr/store/abi"
)

// fmtNanoUSD formats an exact amount of nano-dollars as dollars with all
// nine decimals: 1234567891 is "$1.234567891".
func fmtNanoUSD(n abi.NanoUSD) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign = "-"
		u = -u
	}
	return fmt.Sprintf("%s$%d.%09d", sign, u/1e9, u%1e9)
}

// usdToNanos converts a dollar amount read from the store (which keeps it
// in whole nano-dollars) back to nano-dollars, rounding to the nearest.
func usdToNanos(usd float64) abi.NanoUSD {
	return abi.NanoUSD(math.Round(usd * 1e9))
}
