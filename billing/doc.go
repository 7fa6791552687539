// Package billing reads what LLM providers themselves say was spent, so that
// a harness can reconcile its own cost estimates against the provider's bill.
//
// # Reconciliation
//
// A harness estimates the cost of every provider attempt from token usage
// and a price table (package pricing) and records it in the Store. A
// reconciliation compares the sum of those estimates over a period with the
// amount the provider's billing or usage API reports for the same period:
// a large variance points at a wrong price, an unrecorded attempt (a crash
// between the request and its record, a retry the harness did not see) or
// use of the same account by something else.
//
// The sub-packages are the fetchers, one per provider: openrouter,
// anthropic, openai and zai. Each has Name (the provider name as recorded
// in provider attempts), FetchUsageUSD(ctx, start, end), the shape a
// reconciliation job takes, and FetchUsageNanos, the same amount as exact
// integer nano-dollars (1e-9 USD). Amounts are parsed from the response's
// decimal text and summed exactly; float64 appears only in FetchUsageUSD's
// result.
//
// # Limits
//
// A provider's answer is not an invoice line by line, and the comparison
// has limits that no fetcher can remove:
//
//   - Scope. The APIs report an organization or an account, not one
//     harness: anything else that uses the same account adds to the
//     upstream amount. Admin or management keys are needed; an ordinary
//     inference key gets ErrUnauthorized or ErrForbidden.
//   - Granularity. The APIs answer in buckets, mostly whole UTC days. A
//     period whose bounds are not on the bucket boundaries cannot be
//     answered exactly, and the fetchers refuse it with ErrUnsupported
//     instead of returning a share of a bucket. Reconcile whole UTC days:
//     every fetcher's Granularity returns Day, and host.Store.ReconcileNow
//     rounds its period to the whole days that end at or before now.
//   - Lag and retention. Usage appears minutes to hours after a request;
//     a day is complete only some time after it ends. Some APIs keep only
//     recent days (OpenRouter's activity: the last 30 completed UTC days).
//   - What is billed. Discounts, credits, taxes, per-tool fees and flat
//     subscriptions appear differently per provider or not at all; each
//     sub-package says what its amount includes. A provider without a
//     spending API (Z.ai's coding plans) returns ErrUnsupported from
//     FetchUsageUSD and offers what it does report (quotas, subscriptions).
//
// # Errors and secrets
//
// Every fetcher's errors match one of the sentinel errors of this package
// with errors.Is: ErrUnauthorized (HTTP 401), ErrForbidden (403),
// ErrRateLimited (429; errors.As to *RateLimitError gives the
// Retry-After), ErrUpstream (5xx), ErrRejected (another 4xx), ErrMalformed
// (a body that is not the documented JSON shape, or is too large),
// ErrCurrency (an amount not in US dollars) and ErrUnsupported (a period
// the API cannot answer); a constructor's errors match ErrConfig. A deadline of the caller's context or the HTTP
// client's timeout matches context.DeadlineExceeded.
//
// Client is the HTTP plumbing the fetchers share: base URL and
// *http.Client injectable (Option), a bounded retry on 429 (honouring
// Retry-After up to a cap) and 5xx, a response size limit. GetPages and
// Client.Paginate follow a report's pages up to a bound and refuse a
// cursor that repeats; Client.SumBuckets sums the amounts of the daily
// buckets of a period exactly, refusing a bucket that straddles its
// bounds and an amount not in US dollars. The API key is
// sent in a request header only, to the configured base URL only (a
// redirect is never followed: it is an error matching ErrRejected); it
// never appears in a URL, an error or a log, and text that an upstream
// error body echoes is scrubbed of it.
package billing
