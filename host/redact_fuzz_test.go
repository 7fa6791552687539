package host_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gofastr/store/host"
)

// plantedCase is one text of the recall corpus and the secret in it.
type plantedCase struct{ secret, text string }

// plantedCases flattens secretCases: every text the default redactor must
// clean, with its secret.
func plantedCases() []plantedCase {
	var out []plantedCase
	for _, c := range secretCases() {
		for _, text := range c.texts {
			out = append(out, plantedCase{c.secret, text})
		}
	}
	return out
}

// FuzzDefaultRedactorPlanted plants a known secret, in one of the contexts
// of the recall corpus, between arbitrary text, as plain text or as an
// element of a JSON array, and redacts it. Invariants: no byte window of
// the secret survives, whatever surrounds its line; JSON input stays valid
// JSON; redacting the output again changes nothing (a replacement is never
// itself a candidate); text without any change comes back as it was.
func FuzzDefaultRedactorPlanted(f *testing.F) {
	cases := plantedCases()
	for i := range cases {
		f.Add("", uint16(i), "", i%2 == 0)
	}
	f.Add("Authorization: Bearer", uint16(0), "-----END PRIVATE KEY-----", false)
	f.Add("-----BEGIN RSA PRIVATE KEY-----", uint16(3), "\\", false)
	f.Add(`{"a":"\`, uint16(7), `"}`, true)
	f.Fuzz(func(t *testing.T, prefix string, which uint16, suffix string, asJSON bool) {
		c := cases[int(which)%len(cases)]
		var in string
		if asJSON {
			ctx := c.text
			if !json.Valid([]byte(ctx)) {
				ctx = mustJSON(ctx)
			}
			in = "[" + mustJSON(prefix) + ",\n" + ctx + ",\n" + mustJSON(suffix) + "]"
		} else {
			// The secret's context on lines of its own: the text around it
			// may not glue onto it, but may be anything else.
			in = prefix + "\n" + c.text + "\n" + suffix
		}
		r := host.DefaultRedactor{}
		out := r.Redact(in)
		if left := leftovers(out, c.secret); len(left) > 0 {
			t.Fatalf("secret survived redaction\n in: %q\nout: %q\nleft: %q", in, out, left)
		}
		if json.Valid([]byte(in)) && !json.Valid([]byte(out)) {
			t.Fatalf("redaction broke JSON\n in: %q\nout: %q", in, out)
		}
		if again := r.Redact(out); again != out {
			t.Fatalf("redaction is not idempotent\n in: %q\nout: %q\nagain: %q", in, out, again)
		}
	})
}

// FuzzDefaultRedactorText feeds arbitrary text (not only JSON) to the
// default redactor. Invariants: no panic; the output is the input when
// nothing matched; every change is a «redacted:KIND» marker of a known
// kind, and the text around the markers is the input's (a replacement
// never removes or inserts anything else); a second pass changes nothing.
func FuzzDefaultRedactorText(f *testing.F) {
	for _, c := range plantedCases() {
		f.Add(c.text)
	}
	for _, s := range benignCases() {
		f.Add(s)
	}
	f.Add("\\\\\\nsk-ant-api03-")
	f.Fuzz(func(t *testing.T, in string) {
		r := host.DefaultRedactor{}
		out := r.Redact(in)
		if again := r.Redact(out); again != out {
			t.Fatalf("redaction is not idempotent\n in: %q\nout: %q\nagain: %q", in, out, again)
		}
		if out == in || strings.Contains(in, "«redacted:") {
			return
		}
		// Walk out: literal text must match in, in order; each marker
		// stands for a non-empty stretch of in.
		rest, pos := out, 0
		for {
			i := strings.Index(rest, "«redacted:")
			if i < 0 {
				if !strings.HasSuffix(in[pos:], rest) {
					t.Fatalf("tail of the output is not the input's\n in: %q\nout: %q", in, out)
				}
				return
			}
			lit := rest[:i]
			j := strings.Index(in[pos:], lit)
			if j < 0 {
				t.Fatalf("output text %q not in the input\n in: %q\nout: %q", lit, in, out)
			}
			pos += j + len(lit)
			end := strings.Index(rest[i:], "»")
			if end < 0 {
				t.Fatalf("unterminated marker\n in: %q\nout: %q", in, out)
			}
			kind := strings.TrimPrefix(rest[i:i+end], "«redacted:")
			if !knownKind(kind) {
				t.Fatalf("unknown kind %q\n in: %q\nout: %q", kind, in, out)
			}
			rest = rest[i+end+len("»"):]
			if pos < len(in) {
				pos++ // the marker replaced at least one byte
			}
		}
	})
}

// knownKind reports the kinds DefaultRedactor documents.
func knownKind(k string) bool {
	switch k {
	case "aws-access-key", "aws-secret-key", "github-token", "openai-key", "anthropic-key",
		"openrouter-key", "google-api-key", "slack-token", "slack-webhook", "stripe-key",
		"jwt", "private-key", "bearer":
		return true
	}
	return false
}
