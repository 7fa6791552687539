package host_test

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gofastr/store/host"
)

// maxBenignFalsePositives is the number of transcript lines the default
// redactor may change. The transcripts contain no API keys (the data
// README says so, and no rule even finds a raw candidate in them), and
// every rule demands a token shape nobody types by accident, so any change
// is a pattern bug to fix rather than noise to tolerate.
const maxBenignFalsePositives = 0

// Character sets of the synthetic secrets.
const (
	digits    = "0123456789"
	lowerHex  = "0123456789abcdef"
	alnum     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	urlSafe   = alnum + "-_"
	base64Std = alnum + "+/"
	base32AWS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b64token  = alnum + "-._~+/"
)

// secretGen builds synthetic secrets with the real shapes (prefixes,
// lengths, alphabets) from a fixed ChaCha8 stream, so the corpus is the
// same on every run and contains no real key.
type secretGen struct{ r *rand.Rand }

func newSecretGen(seed byte) secretGen {
	var s [32]byte
	copy(s[:], "gofastr store redaction corpus")
	s[31] = seed
	return secretGen{rand.New(rand.NewChaCha8(s))}
}

func (g secretGen) str(charset string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = charset[g.r.IntN(len(charset))]
	}
	return string(b)
}

func (g secretGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// jwt returns a signed-looking JWT: base64url header and claims, and a
// random signature of sigLen bytes.
func (g secretGen) jwt(claims string, sigLen int) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString(g.bytes(sigLen))
}

// pemBlock returns a PEM block of the given type around n random bytes,
// with line breaks nl.
func (g secretGen) pemBlock(typ string, n int, nl string) string {
	s := string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: g.bytes(n)}))
	s = strings.TrimSuffix(s, "\n")
	return strings.ReplaceAll(s, "\n", nl)
}

// secretCase is one secret and the texts in which it must be found.
type secretCase struct {
	name   string
	kind   string   // expected «redacted:kind»
	secret string   // must be entirely gone from the output
	texts  []string // inputs, each containing secret
}

// mustJSON returns the JSON encoding of v.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// tokenContexts places a self-describing token (one with a prefix of its
// own) in the places payloads carry it: prose, env and config files,
// quotes, and JSON strings where it follows an escape (\n, \t) or precedes
// an escaped quote, including JSON nested in a JSON string.
func tokenContexts(s string) []string {
	return []string{
		s,
		"token: " + s + "\n",
		"export API_TOKEN=" + s,
		`API_KEY="` + s + `"`,
		"use `" + s + "` here",
		"(" + s + ").",
		"'" + s + "';",
		"key=" + s + "&x=1",
		mustJSON(map[string]any{"role": "user", "content": "here it is:\n" + s + "\n\tthanks"}),
		mustJSON(map[string]any{"tool": "bash", "output": "line\t" + s + "\r\n"}),
		mustJSON(map[string]any{"cmd": `curl -H "X-Api-Key: ` + s + `" https://api.example.com`}),
		mustJSON(map[string]any{"result": mustJSON(map[string]any{"stdout": "KEY=" + s + "\n"})}),
		mustJSON([]string{s}),
	}
}

// contextContexts places a secret that is only recognisable by its name
// (an AWS secret access key) in the forms that name takes.
func awsSecretContexts(s string) []string {
	return []string{
		"aws_secret_access_key = " + s,
		"AWS_SECRET_ACCESS_KEY=" + s,
		`export AWS_SECRET_ACCESS_KEY="` + s + `"`,
		"aws_secret_access_key: " + s + "\n",
		"awsSecretAccessKey: '" + s + "'",
		mustJSON(map[string]any{"Credentials": map[string]any{"AccessKeyId": "ASIA", "SecretAccessKey": s}}),
		mustJSON(map[string]any{"output": "[default]\naws_secret_access_key = " + s + "\n"}),
		mustJSON(map[string]any{"output": mustJSON(map[string]any{"SecretAccessKey": s})}),
	}
}

func bearerContexts(s string) []string {
	return []string{
		"Authorization: Bearer " + s,
		"authorization: bearer " + s + "\r\n",
		"AUTHORIZATION: BEARER " + s,
		mustJSON(map[string]any{"headers": map[string]string{"Authorization": "Bearer " + s}}),
		mustJSON(map[string]any{"cmd": "curl -H 'Authorization: Bearer " + s + "' https://api.example.com/v1"}),
		mustJSON(map[string]any{"cmd": `curl -H "Authorization: Bearer ` + s + `" https://x`}),
		mustJSON(map[string]any{"log": mustJSON(map[string]any{"Authorization": "Bearer " + s})}),
	}
}

// pemContexts places a PEM block in raw text and in JSON strings, where
// its line breaks become \n (or \\n when nested).
func pemContexts(g secretGen, typ string) []secretCase {
	var cs []secretCase
	for _, nl := range []string{"\n", "\r\n"} {
		s := g.pemBlock(typ, 600, nl)
		cs = append(cs, secretCase{
			name: fmt.Sprintf("%s %q", typ, nl), kind: "private-key", secret: s,
			texts: []string{
				s,
				"cat key.pem\n" + s + "\n$ ",
				mustJSON(map[string]any{"content": "The key:\n" + s + "\nDone."}),
				mustJSON(map[string]any{"result": mustJSON(map[string]any{"file": s})}),
			},
		})
	}
	// A block cut off by head or a truncated tool output: no END line.
	s := g.pemBlock(typ, 600, "\n")
	cut := strings.Join(strings.Split(s, "\n")[:4], "\n")
	cs = append(cs, secretCase{
		name: typ + " truncated", kind: "private-key", secret: cut,
		texts: []string{
			cut + "\n",
			mustJSON(map[string]any{"stdout": "$ head -4 id\n" + cut + "\n"}),
		},
	})
	return cs
}

// secretCases is the recall corpus: every kind the default redactor
// covers, in realistic shapes and contexts.
func secretCases() []secretCase {
	g := newSecretGen(1)
	var cs []secretCase
	tok := func(name, kind, s string) {
		cs = append(cs, secretCase{name: name, kind: kind, secret: s, texts: tokenContexts(s)})
	}
	for _, p := range []string{"AKIA", "ASIA", "ABIA", "ACCA"} {
		tok("aws "+p, "aws-access-key", p+g.str(base32AWS, 16))
	}
	for i := range 3 {
		s := g.str(base64Std, 40)
		cs = append(cs, secretCase{name: fmt.Sprint("aws secret ", i), kind: "aws-secret-key", secret: s, texts: awsSecretContexts(s)})
	}
	for _, p := range []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"} {
		tok("github "+p, "github-token", p+g.str(alnum, 36))
	}
	tok("github fine-grained", "github-token", "github_pat_"+g.str(alnum, 22)+"_"+g.str(alnum, 59))
	for _, p := range []string{"proj", "svcacct", "admin"} {
		tok("openai sk-"+p, "openai-key", "sk-"+p+"-"+g.str(urlSafe, 74)+"T3BlbkFJ"+g.str(urlSafe, 74))
		tok("openai sk-"+p+" short", "openai-key", "sk-"+p+"-"+g.str(urlSafe, 58)+"T3BlbkFJ"+g.str(urlSafe, 58))
	}
	tok("openai legacy", "openai-key", "sk-"+g.str(alnum, 20)+"T3BlbkFJ"+g.str(alnum, 20))
	tok("openai-compatible hex", "openai-key", "sk-"+g.str(lowerHex, 32))
	for _, p := range []string{"api03", "admin01", "oat01", "ort01"} {
		tok("anthropic "+p, "anthropic-key", "sk-ant-"+p+"-"+g.str(urlSafe, 93)+"AA")
	}
	tok("openrouter", "openrouter-key", "sk-or-v1-"+g.str(lowerHex, 64))
	tok("google", "google-api-key", "AIza"+g.str(urlSafe, 35))
	tok("slack bot", "slack-token", "xoxb-"+g.str(digits, 12)+"-"+g.str(digits, 13)+"-"+g.str(alnum, 24))
	tok("slack user", "slack-token", "xoxp-"+g.str(digits, 12)+"-"+g.str(digits, 12)+"-"+g.str(digits, 13)+"-"+g.str(lowerHex, 32))
	tok("slack app", "slack-token", "xapp-1-A"+g.str("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10)+"-"+g.str(digits, 13)+"-"+g.str(lowerHex, 64))
	tok("slack webhook", "slack-webhook", "https://hooks.slack.com/services/T"+g.str(alnum, 10)+"/B"+g.str(alnum, 10)+"/"+g.str(alnum, 24))
	for _, p := range []string{"sk_live_", "rk_live_", "sk_test_"} {
		tok("stripe "+p, "stripe-key", p+g.str(alnum, 24))
	}
	tok("stripe long", "stripe-key", "sk_live_"+g.str(alnum, 99))
	tok("jwt", "jwt", g.jwt(`{"sub":"1234567890","name":"A User","iat":1516239022}`, 32))
	tok("jwt rs256", "jwt", g.jwt(`{"iss":"https://auth.example.com","aud":"api","exp":1900000000}`, 256))
	for _, s := range []string{g.str(b64token, 40), g.str(alnum, 24), g.str(alnum, 16) + "." + g.str(alnum, 16)} {
		cs = append(cs, secretCase{name: "bearer", kind: "bearer", secret: s, texts: bearerContexts(s)})
	}
	// A JWT bearer token is reported as a JWT: that rule runs first.
	s := g.jwt(`{"sub":"x","scope":"all"}`, 32)
	cs = append(cs, secretCase{name: "bearer jwt", kind: "jwt", secret: s, texts: bearerContexts(s)})
	for _, typ := range []string{"RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"} {
		cs = append(cs, pemContexts(g, typ)...)
	}
	return cs
}

// leftovers returns the 16-byte windows of secret (or all of it, if
// shorter) still present in out: any means the secret was not fully
// removed.
func leftovers(out, secret string) []string {
	const w = 16
	if len(secret) <= w {
		if strings.Contains(out, secret) {
			return []string{secret}
		}
		return nil
	}
	var left []string
	for i := 0; i+w <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+w]) {
			left = append(left, secret[i:i+w])
		}
	}
	return left
}

func TestDefaultRedactorRecall(t *testing.T) {
	var total, found int
	kinds := map[string]int{}
	for _, c := range secretCases() {
		for i, in := range c.texts {
			total++
			out := host.DefaultRedactor{}.Redact(in)
			marker := "«redacted:" + c.kind + "»"
			left := leftovers(out, c.secret)
			ok := len(left) == 0 && strings.Contains(out, marker)
			if ok {
				found++
				kinds[c.kind]++
			} else {
				t.Errorf("%s, context %d: not redacted as %s\n in: %q\nout: %q\nleft: %q", c.name, i, c.kind, in, out, left)
			}
			if json.Valid([]byte(in)) && !json.Valid([]byte(out)) {
				t.Errorf("%s, context %d: redaction broke JSON\n in: %s\nout: %s", c.name, i, in, out)
			}
		}
	}
	t.Logf("recall: %d/%d secrets in context (%.1f%%); by kind: %v", found, total, 100*float64(found)/float64(total), kinds)
}

// TestDefaultRedactorKinds pins the replacement of one secret of each
// kind, for the documentation.
func TestDefaultRedactorKinds(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range secretCases() {
		seen[c.kind] = true
	}
	want := []string{"aws-access-key", "aws-secret-key", "github-token", "openai-key", "anthropic-key",
		"openrouter-key", "google-api-key", "slack-token", "slack-webhook", "stripe-key", "jwt",
		"private-key", "bearer"}
	for _, k := range want {
		if !seen[k] {
			t.Errorf("no recall case for kind %s", k)
		}
	}
}

// benignCases are strings that look a little like secrets and must come
// out unchanged.
func benignCases() map[string]string {
	g := newSecretGen(2)
	std, url := base64.StdEncoding, base64.RawURLEncoding
	pub := g.pemBlock("PUBLIC KEY", 300, "\n")
	cert := g.pemBlock("CERTIFICATE", 900, "\n")
	return map[string]string{
		"uuid":            "session 123e4567-e89b-12d3-a456-426614174000 resumed",
		"uuid json":       mustJSON(map[string]string{"sessionId": "fa812bfe-b295-4cca-9c2f-fdf01028cb46"}),
		"git sha":         "commit " + g.str(lowerHex, 40) + " (HEAD -> main)",
		"sha256":          "sha256:" + g.str(lowerHex, 64),
		"sha512 sri":      `"integrity": "sha512-` + std.EncodeToString(g.bytes(64)) + `"`,
		"image base64":    mustJSON(map[string]any{"type": "image", "data": "data:image/png;base64," + std.EncodeToString(g.bytes(48<<10))}),
		"base64url blob":  url.EncodeToString(g.bytes(32 << 10)),
		"hex blob":        g.str(lowerHex, 8<<10),
		"ulid":            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
		"sk words":        "task-list desk-top risk-free ask-user disk-usage whisk-it sk-learn the sk- prefix",
		"sk identifiers":  "const skipTaskManagerForTheRemainingSessionWindows = 1; use sk-test-fixture",
		"aws docs key":    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
		"aws placeholder": "AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY}",
		"aws short":       "aws_secret_access_key = changeme",
		"github words":    "ghp_ tokens start with ghp_ and github_pat_ is fine-grained",
		"github short":    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxx",
		"stripe words":    "sk_live_ keys and sk_test_mode_enabled",
		"google short":    "AIzaSy is how Google API keys begin",
		"jwt header only": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9 is a JWT header",
		"slack words":     "set SLACK_TOKEN=xoxb-your-token-here or xoxb-123-abc",
		"bearer prose":    "Use Bearer authentication; the Bearer token goes in a header.",
		"bearer code":     `req.Header.Set("Authorization", "Bearer "+token)`,
		"bearer env":      "Authorization: Bearer ${OPENAI_API_KEY}",
		"bearer angle":    "Authorization: Bearer <YOUR_TOKEN>",
		"bearer upper":    "Authorization: Bearer YOUR_API_KEY_GOES_HERE",
		"bearer json":     mustJSON(map[string]any{"headers": map[string]string{"Authorization": "Bearer $TOKEN"}}),
		"public key":      pub,
		"certificate":     cert,
		"pem header code": `if strings.HasPrefix(s, "-----BEGIN RSA PRIVATE KEY-----\n") {`,
		"go code":         "func (s *Store) AppendEvent(ctx context.Context, env abi.EventEnvelope) error {\n\treturn s.append(ctx, env)\n}",
	}
}

func TestDefaultRedactorBenign(t *testing.T) {
	names := make([]string, 0)
	cases := benignCases()
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		in := cases[name]
		if out := (host.DefaultRedactor{}).Redact(in); out != in {
			t.Errorf("%s: benign text changed:\n in: %.300q\nout: %.300q", name, in, out)
		}
	}
}

// TestDefaultRedactorJSONEscapes checks that a match never consumes the
// letter of a JSON escape: "\rk_live_…" is a carriage return followed by
// "k_live_…", not a Stripe key.
func TestDefaultRedactorJSONEscapes(t *testing.T) {
	g := newSecretGen(3)
	for _, in := range []string{
		`{"a":"x\rk_live_` + g.str(alnum, 24) + `"}`,
		`{"a":"\\` + `\rk_live_` + g.str(alnum, 24) + `"}`,
	} {
		out := host.DefaultRedactor{}.Redact(in)
		if !json.Valid([]byte(out)) {
			t.Errorf("redaction broke JSON:\n in: %s\nout: %s", in, out)
		}
	}
}

func TestDefaultRedactorUnchangedIsSame(t *testing.T) {
	in := strings.Repeat("nothing to see here ", 100)
	if out := (host.DefaultRedactor{}).Redact(in); out != in {
		t.Fatalf("changed benign text")
	}
}

// benignReport is what a Redactor did to a benign corpus: every changed
// line is a false positive.
type benignReport struct {
	Files, Lines, Bytes int
	Changed             int            // lines changed: false positives
	ByKind              map[string]int // replacements by «redacted:KIND»
	Samples             []string       // excerpts of the first changes
}

var markerRe = regexp.MustCompile(`«redacted:[a-z0-9-]+»`)

// benignFalsePositives runs r over every line of every *.jsonl file under
// root and reports the lines it changed. It also fails tb if a valid JSON
// line comes out invalid. It skips tb when root is absent.
func benignFalsePositives(tb testing.TB, r host.Redactor, root string) benignReport {
	tb.Helper()
	rep := benignReport{ByKind: map[string]int{}}
	lines := host.ReadJSONL(tb, root)
	for _, f := range lines {
		rep.Files++
		for _, line := range f.Lines {
			rep.Lines++
			rep.Bytes += len(line)
			out := r.Redact(line)
			if out == line {
				continue
			}
			rep.Changed++
			if json.Valid([]byte(line)) && !json.Valid([]byte(out)) {
				tb.Errorf("%s: redaction broke JSON", f.Name)
			}
			for _, loc := range markerRe.FindAllStringIndex(out, -1) {
				rep.ByKind[out[loc[0]:loc[1]]]++
				if len(rep.Samples) < 20 {
					a, b := max(loc[0]-60, 0), min(loc[1]+20, len(out))
					rep.Samples = append(rep.Samples, fmt.Sprintf("%s: %q", f.Name, out[a:b]))
				}
			}
		}
	}
	return rep
}

func TestDefaultRedactorBenignTranscripts(t *testing.T) {
	rep := benignFalsePositives(t, host.DefaultRedactor{}, host.TranscriptsDir)
	t.Logf("benign corpus: %d files, %d lines, %.1f MB; %d lines changed (false positives) %v",
		rep.Files, rep.Lines, float64(rep.Bytes)/1e6, rep.Changed, rep.ByKind)
	for _, s := range rep.Samples {
		t.Logf("  %s", s)
	}
	if rep.Changed > maxBenignFalsePositives {
		t.Errorf("%d false positives on the benign corpus, want at most %d", rep.Changed, maxBenignFalsePositives)
	}
}

// TestDefaultRedactorPlantedInTranscripts plants secrets inside string
// values of real transcript lines (so they sit in real nesting, next to
// real escapes) and checks that each is removed and the line stays valid
// JSON.
func TestDefaultRedactorPlantedInTranscripts(t *testing.T) {
	files := host.ReadJSONL(t, host.TranscriptsDir)
	cases := secretCases()
	g := newSecretGen(4)
	var n, found int
	for _, f := range files {
		for i, line := range f.Lines {
			if i%7 != 0 { // a sample of every file keeps the test fast
				continue
			}
			var v any
			if json.Unmarshal([]byte(line), &v) != nil {
				continue
			}
			c := cases[n%len(cases)]
			planted := c.secret
			if c.kind == "aws-secret-key" || strings.HasPrefix(c.name, "bearer") {
				planted = c.texts[0] // recognisable only next to its name
			}
			if !plant(v, "\n"+planted+"\n", g) {
				continue
			}
			in := mustJSON(v)
			out := host.DefaultRedactor{}.Redact(in)
			n++
			if !json.Valid([]byte(out)) {
				t.Errorf("%s:%d: redaction broke JSON", f.Name, i+1)
			}
			if strings.Contains(out, "«redacted:"+c.kind+"»") && len(leftovers(out, c.secret)) == 0 {
				found++
			} else {
				t.Errorf("%s:%d: planted %s not redacted", f.Name, i+1, c.name)
			}
		}
	}
	t.Logf("planted secrets found: %d/%d", found, n)
}

// plant appends s to one string value of v (a decoded JSON object or
// array), chosen with g, and reports whether v has a string value.
func plant(v any, s string, g secretGen) bool {
	var sets []func()
	var walk func(x any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys) // deterministic choice
			for _, k := range keys {
				if str, ok := x[k].(string); ok {
					sets = append(sets, func() { x[k] = str + s })
				} else {
					walk(x[k])
				}
			}
		case []any:
			for i, e := range x {
				if str, ok := e.(string); ok {
					sets = append(sets, func() { x[i] = str + s })
				} else {
					walk(e)
				}
			}
		}
	}
	walk(v)
	if len(sets) == 0 {
		return false
	}
	sets[g.r.IntN(len(sets))]()
	return true
}

// FuzzDefaultRedactorJSON checks that valid JSON stays valid JSON.
func FuzzDefaultRedactorJSON(f *testing.F) {
	for _, c := range secretCases() {
		for _, in := range c.texts {
			if json.Valid([]byte(in)) {
				f.Add(in)
			}
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return
		}
		out := host.DefaultRedactor{}.Redact(in)
		if !json.Valid([]byte(out)) {
			t.Errorf("redaction broke JSON\n in: %q\nout: %q", in, out)
		}
	})
}

func BenchmarkRedact(b *testing.B) {
	r := host.DefaultRedactor{}
	b.Run("transcripts", func(b *testing.B) {
		var lines []string
		for _, f := range host.ReadJSONL(b, host.TranscriptsDir) {
			lines = append(lines, f.Lines...)
		}
		var n int
		for _, l := range lines {
			n += len(l)
		}
		b.SetBytes(int64(n))
		for b.Loop() {
			for _, l := range lines {
				r.Redact(l)
			}
		}
	})
	// A 4 KiB JSON payload with no keyword of any rule: the prefilter path.
	prose := mustJSON(map[string]any{"role": "assistant", "content": strings.Repeat(
		"The store appends each event to the log and returns when it is durable; "+
			"readers page through events in order.\n", 36)})
	b.Run("no-candidate", func(b *testing.B) {
		if r.Redact(prose) != prose {
			b.Fatal("payload changed")
		}
		b.SetBytes(int64(len(prose)))
		for b.Loop() {
			r.Redact(prose)
		}
	})
	// The same payload with three secrets in it: the regex path.
	g := newSecretGen(5)
	secrets := mustJSON(map[string]any{"role": "tool", "content": prose[:1500] +
		"\nexport GITHUB_TOKEN=ghp_" + g.str(alnum, 36) +
		"\nAuthorization: Bearer " + g.str(b64token, 40) + "\n" + prose[1500:] +
		"\nsk-ant-api03-" + g.str(urlSafe, 93) + "AA\n"})
	b.Run("with-secrets", func(b *testing.B) {
		b.SetBytes(int64(len(secrets)))
		for b.Loop() {
			r.Redact(secrets)
		}
	})
}

func ExampleDefaultRedactor() {
	payload := `{"cmd":"curl -H 'Authorization: Bearer Zm9vYmFyMTIzNDU2Nzg5MGFi' https://api.example.com"}`
	fmt.Println(host.DefaultRedactor{}.Redact(payload))
	// Output: {"cmd":"curl -H 'Authorization: Bearer «redacted:bearer»' https://api.example.com"}
}
