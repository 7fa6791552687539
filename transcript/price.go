package transcript

import (
	"errors"
	"math"
	"unicode/utf8"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/pricing"
)

// maxPriceSource is the longest price source a store accepts (host's
// MaxAttemptString).
const maxPriceSource = 256

// priceAttempt sets a's EstimatedUSD and Price from table t at a's start
// time, as a store with that table would: the estimate and a snapshot of
// the prices applied (only for the kinds of tokens a has), or 0 and an
// unpriced snapshot saying why. The store records an attempt given with
// a Price as given, so what the import reports is what the store holds.
func priceAttempt(t *pricing.Table, a *abi.ProviderAttempt) {
	u := pricing.Usage{
		Input:        int64(a.InputTokens),
		Output:       int64(a.OutputTokens),
		CacheRead:    int64(a.CacheReadTokens),
		CacheWrite5m: int64(a.CacheWriteTokens),
		CacheWrite1h: int64(a.CacheWrite1hTokens),
	}
	source := pricing.Source{Name: t.Name(), Date: t.Date()}.String()
	e, err := t.Estimate(a.Provider, a.Model, u, a.StartedAt)
	if err != nil {
		reason := "estimate beyond int64 nano-dollars"
		if ue, ok := errors.AsType[*pricing.UnpricedError](err); ok {
			reason = ue.Reason
		}
		a.EstimatedUSD = 0
		a.Price = &abi.AttemptPrice{Source: truncUTF8(abi.UnpricedPrefix+reason+" ("+source+")", maxPriceSource)}
		return
	}
	p := &abi.AttemptPrice{Source: truncUTF8(e.Source.String(), maxPriceSource)}
	for _, k := range []struct {
		tokens int
		price  int64
		dst    **abi.NanoUSD
	}{
		{a.InputTokens, e.Prices.Input, &p.Input},
		{a.OutputTokens, e.Prices.Output, &p.Output},
		{a.CacheReadTokens, e.Prices.CacheRead, &p.CacheRead},
		{a.CacheWriteTokens, e.Prices.CacheWrite5m, &p.CacheWrite},
		{a.CacheWrite1hTokens, e.Prices.CacheWrite1h, &p.CacheWrite1h},
	} {
		if k.tokens > 0 {
			v := abi.NanoUSD(k.price)
			*k.dst = &v
		}
	}
	a.EstimatedUSD = abi.NanoUSD(e.NanoUSD).USD()
	a.Price = p
}

// nanos converts a dollar amount back to nano-dollars as a store does
// (rounding to the nearest); exact for any amount NanoUSD.USD produced
// below 2^53 nano-dollars.
func nanos(usd float64) abi.NanoUSD {
	return abi.NanoUSD(math.Round(usd * 1e9))
}

// truncUTF8 returns s cut to at most n bytes, at a character boundary.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
