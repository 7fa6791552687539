package pricing

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var day = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestEmbeddedParses(t *testing.T) {
	tab := Default()
	if tab.Name() != EmbeddedName || tab.Date() != EmbeddedDate {
		t.Fatalf("source %q %q", tab.Name(), tab.Date())
	}
	if len(tab.providers) < 30 {
		t.Fatalf("only %d providers", len(tab.providers))
	}
}

// Hand-computed vectors against the embedded table.
func TestEstimateVectors(t *testing.T) {
	tab := Default()
	for _, tc := range []struct {
		name, provider, model string
		u                     Usage
		at                    time.Time
		want                  int64 // nano-dollars
		wantIn, wantOut       int64
		tier                  int
	}{
		// Claude Sonnet 4.5: $3 in, $15 out, $0.30 cache read, $3.75 write, per MTok.
		// 1000*3000 + 500*15000 = 3,000,000 + 7,500,000 nano-dollars.
		{"sonnet-plain", "anthropic", "claude-sonnet-4-5-20250929", Usage{Input: 1000, Output: 500}, day, 10_500_000, 3_000_000, 7_500_000, 0},
		// + 2000 cache reads (600,000) + 400 5m writes (1,500,000) + 100 1h writes at 2x$3 (600,000).
		{"sonnet-cache", "anthropic", "claude-sonnet-4-5", Usage{Input: 1000, Output: 500, CacheRead: 2000, CacheWrite5m: 400, CacheWrite1h: 100}, day, 13_200_000, 5_700_000, 7_500_000, 0},
		// Above 200k total input the tier doubles input ($6) and output goes to $22.5:
		// 150,000*6000 + 60,000*600 (cache read $0.6) = 900,000,000 + 36,000,000; 1000*22500 = 22,500,000.
		{"sonnet-tier", "anthropic", "claude-sonnet-4-5", Usage{Input: 150_000, CacheRead: 60_000, Output: 1000}, day, 958_500_000, 936_000_000, 22_500_000, 1},
		// Exactly 200,000 is not above the threshold: base prices.
		{"sonnet-at-threshold", "anthropic", "claude-sonnet-4-5", Usage{Input: 200_000}, day, 600_000_000, 600_000_000, 0, 0},
		// Provider alias through provider_match ("contains anthropic"), model in mixed case.
		{"alias", "Anthropic-Messages", "Claude-Sonnet-4-5", Usage{Input: 100_000}, day, 300_000_000, 300_000_000, 0, 0},
		// Sonnet 5 before and after the 2026-09-01 price change ($2 -> $3 input).
		{"dated-before", "anthropic", "claude-sonnet-5", Usage{Input: 1000}, day, 2_000_000, 2_000_000, 0, 0},
		{"dated-after", "anthropic", "claude-sonnet-5", Usage{Input: 1000}, time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), 3_000_000, 3_000_000, 0, 0},
		// DeepSeek: $0.27 in 00:30-16:30 UTC, $0.135 outside.
		{"tod-in", "deepseek", "deepseek-chat", Usage{Input: 1_000_000}, day, 270_000_000, 270_000_000, 0, 0},
		{"tod-out", "deepseek", "deepseek-chat", Usage{Input: 1_000_000}, time.Date(2026, 6, 1, 20, 0, 0, 0, time.UTC), 135_000_000, 135_000_000, 0, 0},
		// LiteLLM-style "<provider>/<model>" names.
		{"litellm", "litellm", "anthropic/claude-sonnet-4-5", Usage{Input: 1000}, day, 3_000_000, 3_000_000, 0, 0},
		{"litellm-unknown-prefix", "LiteLLM", "claude-3-haiku", Usage{Output: 1}, day, 1250, 0, 1250, 0},
		// Provider found from the model name alone.
		{"no-provider", "", "claude-3-haiku-20240307", Usage{Input: 4, Output: 1}, day, 2250, 1000, 1250, 0},
		// Azure falls back to Anthropic's models; Mistral has no cache read price: input price.
		{"fallback", "azure", "claude-sonnet-4-5", Usage{Input: 10}, day, 30_000, 30_000, 0, 0},
		{"cache-at-input", "mistral", "mistral-large-latest", Usage{Input: 44, CacheRead: 224, Output: 5}, day, 536_000 + 30_000, 536_000, 30_000, 0},
		// Rounding half up to the nano-dollar: 1 token at $0.01875/MTok = 18.75 nano.
		{"rounding", "google", "gemini-1.5-flash", Usage{CacheRead: 1}, day, 19, 19, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := tab.Estimate(tc.provider, tc.model, tc.u, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if e.NanoUSD != tc.want || e.InputNanoUSD != tc.wantIn || e.OutputNanoUSD != tc.wantOut || e.Prices.Tier != tc.tier {
				t.Fatalf("got %d (in %d out %d tier %d), want %d (in %d out %d tier %d); %+v", e.NanoUSD, e.InputNanoUSD, e.OutputNanoUSD, e.Prices.Tier, tc.want, tc.wantIn, tc.wantOut, tc.tier, e)
			}
			if e.Source != (Source{EmbeddedName, EmbeddedDate}) {
				t.Fatalf("source %+v", e.Source)
			}
		})
	}
}

func TestEstimatePricesAndFloat(t *testing.T) {
	e, err := Default().Estimate("anthropic", "claude-sonnet-4-5", Usage{Input: 1000, CacheWrite1h: 10}, day)
	if err != nil {
		t.Fatal(err)
	}
	if e.Prices.Input != 3_000_000_000 || e.Prices.CacheWrite1h != 6_000_000_000 || !e.Prices.CacheWrite1hDerived {
		t.Fatalf("prices %+v", e.Prices)
	}
	if e.Provider != "anthropic" || e.Model != "claude-sonnet-4-5" {
		t.Fatalf("ids %q %q", e.Provider, e.Model)
	}
	if e.USDFloat() != 0.00306 || e.String() != "$0.003060000" {
		t.Fatalf("float %v string %s", e.USDFloat(), e)
	}
}

func TestUnpriced(t *testing.T) {
	tab := Default()
	for _, tc := range []struct{ provider, model, reason string }{
		{"no-such-provider", "claude-sonnet-4-5", "unknown provider"},
		{"anthropic", "no-such-model", "unknown model"},
		{"", "no-such-model", "unknown provider"},
		{"cerebras", "qwen-3-coder-480b", "no input price"},
	} {
		_, err := tab.Estimate(tc.provider, tc.model, Usage{Input: 1}, day)
		var ue *UnpricedError
		if !errors.Is(err, ErrUnpriced) || !errors.As(err, &ue) || ue.Reason != tc.reason {
			t.Errorf("%s/%s: %v, want %s", tc.provider, tc.model, err, tc.reason)
		}
	}
	// An embedding model has no output price: output tokens are unpriced, not free.
	if _, err := tab.Estimate("aws", "amazon.titan-embed-text-v1", Usage{Input: 1, Output: 1}, day); !errors.Is(err, ErrUnpriced) {
		t.Errorf("output on embedding model: %v", err)
	}
}

func TestBadUsage(t *testing.T) {
	tab := Default()
	for _, u := range []Usage{{Input: -1}, {Output: -1}, {CacheRead: -5}, {Input: 1 << 62, CacheRead: 1 << 62}, {Input: 1 << 62, CacheRead: 1 << 61, CacheWrite5m: 1 << 61}} {
		if _, err := tab.Estimate("anthropic", "claude-sonnet-4-5", u, day); !errors.Is(err, ErrBadUsage) {
			t.Errorf("%+v: %v", u, err)
		}
	}
	// Huge but representable counts overflow the nano-dollar total: refused, never wrapped.
	if _, err := tab.Estimate("anthropic", "claude-opus-4-1", Usage{Output: 1 << 62}, day); !errors.Is(err, ErrBadUsage) {
		t.Errorf("overflow: %v", err)
	}
}

const tiny = `[{"id":"acme","name":"Acme","provider_match":{"or":[{"equals":"acme-ai"},{"and":[{"contains":"ac"},{"ends_with":"me2"}]}]},
 "models":[
  {"id":"m1","match":{"regex":"^m1(-\\d+)?$"},"prices":{"input_mtok":0.000000001,"output_mtok":1e1,"requests_kcount":2}},
  {"id":"big","match":{"equals":"BIG-Model"},"prices":{"input_mtok":1}},
  {"id":"m2","match":{"starts_with":"m2"},"prices":[{"prices":{"input_mtok":{"base":1,"tiers":[{"start":10,"price":2},{"start":100,"price":3}]}}},{"constraint":{"start_date":"2030-01-01"},"prices":{"input_mtok":9}}]}
 ]}]`

func TestLoad(t *testing.T) {
	tab, err := Load(strings.NewReader(tiny), "tiny", "2026-01-01")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		provider, model string
		u               Usage
		at              time.Time
		want            int64
		tier            int
	}{
		// 1e-9 $/MTok rounds to 1 nano per MTok; 1e6 tokens = 1 nano. Per request: $2/1000 = 2,000,000 nano.
		{"acme", "m1", Usage{Input: 1_000_000}, day, 1 + 2_000_000, 0},
		{"acme-ai", "m1-7", Usage{Output: 1}, day, 10_000 + 2_000_000, 0},
		{"xacme2", "m2", Usage{Input: 10}, day, 10_000, 0},
		{"ACME", "Big-MODEL", Usage{Input: 1}, day, 1_000, 0},
		{"acme", "m2", Usage{Input: 11}, day, 22_000, 1},
		{"acme", "m2x", Usage{Input: 101}, day, 303_000, 2},
		{"acme", "m2", Usage{Input: 1}, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), 9_000, 0},
	} {
		e, err := tab.Estimate(tc.provider, tc.model, tc.u, tc.at)
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.provider, tc.model, err)
		}
		if e.NanoUSD != tc.want || e.Prices.Tier != tc.tier || e.Source.Name != "tiny" {
			t.Errorf("%s/%s %+v: got %d tier %d, want %d tier %d", tc.provider, tc.model, tc.u, e.NanoUSD, e.Prices.Tier, tc.want, tc.tier)
		}
	}
	if _, err := tab.Estimate("acme", "m1-x", Usage{Input: 1}, day); !errors.Is(err, ErrUnpriced) {
		t.Errorf("regex anchored: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(path, []byte(tiny), 0o600); err != nil {
		t.Fatal(err)
	}
	ft, err := LoadFile(path)
	if err != nil || ft.Name() != "prices.json" || ft.Date() == "" {
		t.Fatalf("LoadFile: %v %+v", err, ft)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("LoadFile of a missing file succeeded")
	}
}

func TestLoadRejects(t *testing.T) {
	for _, bad := range []string{
		``, `{}`, `[{"models":[]}]`, `[{"id":"a","models":[{"id":"m","prices":{}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"regex":"("},"prices":{}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"nope":"x"},"prices":{}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m","contains":"m"},"prices":{}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":-1}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":"1"}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":1000000001}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":{"requests_kcount":1e20}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":1e999999999}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":{"base":1,"tiers":[{"start":5,"price":1},{"start":5,"price":2}]}}}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":[]}]}]`,
		`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":[{"constraint":{"start_date":"soon"},"prices":{}}]}]}]`,
		`[{"id":"a","models":[{"id":"m","match":` + strings.Repeat(`{"or":[`, 40) + `{"equals":"m"}` + strings.Repeat(`]}`, 40) + `,"prices":{}}]}]`,
	} {
		if _, err := Load(strings.NewReader(bad), "bad", ""); !errors.Is(err, ErrBadTable) {
			t.Errorf("%.80s: %v", bad, err)
		}
	}
	big := bytes.Repeat([]byte(" "), MaxTableSize+1)
	if _, err := Load(bytes.NewReader(big), "big", ""); !errors.Is(err, ErrBadTable) {
		t.Errorf("oversized: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(tiny))
	f.Add([]byte(`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":[{"constraint":{"start_time":"23:00:00Z","end_time":"01:00:00Z"},"prices":{"input_mtok":1}}]}]}]`))
	f.Add(embedded[:4096])
	f.Add([]byte(`[{"id":"a","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":999999999.999999999,"requests_kcount":1e9}}]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := Load(bytes.NewReader(b), "fuzz", "")
		if err != nil {
			if !errors.Is(err, ErrBadTable) {
				t.Fatalf("error not ErrBadTable: %v", err)
			}
			return
		}
		for _, p := range tab.providers {
			for _, m := range p.models {
				for _, u := range []Usage{{Input: 1, Output: 1, CacheRead: 1, CacheWrite5m: 1, CacheWrite1h: 1}, {Input: 1 << 40, Output: 1 << 40}} {
					e, err := tab.Estimate(p.id, m.id, u, day)
					if err == nil && (e.NanoUSD < 0 || e.InputNanoUSD < 0 || e.OutputNanoUSD < 0 || e.Prices.PerRequest < 0) {
						t.Fatalf("negative estimate %+v", e)
					}
				}
			}
			_, _ = tab.Estimate("", "m", Usage{Input: 1}, day)
		}
	})
}

// TestCacheWrite1hTier: 1-hour cache writes cost twice the input price of
// the tier in force, and say so.
func TestCacheWrite1hTier(t *testing.T) {
	// 250,000 total input is above Sonnet 4.5's 200k tier: input $6, 1h writes $12.
	e, err := Default().Estimate("anthropic", "claude-sonnet-4-5", Usage{Input: 240_000, CacheWrite1h: 10_000}, day)
	if err != nil {
		t.Fatal(err)
	}
	if e.Prices.Tier != 1 || e.Prices.Input != 6_000_000_000 || e.Prices.CacheWrite1h != 12_000_000_000 || !e.Prices.CacheWrite1hDerived {
		t.Fatalf("prices %+v", e.Prices)
	}
	if want := int64(240_000*6_000 + 10_000*12_000); e.NanoUSD != want {
		t.Fatalf("got %d, want %d", e.NanoUSD, want)
	}
	// Without 1-hour writes nothing is derived.
	e, err = Default().Estimate("anthropic", "claude-sonnet-4-5", Usage{Input: 1, CacheWrite5m: 1}, day)
	if err != nil || e.Prices.CacheWrite1hDerived || e.Prices.CacheWrite1h != 0 {
		t.Fatalf("%+v, %v", e.Prices, err)
	}
	// A model without an input price leaves 1-hour writes unpriced.
	if _, err := Default().Estimate("cerebras", "qwen-3-coder-480b", Usage{CacheWrite1h: 1}, day); !errors.Is(err, ErrUnpriced) {
		t.Fatalf("1h write without input price: %v", err)
	}
}

func TestSourceString(t *testing.T) {
	if got := (Source{EmbeddedName, EmbeddedDate}).String(); got != EmbeddedName+" "+EmbeddedDate {
		t.Fatalf("%q", got)
	}
	if got := (Source{Name: "prices.json"}).String(); got != "prices.json" {
		t.Fatalf("%q", got)
	}
}

// TestLookupCache: a remembered lookup gives what a fresh one gives, for
// found and unpriced names alike, from many goroutines at once; the cache
// stops growing at its bound, and names too long for it are still priced.
func TestLookupCache(t *testing.T) {
	tab, err := Load(strings.NewReader(tiny), "tiny", "2026-01-01")
	if err != nil {
		t.Fatal(err)
	}
	names := []struct{ provider, model string }{{"acme", "m1"}, {"acme-ai", "M1-7"}, {"acme", "m2x"}, {"acme", "nope"}, {"nobody", "m1"}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				n := names[(g+i)%len(names)]
				got, gotErr := tab.Estimate(n.provider, n.model, Usage{Input: 11}, day)
				r := tab.resolve(n.provider, n.model)
				total := int64(11)
				want, wantErr := tab.estimate(r, n.provider, n.model, Usage{Input: 11}, total, day)
				if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Errorf("%s/%s: cached %+v, %v; fresh %+v, %v", n.provider, n.model, got, gotErr, want, wantErr)
				}
			}
		})
	}
	wg.Wait()
	if n := len(tab.cache); n != len(names) {
		t.Fatalf("%d cached lookups, want %d", n, len(names))
	}
	for i := range maxCached + 100 {
		if _, err := tab.Estimate("acme", fmt.Sprint("m2-", i), Usage{Input: 1}, day); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(tab.cache); n != maxCached {
		t.Fatalf("%d cached lookups, want the bound %d", n, maxCached)
	}
	long := "m2" + strings.Repeat("x", maxCachedKey)
	if e, err := tab.Estimate("acme", long, Usage{Input: 1}, day); err != nil || e.NanoUSD != 1_000 {
		t.Fatalf("long name: %+v, %v", e, err)
	}
}

// BenchmarkEstimate prices one request of three models: "cached" as every
// request after a model's first (the lookup remembered), "cold" as a
// model's first request (the match rules run), and "load" parses the
// embedded table (Default does it once per process).
func BenchmarkEstimate(b *testing.B) {
	tab := Default()
	u := Usage{Input: 1200, Output: 800, CacheRead: 50_000, CacheWrite5m: 3000}
	total, err := u.TotalInput()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ provider, model string }{
		{"anthropic", "claude-sonnet-4-5-20250929"},
		{"openai", "gpt-5.6-luna"},
		{"openrouter", "openai/gpt-oss-120b"},
	} {
		b.Run("cached/"+bc.provider, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tab.Estimate(bc.provider, bc.model, u, day); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "estimates/s")
		})
		b.Run("cold/"+bc.provider, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tab.estimate(tab.resolve(bc.provider, bc.model), bc.provider, bc.model, u, total, day); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "estimates/s")
		})
	}
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(embedded)))
		for b.Loop() {
			if _, err := Load(bytes.NewReader(embedded), EmbeddedName, EmbeddedDate); err != nil {
				b.Fatal(err)
			}
		}
	})
}
