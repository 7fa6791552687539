package host

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// naiveMatch is the definition keywordMatcher.match must agree with.
func naiveMatch(keywords [][]string, text string) uint64 {
	lower := strings.ToLower(text)
	var found uint64
	for i, kws := range keywords {
		for _, kw := range kws {
			if strings.Contains(lower, kw) {
				found |= 1 << i
			}
		}
	}
	return found
}

func TestKeywordMatcherAgreesWithContains(t *testing.T) {
	keywords := keywordsOf(defaultRules)
	m := newKeywordMatcher(keywords)
	// Texts stitched from keyword fragments, in random case, with noise:
	// overlapping and partial keywords exercise the failure links.
	var frags []string
	for _, kws := range keywords {
		for _, kw := range kws {
			frags = append(frags, kw, kw[:len(kw)/2], kw[len(kw)/2:])
		}
	}
	frags = append(frags, " ", "\\n", "x", "é", "K", "\x00")
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 20000 {
		var b strings.Builder
		for range r.IntN(12) {
			f := frags[r.IntN(len(frags))]
			if r.IntN(2) == 0 {
				f = strings.ToUpper(f)
			}
			b.WriteString(f)
		}
		text := b.String()
		if got, want := m.match(text), naiveMatch(keywords, text); got != want {
			t.Fatalf("text %d %q: match = %b, want %b", n, text, got, want)
		}
	}
	for i, line := range transcriptLines(t) {
		if got, want := m.match(string(line)), naiveMatch(keywords, string(line)); got != want {
			t.Fatalf("transcript line %d: match = %b, want %b", i, got, want)
		}
	}
}

func TestKeywordMatcherOverlap(t *testing.T) {
	m := newKeywordMatcher([][]string{{"sk-ant-"}, {"sk-"}, {"ant"}, {"nt-x"}})
	tests := []struct {
		text string
		want uint64
	}{
		{"", 0},
		{"sk", 0},
		{"SK-", 0b0010},
		{"task-ant-x", 0b1111}, // ta(sk-ant-)x
		{"sk-ant-", 0b0111},
		{"ssk-an", 0b0010},
	}
	for _, tt := range tests {
		if got := m.match(tt.text); got != tt.want {
			t.Errorf("match(%q) = %b, want %b", tt.text, got, tt.want)
		}
	}
}

// BenchmarkKeywordMatcher compares the prefilter with the naive one on a
// 4 KiB payload that contains no keyword.
func BenchmarkKeywordMatcher(b *testing.B) {
	keywords := keywordsOf(defaultRules)
	m := newKeywordMatcher(keywords)
	text := strings.Repeat("The store appends each event to the log and returns when it is durable; "+
		"readers page through events in order.\n", 36)
	b.Run("aho-corasick", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			m.match(text)
		}
	})
	b.Run("tolower-contains", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			naiveMatch(keywords, text)
		}
	})
}
