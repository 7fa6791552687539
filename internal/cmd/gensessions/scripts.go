package main

import (
	"time"

	"github.com/gofastr/store/abi"
)

// script is one recorded session.
type script struct {
	session abi.SessionID
	start   time.Time
	play    func(r *recorder)
}

var scripts = []script{
	{"sess-refactor-retry", time.Date(2026, 10, 14, 8, 30, 0, 0, time.UTC), refactorRetry},
	{"sess-flaky-test-orphan", time.Date(2026, 10, 20, 14, 5, 0, 0, time.UTC), flakyTestOrphan},
	{"sess-changelog-audit", time.Date(2026, 10, 27, 10, 0, 0, 0, time.UTC), changelogAudit},
}

func nanos(n abi.NanoUSD) *abi.NanoUSD { return &n }

// sonnet is an Anthropic attempt at claude-sonnet-4-5 that ended well.
func sonnet(reqID string, in, out, cacheRead, cacheWrite, cacheWrite1h int) abi.ProviderAttempt {
	return abi.ProviderAttempt{Provider: "anthropic", Model: "claude-sonnet-4-5", RequestID: reqID, TerminatedReason: abi.AttemptComplete,
		InputTokens: in, OutputTokens: out, CacheReadTokens: cacheRead, CacheWriteTokens: cacheWrite, CacheWrite1hTokens: cacheWrite1h}
}

// gpt5 is an OpenAI attempt at gpt-5 that ended well.
func gpt5(reqID string, in, out, cacheRead int) abi.ProviderAttempt {
	return abi.ProviderAttempt{Provider: "openai", Model: "gpt-5", RequestID: reqID, TerminatedReason: abi.AttemptComplete,
		InputTokens: in, OutputTokens: out, CacheReadTokens: cacheRead}
}

// refactorRetry: a two-turn rename on Anthropic whose first request was
// refused with HTTP 529 (overloaded) and retried; the retry writes the
// system prompt to the 1-hour cache. Grep, three Edits in one step, Bash,
// every call answered.
func refactorRetry(r *recorder) {
	r.system("You are a coding agent working in /work/app, a Go module (example.com/app). Tools: Read, Edit, Bash, Grep. Prefer small, reviewable edits and run the tests you touch.")
	r.user("Rename ParseConfig to LoadConfig across the repo and make sure the tests still pass.", 40*time.Second)
	fail := sonnet("req_011CUa7Rk2xq9WcY3nM1pLdE", 0, 0, 0, 0, 0)
	fail.TerminatedReason = abi.AttemptHTTPError
	r.attempt(fail, 800*time.Millisecond)
	r.tick(2 * time.Second) // backoff
	r.attempt(sonnet("req_011CUa7Sx4Vb8Hq2Ze6TtPwN", 3180, 212, 0, 1840, 11250), 6200*time.Millisecond)
	r.assistant("I'll find every use of ParseConfig first.")
	r.call("toolu_01HvX3kq8Jd2", "Grep", `{"pattern":"ParseConfig","path":".","output_mode":"content","line_numbers":true}`)
	r.result("toolu_01HvX3kq8Jd2", abi.StatusOK, `{"matches":[`+
		`{"file":"config/config.go","line":42,"text":"func ParseConfig(path string) (*Config, error) {"},`+
		`{"file":"cmd/app/main.go","line":17,"text":"\tcfg, err := config.ParseConfig(*configPath)"},`+
		`{"file":"config/config_test.go","line":12,"text":"\tcfg, err := ParseConfig(\"testdata/good.yaml\")"}]}`, "", 180*time.Millisecond)
	r.attempt(sonnet("req_011CUa7UoB1nXf5Lq7Rc9KsA", 420, 388, 13090, 610, 0), 5100*time.Millisecond)
	r.assistant("Three call sites. Renaming the definition and both callers.")
	r.call("toolu_01Jw5RbN2mQe", "Edit", `{"file_path":"config/config.go","old_string":"func ParseConfig(path string) (*Config, error) {","new_string":"func LoadConfig(path string) (*Config, error) {"}`)
	r.call("toolu_01Kd8TcP4sVf", "Edit", `{"file_path":"cmd/app/main.go","old_string":"config.ParseConfig(*configPath)","new_string":"config.LoadConfig(*configPath)"}`)
	r.call("toolu_01LmA6wZ9yGh", "Edit", `{"file_path":"config/config_test.go","old_string":"ParseConfig(\"testdata/good.yaml\")","new_string":"LoadConfig(\"testdata/good.yaml\")"}`)
	r.result("toolu_01Jw5RbN2mQe", abi.StatusOK, `{"file_path":"config/config.go","replacements":1}`, "", 60*time.Millisecond)
	r.result("toolu_01Kd8TcP4sVf", abi.StatusOK, `{"file_path":"cmd/app/main.go","replacements":1}`, "", 40*time.Millisecond)
	r.result("toolu_01LmA6wZ9yGh", abi.StatusOK, `{"file_path":"config/config_test.go","replacements":1}`, "", 40*time.Millisecond)
	r.attempt(sonnet("req_011CUa7Wq3Ce7Yh9Sd2MuRtB", 350, 96, 13700, 540, 0), 3400*time.Millisecond)
	r.call("toolu_01NpC2xV7bKj", "Bash", `{"command":"go build ./... && go test ./config/... ./cmd/...","timeout_ms":120000}`)
	r.result("toolu_01NpC2xV7bKj", abi.StatusOK, `{"exit_code":0,"stdout":"ok  \texample.com/app/config\t0.412s\n?   \texample.com/app/cmd/app\t[no test files]\n","stderr":""}`, "", 9300*time.Millisecond)
	r.attempt(sonnet("req_011CUa7Yt6Dg2Zj4Ue8NvSwC", 280, 150, 14240, 0, 0), 3900*time.Millisecond)
	r.assistant("Renamed ParseConfig to LoadConfig in config/config.go, cmd/app/main.go and config/config_test.go. go build ./... succeeds and the config tests pass.")

	r.user("Also update the README where it mentions it.", 95*time.Second)
	r.attempt(sonnet("req_011CUa8Bv2Ek5Ak7Wf3PxTyD", 60, 120, 14600, 200, 0), 2800*time.Millisecond)
	r.call("toolu_01QrE4yX1dMl", "Grep", `{"pattern":"ParseConfig","path":"README.md","output_mode":"content","line_numbers":true}`)
	r.result("toolu_01QrE4yX1dMl", abi.StatusOK, `{"matches":[{"file":"README.md","line":31,"text":"Call `+"`config.ParseConfig`"+` with the path of your YAML file."}]}`, "", 90*time.Millisecond)
	r.attempt(sonnet("req_011CUa8Dx5Fm8Bm1Xg6QyUzE", 90, 140, 14800, 0, 0), 3000*time.Millisecond)
	r.call("toolu_01SsF6zA3fNn", "Edit", `{"file_path":"README.md","old_string":"config.ParseConfig","new_string":"config.LoadConfig"}`)
	r.result("toolu_01SsF6zA3fNn", abi.StatusOK, `{"file_path":"README.md","replacements":1}`, "", 30*time.Millisecond)
	r.attempt(sonnet("req_011CUa8Fz8Gp1Cn4Yh9RzVaF", 70, 45, 14990, 0, 0), 1900*time.Millisecond)
	r.assistant("README.md line 31 now says config.LoadConfig.")
}

// flakyTestOrphan: an OpenAI session whose first request's stream ended
// early (eof) and was retried; a failing Bash call (status error); then a
// race-detector run whose outcome was never recorded because the harness
// was killed (an orphaned call: intent and tool_call, no outcome, no
// tool_result), an error event, and a second turn that finishes the job.
func flakyTestOrphan(r *recorder) {
	r.system("sandbox: workspace-write; network: disabled; approval policy: on-request")
	r.user("TestCacheEviction fails about one run in five on CI. Find out why and fix it.", 25*time.Second)
	eof := gpt5("req_7f3a9c1e5b2d4a60", 2904, 35, 0)
	eof.TerminatedReason = abi.AttemptEOF
	r.attempt(eof, 2100*time.Millisecond)
	r.attempt(gpt5("req_8a4b0d2f6c3e5b71", 2904, 410, 0), 7400*time.Millisecond)
	r.assistant("I'll run the test many times to reproduce the failure.")
	r.call("call_Qk2WzR8nT4pL", "Bash", `{"command":["bash","-lc","go test -run TestCacheEviction -count=50 ./internal/cache/"],"workdir":"/work/svc","timeout_ms":60000}`)
	r.result("call_Qk2WzR8nT4pL", abi.StatusError, `{"exit_code":1,"stdout":"--- FAIL: TestCacheEviction (0.01s)\n    cache_test.go:88: Len() = 3, want 2\nFAIL\nFAIL\texample.com/svc/internal/cache\t0.731s\nFAIL\n","stderr":""}`, "exit status 1", 4100*time.Millisecond)
	r.attempt(gpt5("req_9b5c1e3a7d4f6c82", 612, 188, 2816), 4600*time.Millisecond)
	r.call("call_Vn7YhB3sK9dM", "Read", `{"path":"internal/cache/cache.go","offset":60,"limit":40}`)
	r.result("call_Vn7YhB3sK9dM", abi.StatusOK, `{"content":"func (c *Cache) Put(k string, v []byte) {\n\tc.mu.Lock()\n\tc.items[k] = entry{v: v, at: c.now()}\n\tc.mu.Unlock()\n\tgo c.evict()\n}\n\nfunc (c *Cache) evict() {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n\tfor len(c.items) > c.max {\n\t\tdelete(c.items, c.oldest())\n\t}\n}\n","lines":[60,73]}`, "", 20*time.Millisecond)
	r.attempt(gpt5("req_0c6d2f4b8e5a7d93", 845, 322, 3328), 6900*time.Millisecond)
	r.assistant("Put starts eviction in a goroutine, so the test can read Len before it runs. I'll confirm with the race detector.")
	r.call("call_Xp4JtC6vL2eN", "Bash", `{"command":["bash","-lc","go test -race -run TestCacheEviction -count=200 ./internal/cache/"],"workdir":"/work/svc","timeout_ms":600000}`)
	r.tick(47 * time.Second) // the harness was killed while the tool ran
	r.fail("harness restarted: the previous process exited while a tool call was running; its outcome is unknown")

	r.user("The harness crashed during the race run. Skip -race; make eviction synchronous and fix the test.", 70*time.Second)
	r.attempt(gpt5("req_1d7e3a5c9f6b8ea4", 1320, 540, 4096), 8800*time.Millisecond)
	r.call("call_Zr8LuD1wM5fP", "Edit", `{"path":"internal/cache/cache.go","old":"\tc.mu.Unlock()\n\tgo c.evict()\n}","new":"\tc.evictLocked()\n\tc.mu.Unlock()\n}"}`)
	r.result("call_Zr8LuD1wM5fP", abi.StatusOK, `{"path":"internal/cache/cache.go","applied":true}`, "", 30*time.Millisecond)
	r.call("call_Bt2NvF4yP8gR", "Edit", `{"path":"internal/cache/cache.go","old":"func (c *Cache) evict() {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n","new":"func (c *Cache) evictLocked() {\n"}`)
	r.result("call_Bt2NvF4yP8gR", abi.StatusOK, `{"path":"internal/cache/cache.go","applied":true}`, "", 30*time.Millisecond)
	r.attempt(gpt5("req_2e8f4b6d0a7c9fb5", 410, 96, 5376), 3100*time.Millisecond)
	r.call("call_Dv5PxG7aR1hS", "Bash", `{"command":["bash","-lc","go test -run TestCacheEviction -count=200 ./internal/cache/ && go vet ./internal/cache/"],"workdir":"/work/svc","timeout_ms":120000}`)
	r.result("call_Dv5PxG7aR1hS", abi.StatusOK, `{"exit_code":0,"stdout":"ok  \texample.com/svc/internal/cache\t2.914s\n","stderr":""}`, "", 6200*time.Millisecond)
	r.attempt(gpt5("req_3f9a5c7e1b8dab06", 380, 164, 5632), 3800*time.Millisecond)
	r.assistant("Eviction now runs under the lock inside Put (evictLocked), so Len is exact when Put returns; 200 runs of TestCacheEviction pass and go vet is clean.")
}

// changelogAudit: a pinned Anthropic session whose first attempt carries
// an estimate the harness made with its own rates (no cache-read discount),
// so a cost audit finds drift; an Edit that fails (old_string not found)
// and is redone; one attempt at a local model the price table does not
// know (an unpriced attempt).
func changelogAudit(r *recorder) {
	r.system("You are a release assistant for the gofastr/cli repository. Tools: Read, Edit, Bash.")
	r.user("Write the CHANGELOG entry for v1.4.0 from the commits since v1.3.2.", 30*time.Second)
	// 1200 input, 310 output, 9800 cache read, 0 writes at the harness's
	// built-in rates: 3 USD/Mtok input and cache read, 15 USD/Mtok output.
	stale := sonnet("req_011CUf2Aa9Hq4Dp6Zi1SaWbG", 1200, 310, 9800, 0, 0)
	stale.EstimatedUSD = 0.037650
	stale.Price = &abi.AttemptPrice{Source: "harness built-in rates 2026-03-01", Input: nanos(3e9), Output: nanos(15e9), CacheRead: nanos(3e9)}
	r.attempt(stale, 5600*time.Millisecond)
	r.call("toolu_01UuH8bC5hPp", "Bash", `{"command":"git log --oneline --no-merges v1.3.2..HEAD"}`)
	r.result("toolu_01UuH8bC5hPp", abi.StatusOK, `{"exit_code":0,"stdout":"9c1e2f4 export: --since accepts RFC 3339 dates\n7b3d5a8 fix: retry on 529 with jittered backoff\n4e6f8a1 feat: add --json to sessions list\n2a9c4b7 docs: document GOFASTR_KEK\n","stderr":""}`, "", 150*time.Millisecond)
	r.attempt(sonnet("req_011CUf2Cc2Jr7Fq9Aj4TbXcH", 520, 260, 11010, 480, 0), 4700*time.Millisecond)
	r.call("toolu_01WwJ1dE7jRr", "Read", `{"file_path":"CHANGELOG.md","limit":20}`)
	r.result("toolu_01WwJ1dE7jRr", abi.StatusOK, `{"content":"# Changelog\n\n## v1.3.2 — 2026-09-30\n\n- fix: sessions list no longer panics on an empty store\n"}`, "", 15*time.Millisecond)
	r.attempt(sonnet("req_011CUf2Ee5Ks1Hr2Bk7UcYdJ", 180, 420, 11490, 300, 0), 6100*time.Millisecond)
	r.call("toolu_01YyK4fG9lTt", "Edit", `{"file_path":"CHANGELOG.md","old_string":"## v1.3.2 - 2026-09-30","new_string":"## v1.4.0 — 2026-10-27\n\n- feat: add --json to sessions list\n- export: --since accepts RFC 3339 dates\n- fix: retry on 529 with jittered backoff\n- docs: document GOFASTR_KEK\n\n## v1.3.2 - 2026-09-30"}`)
	r.result("toolu_01YyK4fG9lTt", abi.StatusError, "", "old_string not found in CHANGELOG.md (the file uses an em dash)", 10*time.Millisecond)
	r.attempt(sonnet("req_011CUf2Gg8Lt4Js5Cl1VdZeK", 140, 400, 11790, 0, 0), 5800*time.Millisecond)
	r.call("toolu_01AaM7hJ2nVv", "Edit", `{"file_path":"CHANGELOG.md","old_string":"## v1.3.2 — 2026-09-30","new_string":"## v1.4.0 — 2026-10-27\n\n- feat: add --json to sessions list\n- export: --since accepts RFC 3339 dates\n- fix: retry on 529 with jittered backoff\n- docs: document GOFASTR_KEK\n\n## v1.3.2 — 2026-09-30"}`)
	r.result("toolu_01AaM7hJ2nVv", abi.StatusOK, `{"file_path":"CHANGELOG.md","replacements":1}`, "", 12*time.Millisecond)
	local := abi.ProviderAttempt{Provider: "ollama", Model: "qwen3-coder:30b", TerminatedReason: abi.AttemptComplete, InputTokens: 2210, OutputTokens: 64}
	r.attempt(local, 2400*time.Millisecond)
	r.attempt(sonnet("req_011CUf2Jj1Mv7Kt8Dm4WeAfL", 110, 130, 12190, 0, 0), 2600*time.Millisecond)
	r.assistant("Added the v1.4.0 entry (four changes, grouped as feat, export, fix, docs) above v1.3.2 in CHANGELOG.md. A local model checked the wording.")

	r.user("Thanks. Pin this session, I'll want it for the release notes.", 50*time.Second)
	r.attempt(sonnet("req_011CUf2Ll4Nw1Lu2En7XfBgM", 40, 18, 12500, 0, 0), 1100*time.Millisecond)
	r.assistant("Pinned.")
	r.pin()
}
