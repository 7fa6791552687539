package pricing

import (
	"errors"
	"unicode/utf8"

	"github.com/gofastr/store/abi"
)

// PriceAttempt prices a provider attempt from t at its start time, as a
// store configured with t does: the estimate and a snapshot of the prices
// applied (one for each kind of token the attempt has; 1-hour cache writes
// at the price applied, derived or not), or 0 and an unpriced snapshot
// (its Source begins with [abi.UnpricedPrefix]) that says why there is no
// price. Snapshot sources are at most [abi.MaxAttemptString] bytes.
func (t *Table) PriceAttempt(a abi.ProviderAttempt) (abi.NanoUSD, *abi.AttemptPrice) {
	u := Usage{
		Input:        int64(a.InputTokens),
		Output:       int64(a.OutputTokens),
		CacheRead:    int64(a.CacheReadTokens),
		CacheWrite5m: int64(a.CacheWriteTokens),
		CacheWrite1h: int64(a.CacheWrite1hTokens),
	}
	e, err := t.Estimate(a.Provider, a.Model, u, a.StartedAt)
	if err != nil {
		// Estimate fails for no price (ErrUnpriced) or a cost beyond
		// int64 nano-dollars (ErrBadUsage: a store checks the counts
		// first).
		reason := "estimate beyond int64 nano-dollars"
		if ue, ok := errors.AsType[*UnpricedError](err); ok {
			reason = ue.Reason
		}
		src := abi.UnpricedPrefix + reason + " (" + Source{Name: t.Name(), Date: t.Date()}.String() + ")"
		return 0, &abi.AttemptPrice{Source: truncUTF8(src, abi.MaxAttemptString)}
	}
	p := &abi.AttemptPrice{Source: truncUTF8(e.Source.String(), abi.MaxAttemptString)}
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
	return abi.NanoUSD(e.NanoUSD), p
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
