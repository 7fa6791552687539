package transcript

import (
	"math"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/pricing"
)

// priceAttempt sets a's EstimatedUSD and Price from table t at a's start
// time, as a store with that table would (pricing.Table.PriceAttempt).
// The store records an attempt given with a Price as given, so what the
// import reports is what the store holds.
func priceAttempt(t *pricing.Table, a *abi.ProviderAttempt) {
	n, p := t.PriceAttempt(*a)
	a.EstimatedUSD = n.USD()
	a.Price = p
}

// nanos converts a dollar amount back to nano-dollars as a store does
// (rounding to the nearest); exact for any amount NanoUSD.USD produced
// below 2^53 nano-dollars.
func nanos(usd float64) abi.NanoUSD {
	return abi.NanoUSD(math.Round(usd * 1e9))
}
