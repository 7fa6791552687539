package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/billing"
	"github.com/gofastr/store/billing/anthropic"
	"github.com/gofastr/store/billing/openai"
	"github.com/gofastr/store/billing/openrouter"
	"github.com/gofastr/store/billing/zai"
	"github.com/gofastr/store/host"
)

// billingProvider is a provider whose billing API reconcile can ask.
type billingProvider struct {
	// env is the environment variable holding the API key.
	env string
	// what describes the key.
	what string
	// fetcher returns the provider's fetcher.
	fetcher func(key string, opts ...billing.Option) (host.UpstreamUsageFetcher, error)
}

var billingProviders = map[string]billingProvider{
	anthropic.Name: {"ANTHROPIC_ADMIN_KEY", "an Admin API key (sk-ant-admin…)", func(k string, o ...billing.Option) (host.UpstreamUsageFetcher, error) {
		return anthropic.New(k, o...)
	}},
	openai.Name: {"OPENAI_ADMIN_KEY", "an organization admin key", func(k string, o ...billing.Option) (host.UpstreamUsageFetcher, error) {
		return openai.New(k, o...)
	}},
	openrouter.Name: {"OPENROUTER_MANAGEMENT_KEY", "a management (provisioning) key", func(k string, o ...billing.Option) (host.UpstreamUsageFetcher, error) {
		return openrouter.New(k, o...)
	}},
	zai.Name: {"ZAI_API_KEY", "an API key", func(k string, o ...billing.Option) (host.UpstreamUsageFetcher, error) {
		return zai.New(k, o...)
	}},
}

func providerNames() string {
	var names []string
	for n := range billingProviders {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// reconcileOut is a saved reconciliation as printed.
type reconcileOut struct {
	ID            int64     `json:"id"`
	Provider      string    `json:"provider"`
	PeriodStart   time.Time `json:"period_start"`
	PeriodEnd     time.Time `json:"period_end"`
	UpstreamNanos int64     `json:"upstream_nanos"`
	LocalNanos    int64     `json:"local_nanos"`
	VarianceNanos int64     `json:"variance_nanos"`
	LocalUnpriced int       `json:"local_unpriced"`
	RanAt         time.Time `json:"ran_at"`
}

func newReconcileOut(id int64, r host.Reconciliation) reconcileOut {
	return reconcileOut{
		ID: id, Provider: r.Provider, PeriodStart: r.PeriodStart.UTC(), PeriodEnd: r.PeriodEnd.UTC(),
		UpstreamNanos: int64(r.UpstreamNanos), LocalNanos: int64(r.LocalNanos), VarianceNanos: int64(r.VarianceNanos),
		LocalUnpriced: r.LocalUnpriced, RanAt: r.RanAt.UTC(),
	}
}

// printReconciliations prints saved reconciliations as a table.
func (a *app) printReconciliations(rs []reconcileOut) error {
	tw := a.table()
	fmt.Fprintln(tw, "PROVIDER\tPERIOD (UTC)\tBILLED\tESTIMATED\tVARIANCE\tUNPRICED")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s .. %s\t%s\t%s\t%s\t%d\n", r.Provider,
			r.PeriodStart.Format(time.DateOnly), r.PeriodEnd.Format(time.DateOnly),
			fmtUSD(r.UpstreamNanos), fmtUSD(r.LocalNanos), signedUSD(r.VarianceNanos), r.LocalUnpriced)
	}
	return tw.Flush()
}

// signedUSD is fmtUSD with a "+" on positive amounts.
func signedUSD(n int64) string {
	if n > 0 {
		return "+" + fmtUSD(n)
	}
	return fmtUSD(n)
}

func init() {
	var (
		provider, period, end, baseURL string
	)
	register(&command{
		name:    "reconcile",
		summary: "compare the store's cost estimates with what a provider billed, and save the result",
		help: `
Asks a provider's billing API what the account spent over a period of whole
UTC days, compares it with the store's estimates for the attempts at that
provider that started in the period, saves the result in the store (kept by
retention; "runner status" shows the latest) and prints it: billed,
estimated, variance (billed minus estimated: positive when the provider
billed more than the store recorded) and the number of attempts nobody
priced (when above zero, the estimate is a lower bound).

The period is the whole UTC days that end at or before --end (default:
today 00:00 UTC, so yesterday and earlier) and cover --period (default 1d).

The key is read from the environment, never from the command line:

  anthropic    ANTHROPIC_ADMIN_KEY        Admin API key (cost report)
  openai       OPENAI_ADMIN_KEY           organization admin key (costs API)
  openrouter   OPENROUTER_MANAGEMENT_KEY  management key (activity, last 30 days)
  zai          ZAI_API_KEY                Z.ai publishes no spending API: always an error

The amounts cover the whole organization or account, not only this store:
usage by anything else on the same account shows as a positive variance.
A failed request (wrong key, rate limit, a period the API cannot answer)
saves nothing and exits 1.

Example:
  ANTHROPIC_ADMIN_KEY=sk-ant-admin01-… runner reconcile --provider anthropic --period 7d
  runner reconcile --provider openai --end 2026-11-01 --period 31d --json`,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&provider, "provider", "", "the provider `NAME`: "+providerNames()+" (required)")
			fs.StringVar(&period, "period", "1d", "the length `D` of the period, rounded up to whole UTC days (1d, 7d, 30d)")
			fs.StringVar(&end, "end", "", "end the period at the UTC midnight starting `DATE` (2026-11-01; default: today)")
			fs.StringVar(&baseURL, "base-url", "", "the billing API's base `URL` (for tests)")
			_ = fs.MarkHidden("base-url")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("reconcile: unexpected argument %q", args[0])
			}
			if provider == "" {
				return usagef("reconcile: --provider is required (one of: %s)", providerNames())
			}
			bp, ok := billingProviders[provider]
			if !ok {
				return usagef("reconcile: --provider %q: unknown (one of: %s)", provider, providerNames())
			}
			d, err := parseDuration("--period", period)
			if err != nil {
				return err
			}
			if d <= 0 {
				return usagef("reconcile: --period %s: must be positive", period)
			}
			now := time.Now().UTC()
			endDay := billing.UTCDay(now)
			if end != "" {
				t, err := time.Parse(time.DateOnly, end)
				if err != nil {
					return usagef("reconcile: --end %q: not a date (2026-11-01)", end)
				}
				endDay = t
			}
			days := (d + billing.Day - 1) / billing.Day
			startDay := endDay.Add(-days * billing.Day)

			key := a.getenv(bp.env)
			if key == "" {
				return fmt.Errorf("reconcile: %s is not set: it must hold %s of %s", bp.env, bp.what, provider)
			}
			var opts []billing.Option
			if baseURL != "" {
				opts = append(opts, billing.WithBaseURL(baseURL), billing.WithRetries(0))
			}
			f, err := bp.fetcher(key, opts...)
			if err != nil {
				return fmt.Errorf("reconcile: %w", err)
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			r, err := host.Reconcile(ctx, s, f, startDay, endDay, now)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				hint := ""
				if errors.Is(err, billing.ErrUnauthorized) || errors.Is(err, billing.ErrForbidden) {
					hint = fmt.Sprintf("; %s must hold %s", bp.env, bp.what)
				}
				return fmt.Errorf("%w (period %s .. %s; nothing saved%s)", err,
					startDay.Format(time.DateOnly), endDay.Format(time.DateOnly), hint)
			}
			id, err := s.SaveReconciliation(ctx, r)
			if err != nil {
				return err
			}
			out := newReconcileOut(id, r)
			if a.json {
				return a.printJSON(out)
			}
			return a.printReconciliations([]reconcileOut{out})
		},
	})
}
