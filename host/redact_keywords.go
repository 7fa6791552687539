package host

// keywordMatcher is the redactor's prefilter: an Aho-Corasick automaton
// over the rules' keywords, compiled to a DFA over byte classes. One pass
// over the text reports which rules have a keyword in it. ASCII letters
// are folded to lower case by the class table, so the text need not be
// lower-cased first (keywords are lower-case ASCII).
//
// Measured (BenchmarkKeywordMatcher, 4 KiB of prose, 2-vCPU EPYC VM):
// strings.ToLower plus strings.Contains for each of the ~50 keywords runs at
// ~80 MB/s, because keywords starting with common letters make
// strings.Index stop at almost every byte; this automaton runs at
// ~600 MB/s.
type keywordMatcher struct {
	class  [256]uint8 // byte -> class; 0 is "in no keyword"
	nclass int
	// next[s+class] is the state after s, where a state is stored as its
	// number times nclass so the hot loop needs no multiplication. The
	// root is 0, and states in which a keyword ends are numbered last,
	// from outStart on, so the loop tests one comparison per byte.
	next     []uint16
	outStart int
	out      []uint64 // out[(s-outStart)/nclass]: bit i for rule i's keywords
}

// newKeywordMatcher builds the matcher for keywords[i], the keywords of
// rule i. It panics on more than 64 rules or an empty or non-lower-case
// keyword: the rule table is static.
func newKeywordMatcher(keywords [][]string) *keywordMatcher {
	if len(keywords) > 64 {
		panic("host: more than 64 redaction rules")
	}
	m := &keywordMatcher{nclass: 1}
	for _, kws := range keywords {
		for _, kw := range kws {
			if kw == "" {
				panic("host: empty redaction keyword")
			}
			for i := 0; i < len(kw); i++ {
				c := kw[i]
				if 'A' <= c && c <= 'Z' || c >= 0x80 {
					panic("host: redaction keyword not lower-case ASCII: " + kw)
				}
				if m.class[c] == 0 {
					m.class[c] = uint8(m.nclass)
					if 'a' <= c && c <= 'z' {
						m.class[c-'a'+'A'] = uint8(m.nclass)
					}
					m.nclass++
				}
			}
		}
	}

	// The trie: child[state*nclass+class], 0 meaning no edge (the root is
	// never a child).
	var child []int
	var out []uint64
	newState := func() int {
		child = append(child, make([]int, m.nclass)...)
		out = append(out, 0)
		return len(out) - 1
	}
	newState() // root
	for rule, kws := range keywords {
		for _, kw := range kws {
			s := 0
			for i := 0; i < len(kw); i++ {
				c := int(m.class[kw[i]])
				if child[s*m.nclass+c] == 0 {
					n := newState()
					child[s*m.nclass+c] = n
				}
				s = child[s*m.nclass+c]
			}
			out[s] |= 1 << rule
		}
	}

	// Breadth-first: failure links, then full DFA transitions.
	next := make([]uint16, len(out)*m.nclass)
	fail := make([]int, len(out))
	queue := []int{0}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := 0; c < m.nclass; c++ {
			t := child[s*m.nclass+c]
			switch {
			case t != 0:
				next[s*m.nclass+c] = uint16(t)
				if s != 0 {
					fail[t] = int(next[fail[s]*m.nclass+c])
				}
				out[t] |= out[fail[t]]
				queue = append(queue, t)
			case s != 0:
				next[s*m.nclass+c] = next[fail[s]*m.nclass+c]
			}
		}
	}

	// Renumber: states without output first (the root stays 0), then the
	// states where a keyword ends; store states premultiplied by nclass.
	n := len(out)
	if n*m.nclass > 1<<16 {
		panic("host: redaction keywords too long")
	}
	perm := make([]int, n)
	k := 0
	for pass := range 2 {
		for s := range n {
			if (out[s] != 0) == (pass == 1) {
				if pass == 1 && m.outStart == 0 {
					m.outStart = k * m.nclass
				}
				perm[s] = k
				k++
			}
		}
	}
	m.next = make([]uint16, n*m.nclass)
	m.out = make([]uint64, n-m.outStart/m.nclass)
	for s := range n {
		for c := 0; c < m.nclass; c++ {
			m.next[perm[s]*m.nclass+c] = uint16(perm[next[s*m.nclass+c]] * m.nclass)
		}
		if out[s] != 0 {
			m.out[perm[s]-m.outStart/m.nclass] = out[s]
		}
	}
	return m
}

// match returns the set of rules (bit i for rule i) with at least one
// keyword in text, compared case-insensitively for ASCII.
func (m *keywordMatcher) match(text string) uint64 {
	var found uint64
	next, class, outStart := m.next, &m.class, m.outStart
	s := 0
	for i := 0; i < len(text); i++ {
		s = int(next[s+int(class[text[i]])])
		if s >= outStart {
			found |= m.out[(s-outStart)/m.nclass]
		}
	}
	return found
}
