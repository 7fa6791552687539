package pricing

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
)

// Usage counts the tokens of one request. The counts are disjoint: every
// token is in exactly one field, and each field is billed at its own price.
//
//   - Input: input tokens billed at the base input price, that is neither
//     read from nor written to the prompt cache. Anthropic's usage.input_tokens
//     is this count already (cache_read_input_tokens and
//     cache_creation_input_tokens are reported separately). OpenAI's
//     prompt_tokens and Google's promptTokenCount include cached tokens:
//     subtract cached_tokens / cachedContentTokenCount to get Input.
//   - Output: output tokens, reasoning tokens included (OpenAI's
//     completion_tokens, Anthropic's output_tokens).
//   - CacheRead: input tokens read from the prompt cache (Anthropic's
//     cache_read_input_tokens, OpenAI's prompt_tokens_details.cached_tokens).
//   - CacheWrite5m: input tokens written to a 5-minute cache entry
//     (Anthropic's cache_creation.ephemeral_5m_input_tokens, or
//     cache_creation_input_tokens when no breakdown is reported).
//   - CacheWrite1h: input tokens written to a 1-hour cache entry
//     (Anthropic's cache_creation.ephemeral_1h_input_tokens).
//
// The sum of the four input fields is the request's total input, which
// selects the context tier.
type Usage struct {
	Input, Output, CacheRead, CacheWrite5m, CacheWrite1h int64
}

// TotalInput is Input + CacheRead + CacheWrite5m + CacheWrite1h.
func (u Usage) TotalInput() (int64, error) {
	var t int64
	for _, v := range []int64{u.Input, u.CacheRead, u.CacheWrite5m, u.CacheWrite1h} {
		if v < 0 {
			return 0, fmt.Errorf("%w: negative token count", ErrBadUsage)
		}
		if t > math.MaxInt64-v {
			return 0, fmt.Errorf("%w: total input overflows", ErrBadUsage)
		}
		t += v
	}
	return t, nil
}

// Prices are the per-token prices an Estimate used, in nano-dollars per
// million tokens, after tier selection. A price the usage did not need is
// zero.
type Prices struct {
	Input, Output, CacheRead, CacheWrite5m, CacheWrite1h int64
	// PerRequest is the fixed price per request in nano-dollars (0 when
	// the model has none).
	PerRequest int64
	// Tier is the context tier used: 0 for base prices, i for the i-th
	// tier (its Start is TierStart).
	Tier      int
	TierStart int64
	// CacheAtInputPrice is true when the table has no cache read (or
	// cache write) price for the model and those tokens were billed at
	// the input price, as genai-prices does: a provider without a cache
	// discount bills cached tokens as input.
	CacheAtInputPrice bool
	// CacheWrite1hDerived is true when the table has no 1-hour cache
	// write price and CacheWrite1h is twice the base input price, the
	// multiplier Anthropic publishes.
	CacheWrite1hDerived bool
}

// Source identifies the table an Estimate came from.
type Source struct {
	Name string // e.g. EmbeddedName
	Date string // e.g. EmbeddedDate
}

// String is Name and Date separated by a space (Name alone when Date is
// empty), for example
// "pydantic/genai-prices@47df840a5ab10bbcffb8e5ac01b9899032245d1b 2026-08-21".
func (s Source) String() string {
	if s.Date == "" {
		return s.Name
	}
	return s.Name + " " + s.Date
}

// Estimate is the price of one request.
type Estimate struct {
	// NanoUSD is the price in nano-dollars (1e-9 USD), rounded half up
	// from the exact product of tokens and prices.
	NanoUSD int64
	// InputNanoUSD and OutputNanoUSD split NanoUSD: input covers Input
	// and the cache fields, output covers Output; NanoUSD also adds
	// Prices.PerRequest. Each is rounded on its own.
	InputNanoUSD, OutputNanoUSD int64
	Provider                    string // provider id in the table
	Model                       string // model id in the table
	Prices                      Prices
	Source                      Source
}

// USDFloat is NanoUSD in dollars as a float64, for display only.
func (e Estimate) USDFloat() float64 { return float64(e.NanoUSD) / 1e9 }

// String formats the price in dollars with nine decimals.
func (e Estimate) String() string {
	return fmt.Sprintf("$%d.%09d", e.NanoUSD/1e9, e.NanoUSD%1e9)
}

// Estimate prices usage u of model at provider at time at (which selects
// time-conditional prices; a zero at means now).
//
// Lookup follows genai-prices. provider is a provider id, or any name the
// provider's provider_match accepts (case-insensitive); with provider ""
// the first provider whose model_match accepts model is used; provider
// "litellm" with a model "<provider>/<model>" means that provider and
// model. The model is the provider's first model whose match accepts the
// lower-cased model name, else the first in the provider's
// fallback_model_providers (one step). Anything not found returns an
// *UnpricedError (errors.Is ErrUnpriced); so does usage of a token kind
// the model has no price for. A model the table lists with no prices at
// all is unpriced here, where genai-prices would say $0.
//
// Cache reads and 5-minute cache writes without a price of their own are
// billed at the input price (Prices.CacheAtInputPrice), as genai-prices
// does. The table has no 1-hour cache write price: those tokens are billed
// at twice the input price, the multiplier Anthropic publishes
// (Prices.CacheWrite1hDerived).
func (t *Table) Estimate(provider, model string, u Usage, at time.Time) (Estimate, error) {
	total, err := u.TotalInput()
	if err != nil {
		return Estimate{}, err
	}
	if u.Output < 0 {
		return Estimate{}, fmt.Errorf("%w: negative token count", ErrBadUsage)
	}
	if at.IsZero() {
		at = time.Now()
	}
	return t.estimate(t.lookup(provider, model), provider, model, u, total, at)
}

// estimate is Estimate after the lookup: it prices u (whose total input
// is total) with the prices of r in force at at.
func (t *Table) estimate(r resolved, provider, model string, u Usage, total int64, at time.Time) (Estimate, error) {
	if r.m == nil {
		return Estimate{}, &UnpricedError{Provider: provider, Model: model, Reason: r.reason}
	}
	p, m := r.p, r.m
	ps := m.at(at)
	est := Estimate{Provider: p.id, Model: m.id, Source: Source{Name: t.name, Date: t.date}}
	unpriced := func(kind string) (Estimate, error) {
		return Estimate{}, &UnpricedError{Provider: provider, Model: model, Reason: "no " + kind + " price"}
	}
	pick := func(pr *mtokPrice) int64 {
		v, tier, start := pr.at(total)
		if tier > est.Prices.Tier {
			est.Prices.Tier, est.Prices.TierStart = tier, start
		}
		return v
	}
	var in acc
	if u.Input > 0 {
		if ps.input == nil {
			return unpriced("input")
		}
		est.Prices.Input = pick(ps.input)
		in.add(u.Input, est.Prices.Input)
	}
	if u.CacheRead > 0 {
		pr := ps.cacheRead
		if pr == nil {
			pr, est.Prices.CacheAtInputPrice = ps.input, true
		}
		if pr == nil {
			return unpriced("cache read")
		}
		est.Prices.CacheRead = pick(pr)
		in.add(u.CacheRead, est.Prices.CacheRead)
	}
	if u.CacheWrite5m > 0 {
		pr := ps.cacheWrite
		if pr == nil {
			pr, est.Prices.CacheAtInputPrice = ps.input, true
		}
		if pr == nil {
			return unpriced("cache write")
		}
		est.Prices.CacheWrite5m = pick(pr)
		in.add(u.CacheWrite5m, est.Prices.CacheWrite5m)
	}
	if u.CacheWrite1h > 0 {
		if ps.input == nil {
			return unpriced("1-hour cache write")
		}
		base := pick(ps.input)
		if base > math.MaxInt64/2 {
			return unpriced("1-hour cache write")
		}
		est.Prices.CacheWrite1h = 2 * base
		est.Prices.CacheWrite1hDerived = true
		in.add(u.CacheWrite1h, est.Prices.CacheWrite1h)
	}
	var out acc
	if u.Output > 0 {
		if ps.output == nil {
			return unpriced("output")
		}
		est.Prices.Output = pick(ps.output)
		out.add(u.Output, est.Prices.Output)
	}
	var ok1, ok2 bool
	est.InputNanoUSD, ok1 = in.nano()
	est.OutputNanoUSD, ok2 = out.nano()
	if !ok1 || !ok2 || in.overflow || out.overflow {
		return Estimate{}, fmt.Errorf("%w: price overflows int64 nano-dollars", ErrBadUsage)
	}
	if ps.requestsK != nil {
		est.Prices.PerRequest = (*ps.requestsK + 500) / 1000
	}
	est.NanoUSD = est.InputNanoUSD + est.OutputNanoUSD
	if est.NanoUSD < 0 || est.NanoUSD > math.MaxInt64-est.Prices.PerRequest {
		return Estimate{}, fmt.Errorf("%w: price overflows int64 nano-dollars", ErrBadUsage)
	}
	est.NanoUSD += est.Prices.PerRequest
	return est, nil
}

// acc accumulates tokens × nano-dollars-per-million-tokens exactly in 128 bits.
type acc struct {
	hi, lo   uint64
	overflow bool
}

func (a *acc) add(tokens, price int64) {
	hi, lo := bits.Mul64(uint64(tokens), uint64(price))
	var c uint64
	a.lo, c = bits.Add64(a.lo, lo, 0)
	a.hi, c = bits.Add64(a.hi, hi, c)
	if c != 0 {
		a.overflow = true
	}
}

// nano divides by one million, rounding half up; ok is false when the
// result does not fit in an int64.
func (a *acc) nano() (int64, bool) {
	const d = 1_000_000
	if a.hi >= d {
		return 0, false
	}
	q, r := bits.Div64(a.hi, a.lo, d)
	if r*2 >= d {
		q++
	}
	if q > math.MaxInt64 {
		return 0, false
	}
	return int64(q), true
}

// at returns the price for a request of total input tokens: the last tier
// whose Start total exceeds, else Base.
func (p *mtokPrice) at(total int64) (price int64, tier int, start int64) {
	for i := len(p.Tiers) - 1; i >= 0; i-- {
		if total > p.Tiers[i].Start {
			return p.Tiers[i].Price, i + 1, p.Tiers[i].Start
		}
	}
	return p.Base, 0, 0
}

// at returns the price set in force at time at: the last conditional
// entry whose constraint holds (the first entry usually has none).
func (m *model) at(at time.Time) *priceSet {
	at = at.UTC()
	chosen := &m.prices[0].p
	for i := range m.prices {
		c := &m.prices[i]
		if c.startDate != nil && at.Before(*c.startDate) {
			continue
		}
		if c.hasTOD {
			s := at.Hour()*3600 + at.Minute()*60 + at.Second()
			in := c.todStart <= s && s < c.todEnd
			if c.todStart > c.todEnd { // window wraps midnight
				in = s >= c.todStart || s < c.todEnd
			}
			if !in {
				continue
			}
		}
		chosen = &c.p
	}
	return chosen
}

// resolved is the outcome of looking up a provider and model name: the
// model found (p and m), or why there is none (reason, with m nil).
type resolved struct {
	p      *provider
	m      *model
	reason string
}

// Bounds of a Table's lookup cache: at most maxCached names, each key at
// most maxCachedKey bytes, so that callers passing ever new (or hostile)
// names cannot grow it without limit. Names beyond the bounds are looked
// up every time.
const (
	maxCached    = 4096
	maxCachedKey = 512
)

// lookup is resolve, remembered per (provider, model) as given: the
// lookup does not depend on the time or the usage of a request.
func (t *Table) lookup(provider, model string) resolved {
	k := lookupKey{provider, model}
	t.mu.RLock()
	r, ok := t.cache[k]
	t.mu.RUnlock()
	if ok {
		return r
	}
	r = t.resolve(provider, model)
	if len(provider)+len(model) <= maxCachedKey {
		t.mu.Lock()
		if len(t.cache) < maxCached {
			if t.cache == nil {
				t.cache = make(map[lookupKey]resolved)
			}
			t.cache[k] = r
		}
		t.mu.Unlock()
	}
	return r
}

// resolve finds the model of provider (see Estimate for the rules).
func (t *Table) resolve(provider, model string) resolved {
	ref := strings.ToLower(strings.TrimSpace(model))
	pname := strings.ToLower(strings.TrimSpace(provider))
	if pname == "litellm" {
		// LiteLLM names models "<provider>/<model>".
		if pfx, rest, ok := strings.Cut(ref, "/"); ok && t.providerByName(pfx) != nil {
			pname, ref = pfx, rest
		} else {
			pname = ""
		}
	}
	p := t.providerByModel(ref)
	if pname != "" {
		p = t.providerByName(pname)
	}
	if p == nil {
		return resolved{reason: "unknown provider"}
	}
	m := t.findModel(p, ref, true)
	if m == nil {
		return resolved{reason: "unknown model"}
	}
	return resolved{p: p, m: m}
}

// providerByName finds a provider by id, then by provider_match; id is
// lower-cased.
func (t *Table) providerByName(id string) *provider {
	if p, ok := t.byID[id]; ok {
		return p
	}
	for i := range t.providers {
		if p := &t.providers[i]; p.match != nil && p.match.matches(id) {
			return p
		}
	}
	return nil
}

// providerByModel finds the first provider whose model_match accepts ref.
func (t *Table) providerByModel(ref string) *provider {
	for i := range t.providers {
		if p := &t.providers[i]; p.modelHint != nil && p.modelHint.matches(ref) {
			return p
		}
	}
	return nil
}

// findModel finds the provider's first model whose match accepts ref, then,
// when fallback is set, the same in each fallback provider (one step only).
func (t *Table) findModel(p *provider, ref string, fallback bool) *model {
	for i := range p.models {
		if p.models[i].match.matches(ref) {
			return &p.models[i]
		}
	}
	if !fallback {
		return nil
	}
	for _, fb := range p.fallbacks {
		if fp, ok := t.byID[strings.ToLower(fb)]; ok && fp != p {
			if m := t.findModel(fp, ref, false); m != nil {
				return m
			}
		}
	}
	return nil
}
