package host

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/gofastr/store/abi"
)

// TestParseTotals checks the reader of json_group_object's output on
// good objects and refusals of malformed ones.
func TestParseTotals(t *testing.T) {
	out := map[string]abi.NanoUSD{"a": 1}
	if err := parseTotals([]byte(`{"a":2,"b\"\\c":0,"\u00e9":9223372036854775806}`), out); err != nil {
		t.Fatal(err)
	}
	want := map[string]abi.NanoUSD{"a": 3, `b"\c`: 0, "é": 9223372036854775806}
	if len(out) != len(want) {
		t.Fatalf("got %v, want %v", out, want)
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%q = %d, want %d", k, out[k], v)
		}
	}
	if err := parseTotals([]byte(`{"é":2}`), out); err == nil {
		t.Error("a sum beyond int64 was accepted")
	}
	for _, bad := range []string{``, `{`, `}`, `[]`, `{"a"}`, `{"a":}`, `{"a":-1}`, `{"a":1,}`, `{"a":1 "b":2}`, `{a:1}`, `{"a:1}`,
		`{"a":1.5}`, `{"a":99999999999999999999}`, `{"a":"1"}`, `{"\x":1}`, `{"a":1}}`} {
		if err := parseTotals([]byte(bad), map[string]abi.NanoUSD{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseTotals checks that parseTotals never panics and that what it
// accepts is a JSON object of the totals it returns.
func FuzzParseTotals(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a\"b":2,"c":3}`, `{"\u0041":0}`, `{"0\b0":00}`, `{"a":1,}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := map[string]abi.NanoUSD{}
		if err := parseTotals(b, out); err != nil {
			return
		}
		var m map[string]int64
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("accepted %q, which is not a JSON object of integers: %v", b, err)
		}
	})
}

// TestAttemptCostRoundTrip: an attempt's cost goes from the store's
// nano-dollars to float64 dollars (abi.NanoUSD.USD, as reads return it)
// and back to the ledger's nano-dollars through toNanoUSD unchanged, for
// every amount up to 2^51 nano-dollars (about 2.25 million dollars), as
// CostLedger.RecordAttempt documents.
func TestAttemptCostRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(n int64) {
		got, err := toNanoUSD("cost", abi.NanoUSD(n).USD())
		if err != nil || int64(got) != n {
			t.Fatalf("%d nano-dollars came back as %d (%v)", n, got, err)
		}
	}
	for n := range int64(100_000) {
		check(n)
	}
	for shift := range 52 {
		for range 20_000 {
			check(rng.Int64N(int64(1) << shift))
		}
		check(int64(1)<<shift - 1)
	}
}
