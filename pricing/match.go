package pricing

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// maxMatchDepth bounds the nesting of "or"/"and" clauses a table may use.
const maxMatchDepth = 32

// matcher is one compiled genai-prices match clause: equals, starts_with,
// ends_with, contains, regex, or a list of clauses joined by or/and.
type matcher struct {
	kind string // "equals", "starts_with", "ends_with", "contains", "regex", "or", "and"
	s    string
	re   *regexp.Regexp
	subs []matcher
}

func parseMatcher(raw json.RawMessage, depth int) (matcher, error) {
	if depth > maxMatchDepth {
		return matcher{}, fmt.Errorf("%w: match clause nested deeper than %d", ErrBadTable, maxMatchDepth)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return matcher{}, fmt.Errorf("%w: match clause is not an object", ErrBadTable)
	}
	if len(obj) != 1 {
		return matcher{}, fmt.Errorf("%w: match clause has %d keys, want 1", ErrBadTable, len(obj))
	}
	for k, v := range obj {
		switch k {
		case "equals", "starts_with", "ends_with", "contains", "regex":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return matcher{}, fmt.Errorf("%w: %s clause is not a string", ErrBadTable, k)
			}
			// String clauses compare case-insensitively (the reference is
			// lower-cased before matching); regular expressions run on the
			// lower-cased reference as written, as genai-prices does.
			m := matcher{kind: k, s: strings.ToLower(s)}
			if k == "regex" {
				m.s = s
				re, err := regexp.Compile(s)
				if err != nil {
					return matcher{}, fmt.Errorf("%w: bad regex %q", ErrBadTable, s)
				}
				m.re = re
			}
			return m, nil
		case "or", "and":
			var list []json.RawMessage
			if err := json.Unmarshal(v, &list); err != nil {
				return matcher{}, fmt.Errorf("%w: %s clause is not a list", ErrBadTable, k)
			}
			m := matcher{kind: k, subs: make([]matcher, 0, len(list))}
			for _, r := range list {
				sub, err := parseMatcher(r, depth+1)
				if err != nil {
					return matcher{}, err
				}
				m.subs = append(m.subs, sub)
			}
			return m, nil
		default:
			return matcher{}, fmt.Errorf("%w: unknown match clause %q", ErrBadTable, k)
		}
	}
	return matcher{}, fmt.Errorf("%w: empty match clause", ErrBadTable)
}

// matches reports whether ref (already lower-cased) satisfies the clause.
func (m *matcher) matches(ref string) bool {
	switch m.kind {
	case "equals":
		return ref == m.s
	case "starts_with":
		return strings.HasPrefix(ref, m.s)
	case "ends_with":
		return strings.HasSuffix(ref, m.s)
	case "contains":
		return strings.Contains(ref, m.s)
	case "regex":
		return m.re.MatchString(ref)
	case "or":
		for i := range m.subs {
			if m.subs[i].matches(ref) {
				return true
			}
		}
		return false
	case "and":
		for i := range m.subs {
			if !m.subs[i].matches(ref) {
				return false
			}
		}
		return len(m.subs) > 0
	}
	return false
}
