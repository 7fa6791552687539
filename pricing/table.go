package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed data/genai-prices.json
var embedded []byte

// Embedded snapshot identity, recorded in every Estimate made from it.
const (
	// EmbeddedName names the embedded table.
	EmbeddedName = "pydantic/genai-prices@47df840a5ab10bbcffb8e5ac01b9899032245d1b"
	// EmbeddedDate is the date of the upstream commit the embedded table comes from.
	EmbeddedDate = "2026-08-21"
)

// MaxTableSize is the largest table Load reads, in bytes.
const MaxTableSize = 64 << 20

var (
	// ErrUnpriced reports a provider or model the table has no price
	// for, or a kind of token the matched price does not cover. An
	// Estimate is never a silent zero.
	ErrUnpriced = errors.New("pricing: no price in table")
	// ErrBadTable reports a table that is not valid genai-prices data.
	ErrBadTable = errors.New("pricing: malformed price table")
	// ErrBadUsage reports a Usage with a negative count or a total
	// that overflows.
	ErrBadUsage = errors.New("pricing: invalid usage")
)

// UnpricedError is the error Estimate returns when there is no price. It
// matches ErrUnpriced with errors.Is.
type UnpricedError struct {
	Provider string // provider as given
	Model    string // model as given
	Reason   string // "unknown provider", "unknown model", or the unpriced token kind
}

func (e *UnpricedError) Error() string {
	return fmt.Sprintf("pricing: no price for provider %q model %q: %s", e.Provider, e.Model, e.Reason)
}

// Is makes errors.Is(err, ErrUnpriced) true.
func (e *UnpricedError) Is(target error) bool { return target == ErrUnpriced }

// Table is a parsed price table. Its prices never change once parsed, and
// it is safe for concurrent use. It remembers where it found the model of
// each (provider, model) name pair it was asked for, up to 4096 pairs, so
// that pricing the same model again skips the match rules.
type Table struct {
	name      string
	date      string
	providers []provider
	byID      map[string]*provider

	mu    sync.RWMutex
	cache map[lookupKey]resolved // lookups remembered, at most maxCached
}

// lookupKey is a provider and model name as given to Estimate.
type lookupKey struct{ provider, model string }

type provider struct {
	id        string
	name      string
	match     *matcher // provider_match, may be nil
	modelHint *matcher // model_match, may be nil
	models    []model
	fallbacks []string
}

type model struct {
	id     string
	match  matcher
	prices []conditional // in table order; the last one whose constraint holds applies
}

type conditional struct {
	startDate *time.Time // inclusive, UTC
	// time-of-day window in seconds after UTC midnight, [start, end); used when hasTOD
	hasTOD           bool
	todStart, todEnd int
	p                priceSet
}

// mtokPrice is one per-million-token price in nano-dollars (1e-9 USD) per
// million tokens, with optional context tiers: when the request's total
// input tokens exceed a tier's Start, that tier's price applies to every
// token of the kind.
type mtokPrice struct {
	Base  int64
	Tiers []mtokTier
}

// mtokTier is a context-size tier of an mtokPrice.
type mtokTier struct {
	Start int64 // total input tokens above which the tier applies
	Price int64 // nano-dollars per million tokens
}

type priceSet struct {
	input, output, cacheRead, cacheWrite *mtokPrice
	requestsK                            *int64 // nano-dollars per 1000 requests
}

// Default returns the table embedded in the package.
func Default() *Table { return defaultTable }

var defaultTable = mustEmbedded()

func mustEmbedded() *Table {
	t, err := parse(embedded, EmbeddedName, EmbeddedDate)
	if err != nil {
		// The embedded table is checked by the package's tests.
		panic("pricing: embedded table: " + err.Error())
	}
	return t
}

// Load parses a table in the genai-prices data.json format. name and date
// label the table in every Estimate made from it (Source). At most
// MaxTableSize bytes are read.
func Load(r io.Reader, name, date string) (*Table, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxTableSize+1))
	if err != nil {
		return nil, fmt.Errorf("pricing: read table: %w", err)
	}
	if len(b) > MaxTableSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadTable, MaxTableSize)
	}
	return parse(b, name, date)
}

// LoadFile parses the table in the file at path; the file's base name and
// modification date label it.
func LoadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	name := path
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		name = path[i+1:]
	}
	return Load(f, name, st.ModTime().UTC().Format(time.DateOnly))
}

// Name is the table's name as given to Load (EmbeddedName for Default).
func (t *Table) Name() string { return t.name }

// Date is the table's date as given to Load (EmbeddedDate for Default).
func (t *Table) Date() string { return t.date }

type rawProvider struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	ProviderMatch          json.RawMessage `json:"provider_match"`
	ModelMatch             json.RawMessage `json:"model_match"`
	Models                 []rawModel      `json:"models"`
	FallbackModelProviders []string        `json:"fallback_model_providers"`
}

type rawModel struct {
	ID     string          `json:"id"`
	Match  json.RawMessage `json:"match"`
	Prices json.RawMessage `json:"prices"`
}

type rawConditional struct {
	Constraint *struct {
		StartDate string `json:"start_date"`
		StartTime string `json:"start_time"`
		EndTime   string `json:"end_time"`
	} `json:"constraint"`
	Prices json.RawMessage `json:"prices"`
}

func parse(b []byte, name, date string) (*Table, error) {
	var raws []rawProvider
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raws); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadTable, err)
	}
	t := &Table{name: name, date: date, providers: make([]provider, 0, len(raws)), byID: make(map[string]*provider, len(raws))}
	for _, rp := range raws {
		if rp.ID == "" {
			return nil, fmt.Errorf("%w: provider without id", ErrBadTable)
		}
		p := provider{id: strings.ToLower(rp.ID), name: rp.Name, fallbacks: rp.FallbackModelProviders}
		var err error
		if p.match, err = optMatcher(rp.ProviderMatch); err != nil {
			return nil, fmt.Errorf("provider %q: %w", rp.ID, err)
		}
		if p.modelHint, err = optMatcher(rp.ModelMatch); err != nil {
			return nil, fmt.Errorf("provider %q: %w", rp.ID, err)
		}
		for _, rm := range rp.Models {
			m, err := parseModel(rm)
			if err != nil {
				return nil, fmt.Errorf("provider %q model %q: %w", rp.ID, rm.ID, err)
			}
			p.models = append(p.models, m)
		}
		t.providers = append(t.providers, p)
	}
	for i := range t.providers {
		if _, dup := t.byID[t.providers[i].id]; !dup {
			t.byID[t.providers[i].id] = &t.providers[i]
		}
	}
	return t, nil
}

func optMatcher(raw json.RawMessage) (*matcher, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	m, err := parseMatcher(raw, 0)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func parseModel(rm rawModel) (model, error) {
	if len(rm.Match) == 0 {
		return model{}, fmt.Errorf("%w: model without match", ErrBadTable)
	}
	mt, err := parseMatcher(rm.Match, 0)
	if err != nil {
		return model{}, err
	}
	m := model{id: rm.ID, match: mt}
	trimmed := bytes.TrimSpace(rm.Prices)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var list []rawConditional
		if err := unmarshalNumbers(trimmed, &list); err != nil {
			return model{}, fmt.Errorf("%w: prices: %v", ErrBadTable, err)
		}
		for _, rc := range list {
			c, err := parseConditional(rc)
			if err != nil {
				return model{}, err
			}
			m.prices = append(m.prices, c)
		}
	} else {
		ps, err := parsePriceSet(trimmed)
		if err != nil {
			return model{}, err
		}
		m.prices = []conditional{{p: ps}}
	}
	if len(m.prices) == 0 {
		return model{}, fmt.Errorf("%w: model without prices", ErrBadTable)
	}
	return m, nil
}

func parseConditional(rc rawConditional) (conditional, error) {
	var c conditional
	ps, err := parsePriceSet(rc.Prices)
	if err != nil {
		return c, err
	}
	c.p = ps
	if k := rc.Constraint; k != nil {
		if k.StartDate != "" {
			d, err := time.Parse(time.DateOnly, k.StartDate)
			if err != nil {
				return c, fmt.Errorf("%w: bad start_date %q", ErrBadTable, k.StartDate)
			}
			c.startDate = &d
		}
		if k.StartTime != "" || k.EndTime != "" {
			s, err1 := parseTOD(k.StartTime)
			e, err2 := parseTOD(k.EndTime)
			if err1 != nil || err2 != nil {
				return c, fmt.Errorf("%w: bad time-of-day constraint %q-%q", ErrBadTable, k.StartTime, k.EndTime)
			}
			c.hasTOD, c.todStart, c.todEnd = true, s, e
		}
	}
	return c, nil
}

// parseTOD parses "HH:MM:SSZ" (UTC) into seconds after midnight.
func parseTOD(s string) (int, error) {
	tm, err := time.Parse("15:04:05Z07:00", s)
	if err != nil {
		return 0, err
	}
	tm = tm.UTC()
	return tm.Hour()*3600 + tm.Minute()*60 + tm.Second(), nil
}

func unmarshalNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

func parsePriceSet(raw json.RawMessage) (priceSet, error) {
	var obj map[string]json.RawMessage
	if err := unmarshalNumbers(raw, &obj); err != nil || obj == nil {
		return priceSet{}, fmt.Errorf("%w: prices is not an object", ErrBadTable)
	}
	var ps priceSet
	for k, v := range obj {
		var dst **mtokPrice
		switch k {
		case "input_mtok":
			dst = &ps.input
		case "output_mtok":
			dst = &ps.output
		case "cache_read_mtok":
			dst = &ps.cacheRead
		case "cache_write_mtok":
			dst = &ps.cacheWrite
		case "requests_kcount":
			n, err := parseNano(v)
			if err != nil {
				return priceSet{}, fmt.Errorf("%s: %w", k, err)
			}
			ps.requestsK = &n
			continue
		default:
			// Audio and other modalities: Usage has no field for them.
			continue
		}
		p, err := parsePrice(v)
		if err != nil {
			return priceSet{}, fmt.Errorf("%s: %w", k, err)
		}
		*dst = p
	}
	return ps, nil
}

func parsePrice(raw json.RawMessage) (*mtokPrice, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var tp struct {
			Base  json.RawMessage `json:"base"`
			Tiers []struct {
				Start json.Number     `json:"start"`
				Price json.RawMessage `json:"price"`
			} `json:"tiers"`
		}
		if err := unmarshalNumbers(trimmed, &tp); err != nil {
			return nil, fmt.Errorf("%w: tiered price: %v", ErrBadTable, err)
		}
		base, err := parseNano(tp.Base)
		if err != nil {
			return nil, err
		}
		p := &mtokPrice{Base: base}
		var last int64 = -1
		for _, rt := range tp.Tiers {
			start, err := rt.Start.Int64()
			if err != nil || start < 0 || start <= last {
				return nil, fmt.Errorf("%w: tier start %q not a non-negative increasing integer", ErrBadTable, rt.Start)
			}
			last = start
			pr, err := parseNano(rt.Price)
			if err != nil {
				return nil, err
			}
			p.Tiers = append(p.Tiers, mtokTier{Start: start, Price: pr})
		}
		return p, nil
	}
	n, err := parseNano(trimmed)
	if err != nil {
		return nil, err
	}
	return &mtokPrice{Base: n}, nil
}

var (
	nanoPerUSD = big.NewRat(1_000_000_000, 1)
	maxPrice   = big.NewRat(1_000_000_000, 1) // 1e9 USD: beyond any real price; 1e18 nano-dollars fits an int64
)

// parseNano parses a decimal JSON number of dollars into integer
// nano-dollars, rounding half away from zero below one nano-dollar.
func parseNano(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || len(s) > 64 || s[0] == '"' {
		return 0, fmt.Errorf("%w: price %q is not a number", ErrBadTable, s)
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		// big.Rat would expand a huge exponent digit by digit.
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e < -30 || e > 30 {
			return 0, fmt.Errorf("%w: price %q out of range", ErrBadTable, s)
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("%w: price %q is not a number", ErrBadTable, s)
	}
	if r.Sign() < 0 || r.Cmp(maxPrice) > 0 {
		return 0, fmt.Errorf("%w: price %q out of range", ErrBadTable, s)
	}
	r.Mul(r, nanoPerUSD)
	// round half up (r is non-negative)
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if new(big.Int).Lsh(m, 1).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64(), nil
}
