package jsonl

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// rawFields are the fields whose JSON values are kept as they are
// (payloads, arguments, results), not decoded into structs, by their
// names folded with foldKey.
var rawFields = map[string]bool{"PAYLOAD": true, "ARGS": true, "RESULT": true}

// checkRaw scans a line that decoded as JSON for what decoding would
// silently change: a key that appears twice in one object (decoding keeps
// the last) and a \u escape of a lone UTF-16 surrogate (decoding turns it
// into U+FFFD). In the objects decoded into records, keys are compared as
// encoding/json matches them to fields, without regard to case; in
// payloads, arguments and results, exactly. It reports the first it
// finds.
func checkRaw(b []byte) error {
	// stack holds, per open object, the keys seen so far, the last one,
	// whether a key comes next and whether the object is decoded into a
	// struct; nil entries are arrays.
	type object struct {
		keys      map[string]bool
		last      string
		expectKey bool
		fields    bool
	}
	var stack []*object
	top := func() *object {
		if len(stack) == 0 {
			return nil
		}
		return stack[len(stack)-1]
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			fields := len(stack) == 0
			if o := top(); o != nil && o.fields && !rawFields[o.last] {
				fields = true
			}
			stack = append(stack, &object{keys: map[string]bool{}, expectKey: true, fields: fields})
		case '[':
			stack = append(stack, nil)
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if o := top(); o != nil {
				o.expectKey = true
			}
		case '"':
			end, escaped, err := scanString(b, i)
			if err != nil {
				return err
			}
			if o := top(); o != nil && o.expectKey {
				o.expectKey = false
				key := string(b[i+1 : end-1])
				if escaped {
					if err := json.Unmarshal(b[i:end], &key); err != nil {
						return fmt.Errorf("%w: %v", ErrSyntax, err)
					}
				}
				if o.fields {
					key = foldKey(key)
				}
				if o.keys[key] {
					return fmt.Errorf("%w: duplicate key %q", ErrInvalidRecord, key)
				}
				o.keys[key], o.last = true, key
			}
			i = end - 1
		}
	}
	return nil
}

// foldKey folds key the way encoding/json does when it matches object
// keys to struct fields: ASCII letters to upper case, every other rune r
// to unicode.ToUpper(unicode.ToLower(r)). Two keys that decode into the
// same field fold to the same string, so "session" and "ſession"
// (U+017F LATIN SMALL LETTER LONG S), which encoding/json both matches
// to the field session, are duplicates.
func foldKey(key string) string {
	var b strings.Builder
	b.Grow(len(key))
	for _, r := range key {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteByte(byte(r))
			continue
		}
		b.WriteRune(unicode.ToUpper(unicode.ToLower(r)))
	}
	return b.String()
}

// scanString scans the JSON string that starts at b[start] (a quote) and
// returns the index after its closing quote and whether it holds escapes.
// A \u escape of a lone surrogate is an error.
func scanString(b []byte, start int) (end int, escaped bool, err error) {
	for i := start + 1; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1, escaped, nil
		case '\\':
			escaped = true
			if i+1 < len(b) && b[i+1] == 'u' {
				r, ok := hex4(b, i+2)
				switch {
				case !ok:
				case utf16.IsSurrogate(r) && r < 0xdc00:
					// A high surrogate must be followed by an escaped low one.
					lo, ok := rune(0), false
					if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
						lo, ok = hex4(b, i+8)
					}
					if !ok || lo < 0xdc00 || lo > 0xdfff {
						return 0, false, fmt.Errorf("%w: lone surrogate escape %s", ErrSyntax, b[i:i+6])
					}
					i += 11
					continue
				case utf16.IsSurrogate(r):
					return 0, false, fmt.Errorf("%w: lone surrogate escape %s", ErrSyntax, b[i:i+6])
				}
				i += 5
				continue
			}
			i++ // the escaped character
		}
	}
	return len(b), escaped, nil
}

// hex4 decodes the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
