package pricing

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// corpusAt is the time the corpus is priced at: noon UTC on the date of
// the upstream commit both files come from. The dataset's expected prices
// follow the table's 2026-03-13 changes and predate its 2026-09-01 Claude
// Sonnet 5 change; noon UTC is inside the 00:30-16:30 UTC DeepSeek window,
// whose prices the dataset's DeepSeek cases carry.
var corpusAt = time.Date(2026, 8, 21, 12, 0, 0, 0, time.UTC)

// corpusMinAgreement is the share of the corpus's priced cases that must
// agree within 0.1 %. The disagreements it leaves room for are the classes
// Usage deliberately does not model (audio, image and video token prices,
// per-search fees); docs/BENCHMARKS.md lists them.
const corpusMinAgreement = 0.95

type corpusItem struct {
	Model     string `json:"model"`
	Extracted []struct {
		Extractors []struct {
			APIFlavor   string `json:"api_flavor"`
			ProviderID  string `json:"provider_id"`
			InputPrice  string `json:"input_price"`
			OutputPrice string `json:"output_price"`
			TotalPrice  string `json:"total_price"`
		} `json:"extractors"`
		Usage map[string]int64 `json:"usage"`
	} `json:"extracted"`
}

func nanoOf(t *testing.T, s string) int64 {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("expected price %q is not a number", s)
	}
	r.Mul(r, big.NewRat(1e9, 1))
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if new(big.Int).Lsh(m, 1).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

func close01(got, want int64) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	if d <= 1 {
		return true
	}
	return float64(d) <= 0.001*float64(want)
}

// TestCorpus prices genai-prices' own test dataset (real usage bodies with
// the prices genai-prices computed for them) and reports agreement.
func TestCorpus(t *testing.T) {
	dir := os.Getenv("GOFASTR_PRICING_TESTDATA")
	if dir == "" {
		t.Skip("GOFASTR_PRICING_TESTDATA is unset: it names the directory holding genai-prices_tests_dataset_usages.json")
	}
	b, err := os.ReadFile(filepath.Join(dir, "genai-prices_tests_dataset_usages.json"))
	if err != nil {
		t.Fatal(err)
	}
	var items []corpusItem
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatal(err)
	}
	tab := Default()
	var cases, priced, exact, within, unpricedOK int
	classes := map[string]int{}
	examples := map[string]string{}
	bad := func(class, ex string) {
		classes[class]++
		if _, ok := examples[class]; !ok {
			examples[class] = ex
		}
	}
	for _, it := range items {
		for _, ex := range it.Extracted {
			us := ex.Usage
			other := ""
			for _, k := range []string{"input_audio_tokens", "cache_audio_read_tokens", "output_audio_tokens", "output_image_tokens", "web_searches"} {
				if us[k] > 0 {
					other = k
				}
			}
			if other == "" && strings.Contains(it.Model, "-image") {
				other = "an image-generation model"
			}
			w := us["cache_write_tokens"]
			w5 := w
			if v, ok := us["cache_write_5m_tokens"]; ok {
				w5 = v
				if w < w5 {
					w = w5
				}
			}
			u := Usage{
				Input:        us["input_tokens"] - us["cache_read_tokens"] - w,
				Output:       us["output_tokens"],
				CacheRead:    us["cache_read_tokens"],
				CacheWrite5m: w5,
				CacheWrite1h: w - w5,
			}
			for _, x := range ex.Extractors {
				cases++
				key := x.ProviderID + "/" + it.Model
				est, err := tab.Estimate(x.ProviderID, it.Model, u, corpusAt)
				if x.InputPrice == "" && x.TotalPrice == "" {
					if errors.Is(err, ErrUnpriced) || it.Model == "" {
						unpricedOK++
					} else if err != nil {
						bad("error on unpriced case: "+err.Error(), key)
					} else {
						bad("priced where genai-prices is not ("+x.ProviderID+")", key)
					}
					continue
				}
				priced++
				if it.Model == "" {
					bad("no model in body", key)
					continue
				}
				if err != nil {
					var ue *UnpricedError
					if errors.As(err, &ue) {
						bad("unpriced here: "+ue.Reason+" ("+x.ProviderID+")", key)
					} else {
						bad("error: "+err.Error(), key)
					}
					continue
				}
				if x.TotalPrice != "" {
					want := nanoOf(t, x.TotalPrice)
					if est.NanoUSD == want {
						exact++
						within++
					} else if close01(est.NanoUSD, want) {
						within++
					} else {
						bad("total_price differs ("+other+")", fmt.Sprintf("%s got %d want %d", key, est.NanoUSD, want))
					}
					continue
				}
				wi, wo := nanoOf(t, x.InputPrice), nanoOf(t, x.OutputPrice)
				switch {
				case est.InputNanoUSD == wi && est.OutputNanoUSD == wo:
					exact++
					within++
				case close01(est.InputNanoUSD, wi) && close01(est.OutputNanoUSD, wo):
					within++
				default:
					reason := "price differs"
					if other != "" {
						reason = "usage has " + other
					}
					bad(reason+" ("+x.ProviderID+")", fmt.Sprintf("%s %+v got in %d out %d want in %d out %d", key, u, est.InputNanoUSD, est.OutputNanoUSD, wi, wo))
				}
			}
		}
	}
	t.Logf("corpus: %d (usage, provider) cases; %d priced upstream: %d exact (to the nano-dollar), %d within 0.1 %% (%.2f %%); %d unpriced upstream and here",
		cases, priced, exact, within, 100*float64(within)/float64(priced), unpricedOK)
	names := make([]string, 0, len(classes))
	for k := range classes {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		return classes[names[i]] > classes[names[j]] || classes[names[i]] == classes[names[j]] && names[i] < names[j]
	})
	for _, k := range names {
		t.Logf("disagreement %5d  %s  e.g. %s", classes[k], k, examples[k])
	}
	if float64(within) < corpusMinAgreement*float64(priced) {
		t.Errorf("agreement %d/%d below %.0f %%", within, priced, 100*corpusMinAgreement)
	}
}
