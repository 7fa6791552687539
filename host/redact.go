package host

import (
	"regexp"
	"strings"
)

// Redactor removes secrets from text before it is stored.
//
// Redact receives an event payload (JSON text) and returns it with secrets
// replaced. An implementation must be safe for concurrent use, must not
// retain text, and, when text is valid JSON, must return valid JSON: a
// replacement may not split a JSON escape sequence nor remove or insert
// quotes or backslashes.
type Redactor interface {
	Redact(text string) string
}

var _ Redactor = DefaultRedactor{}

// DefaultRedactor replaces common secret patterns with «redacted:KIND».
//
// KIND is one of: aws-access-key, aws-secret-key, github-token,
// openai-key, anthropic-key, openrouter-key, google-api-key, slack-token,
// slack-webhook, stripe-key, jwt, private-key, bearer.
//
// The patterns follow gitleaks' rules and its keyword prefilter: a rule's
// regular expression runs only if one of the rule's keywords occurs in the
// text (ASCII case-insensitively). One Aho-Corasick pass finds them all, so
// text without any candidate costs a single scan.
//
// Matches must stand alone: a token glued to letters or digits on either
// side is part of something longer (so "task-…" or a base64 blob that
// happens to contain "AKIA…" is left alone), except that a JSON escape
// such as \n right before a token counts as a separator. Tokens that are
// only recognisable by their name (AWS secret keys) are redacted only next
// to that name, and bearer tokens only after "Bearer".
//
// The set is intentionally tight: false positives are worse than false
// negatives here, because the redactor runs on every event payload. It does
// not find passwords, generic API keys, Basic credentials, AWS session
// tokens, secrets split across lines or strings, or secrets inside
// base64-, URL- or otherwise encoded text.
//
// The replacement contains no quotes or backslashes, and a match never
// contains a quote nor splits an escape sequence, so valid JSON stays
// valid.
type DefaultRedactor struct{}

// Redact returns text with every match of the default rules replaced by
// «redacted:KIND». It returns text itself (no copy) when nothing matched.
func (DefaultRedactor) Redact(text string) string {
	return redactWith(defaultRules, defaultKeywords, text)
}

// redactRule is one secret pattern.
type redactRule struct {
	// kind names the secret in the replacement «redacted:kind».
	kind string
	// keywords are lower-case ASCII strings, at least one of which occurs
	// in the text (case-insensitively) whenever re can match: the
	// prefilter.
	keywords []string
	// re finds candidates. If it has a capturing group, group 1 is the
	// secret and the rest of the match is context that stays; otherwise
	// the whole match is the secret.
	re *regexp.Regexp
	// edge, if set, reports the bytes that may not touch the match on
	// either side (a match glued to them is part of a longer word).
	edge func(byte) bool
	// minClasses, if set, is the number of character classes (lower,
	// upper, digit) the secret must mix; it rejects words and placeholders.
	minClasses int
	// allow, if set, reports secrets that are known not to be secrets.
	allow func(secret string) bool
}

// The rules run in order; more specific rules come first so that, for
// example, an Anthropic key is not reported as an OpenAI key.
var defaultRules = []redactRule{
	{
		kind:     "private-key",
		keywords: []string{"-----begin"},
		// A PEM block with its END line or, when it was cut off (head,
		// truncated tool output), the BEGIN line and the base64 lines
		// that follow. Newlines are real or JSON-escaped (\n, and \\n when
		// JSON is nested in a JSON string). The body never contains a
		// quote, and ends on "-----" or a base64 character, so the match
		// never splits a JSON escape.
		re: regexp.MustCompile(`-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----` +
			`(?:(?:[A-Za-z0-9+/=\s:,._()-]|\\+[nrt])*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----` +
			`|(?:(?:\r?\n|(?:\\+[rn])+)[A-Za-z0-9+/=]{16,})+)`),
	},
	{
		kind:     "jwt",
		keywords: []string{"eyj"},
		re:       regexp.MustCompile(`eyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_-]{15,}\.[A-Za-z0-9_-]*`),
		edge:     isTokenByte,
	},
	{
		kind:     "anthropic-key",
		keywords: []string{"sk-ant-"},
		// api03 and admin01 keys (gitleaks), and Claude OAuth tokens
		// (oat01, ort01) which share the shape.
		re:   regexp.MustCompile(`sk-ant-[a-z]{3,6}[0-9]{2}-[A-Za-z0-9_-]{32,}`),
		edge: isTokenByte,
	},
	{
		kind:     "openrouter-key",
		keywords: []string{"sk-or-"},
		re:       regexp.MustCompile(`sk-or-v[0-9]+-[0-9a-f]{64}`),
		edge:     isTokenByte,
	},
	{
		kind:     "openai-key",
		keywords: []string{"sk-"},
		// Project, service-account and admin keys; legacy sk-<48> keys
		// (and the sk-<hex> keys of OpenAI-compatible APIs). gitleaks also
		// requires the marker T3BlbkFJ; we accept keys without it but
		// demand a long body that mixes letters and digits.
		re:         regexp.MustCompile(`sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{32,})`),
		edge:       isTokenByte,
		minClasses: 2,
	},
	{
		kind:     "github-token",
		keywords: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
		re:       regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,}`),
		edge:     isTokenByte,
	},
	{
		kind:     "aws-access-key",
		keywords: []string{"a3t", "akia", "asia", "abia", "acca"},
		re:       regexp.MustCompile(`(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}`),
		edge:     isAlnum,
		// AWS's documentation keys (AKIAIOSFODNN7EXAMPLE), as in gitleaks.
		allow: func(s string) bool { return strings.HasSuffix(s, "EXAMPLE") },
	},
	{
		kind:     "aws-secret-key",
		keywords: []string{"secret_access_key", "secretaccesskey", "secret-access-key", "aws_secret", "aws-secret"},
		// The secret has no prefix of its own, so it is recognised only
		// next to its name: env files, ini files, JSON (also nested, with
		// \" quotes), YAML, AWS CLI output ("SecretAccessKey": ...).
		re: regexp.MustCompile(`(?i)(?:aws[_-]?secret[_-]?(?:access[_-]?)?key|secret[_-]?access[_-]?key)` +
			`(?:\\?["'])?[ \t]*(?:=|:|=>)[ \t]*(?:\\?["'])?([A-Za-z0-9/+]{40})`),
		edge:       isAWSSecretByte,
		minClasses: 2,
	},
	{
		kind:     "google-api-key",
		keywords: []string{"aiza"},
		re:       regexp.MustCompile(`AIza[A-Za-z0-9_-]{35}`),
		edge:     isTokenByte,
	},
	{
		kind:     "slack-token",
		keywords: []string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxe-", "xoxo-", "xoxs-", "xoxe.", "xapp-"},
		// gitleaks' bot, user, legacy, workspace, config and app token
		// shapes.
		re: regexp.MustCompile(`xoxb-[0-9]{8,14}-[A-Za-z0-9-]{18,}` +
			`|xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9-]{28,}` +
			`|xox[os]-[0-9]+-[0-9]+-[0-9]+-[A-Fa-f0-9]+` +
			`|xox[ar]-(?:[0-9]-)?[A-Za-z0-9]{8,48}` +
			`|xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{100,}` +
			`|xapp-[0-9]-[A-Za-z0-9]+-[0-9]+-[A-Za-z0-9]+`),
		edge:       isTokenByte,
		minClasses: 2,
	},
	{
		kind:     "slack-webhook",
		keywords: []string{"hooks.slack.com"},
		re:       regexp.MustCompile(`hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{40,}`),
		edge:     isAlnum,
	},
	{
		kind:     "stripe-key",
		keywords: []string{"sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_"},
		re:       regexp.MustCompile(`[rs]k_(?:live|test|prod)_[A-Za-z0-9]{16,}`),
		edge:     isTokenByte,
	},
	{
		kind:     "bearer",
		keywords: []string{"bearer"},
		// "Authorization: Bearer <token>" in any header syntax, including
		// {"Authorization": "Bearer <token>"}: the token is group 1. It
		// must be 16+ characters of RFC 6750 b64token and mix character
		// classes, so "Bearer authentication" and ${TOKEN} stay.
		re:         regexp.MustCompile(`(?i)bearer[ \t]+([A-Za-z0-9._~+/-]{16,}=*)`),
		edge:       isAlnum,
		minClasses: 2,
	},
}

// defaultKeywords is the prefilter of defaultRules.
var defaultKeywords = newKeywordMatcher(keywordsOf(defaultRules))

func keywordsOf(rules []redactRule) [][]string {
	kws := make([][]string, len(rules))
	for i, r := range rules {
		kws[i] = r.keywords
	}
	return kws
}

// redactWith applies rules, whose prefilter is kw, to text. See
// [DefaultRedactor].
func redactWith(rules []redactRule, kw *keywordMatcher, text string) string {
	if len(text) < 8 {
		return text
	}
	candidates := kw.match(text)
	for i := 0; candidates != 0; i++ {
		if candidates&(1<<i) == 0 {
			continue
		}
		candidates &^= 1 << i
		text = rules[i].apply(text)
	}
	return text
}

// apply replaces every accepted match of r in text.
func (r *redactRule) apply(text string) string {
	matches := r.re.FindAllStringSubmatchIndex(text, -1)
	if matches == nil {
		return text
	}
	var b strings.Builder
	last := 0 // text[:last] has been written
	for _, m := range matches {
		s, e := m[0], m[1]
		if len(m) >= 4 {
			s, e = m[2], m[3]
		}
		if s < 0 || !r.accept(text, s, e) {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(text))
		}
		b.WriteString(text[last:s])
		b.WriteString("«redacted:")
		b.WriteString(r.kind)
		b.WriteString("»")
		last = e
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// accept reports whether the candidate text[start:end] is a secret rather
// than part of something longer or a known non-secret.
func (r *redactRule) accept(text string, start, end int) bool {
	secret := text[start:end]
	if escaped(text, start) {
		// The first byte is the letter of a JSON escape such as \r in
		// "\rk_live_...": redacting it would leave a lone backslash.
		return false
	}
	if r.edge != nil {
		if start > 0 && r.edge(text[start-1]) && !afterEscape(text, start) {
			return false
		}
		if end < len(text) && r.edge(text[end]) {
			return false
		}
	}
	if r.minClasses > 0 && classes(secret) < r.minClasses {
		return false
	}
	if r.allow != nil && r.allow(secret) {
		return false
	}
	return true
}

// escaped reports whether text[i] is preceded by an odd number of
// backslashes, that is, whether it is the second byte of an escape.
func escaped(text string, i int) bool {
	n := 0
	for i > 0 && text[i-1] == '\\' {
		n++
		i--
	}
	return n%2 == 1
}

// afterEscape reports whether text[i-2:i] is a JSON or shell escape for
// a line break or tab (\n, \r, \t), which separates words even though its
// last byte is a letter.
func afterEscape(text string, i int) bool {
	if i < 2 {
		return false
	}
	switch text[i-1] {
	case 'n', 'r', 't':
		return escaped(text, i-1)
	}
	return false
}

// classes counts the character classes (lower, upper, digit) in s.
func classes(s string) int {
	var lower, upper, digit int
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			lower = 1
		case 'A' <= c && c <= 'Z':
			upper = 1
		case '0' <= c && c <= '9':
			digit = 1
		}
	}
	return lower + upper + digit
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isTokenByte reports the bytes API tokens are made of.
func isTokenByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// isAWSSecretByte reports the bytes AWS secret access keys are made of.
func isAWSSecretByte(c byte) bool { return isAlnum(c) || c == '+' || c == '/' }
