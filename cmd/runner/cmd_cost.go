package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

func init() {
	var by, since string
	register(&command{
		name:    "cost",
		summary: "report money spent, by provider or by session, from the cost ledger",
		help: `
Reports what was spent at model providers, by provider (the default) or by
session, from the cost ledger beside the store (--ledger; costs.db in the
store's directory by default). The ledger is the durable record of costs:
retention and deleted sessions never remove an entry from it.

First the store's provider attempts are synced into the ledger: attempts it
does not hold yet are recorded, each once, however often this runs (this
creates the ledger, encrypted when the store is, if it is missing). The
ledger knows the store by its ID, not its path: a store moved or restored
elsewhere is not counted again. The totals then cover every store that
records into this ledger. Amounts are
the local estimates, exact sums of integer nano-dollars printed as dollars
with nine decimals. Attempts nobody could price (an unknown model) count as
0; their number in this store is printed on stderr when there are any, as
the totals are then lower bounds.

--since limits the report to entries at or after a time: a duration before
now (36h, 7d, 2w) or a date (2026-11-01, midnight UTC, or RFC 3339). A
malformed --since or --by is a usage error (exit status 2). With --json,
one JSON object with the rows in nano-dollars.

Example:
  runner cost
  runner cost --by session --since 7d
  runner cost --since 2026-11-01 --json`,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&by, "by", "provider", "group costs by `provider` or session")
			fs.StringVar(&since, "since", "", "count only costs at or after `TIME` (a duration before now, or a date)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("cost: unexpected argument %q", args[0])
			}
			if by != "provider" && by != "session" {
				return usagef("cost: --by %q: want provider or session", by)
			}
			var from time.Time
			if since != "" {
				t, err := parseSince("--since", since, time.Now())
				if err != nil {
					return err
				}
				from = t
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			l, err := a.openLedger(ctx, mayCreate)
			if err != nil {
				return err
			}
			defer l.Close()
			synced, err := l.SyncAttempts(ctx, ledgerSource(s), s)
			if err != nil {
				if errors.Is(err, host.ErrAttemptConflict) {
					return fmt.Errorf("syncing attempts into %s: %w (the ledger holds other attempts under this store's ID, from a copy of this store that has since diverged; give another --ledger)", l.Path(), err)
				}
				return fmt.Errorf("syncing attempts into %s: %w", l.Path(), err)
			}
			a.debugf("synced %d new attempts into %s", synced, l.Path())
			var totals map[string]abi.NanoUSD
			if by == "provider" {
				totals, err = l.CostByProviderNanos(ctx, from)
			} else {
				totals, err = l.CostBySessionNanos(ctx, from)
			}
			if err != nil {
				return err
			}
			rep := costReport{By: by, Ledger: l.Path(), Synced: synced, Rows: []costRow{}}
			if !from.IsZero() {
				rep.Since = from.UTC()
			}
			for name, n := range totals {
				rep.Rows = append(rep.Rows, costRow{Name: name, Nanos: n, USD: fmtNanoUSD(n)})
				if (n > 0 && rep.TotalNanos > maxNanos-n) || (n < 0 && rep.TotalNanos < minNanos-n) {
					return fmt.Errorf("cost: %w", host.ErrCostOverflow)
				}
				rep.TotalNanos += n
			}
			rep.Total = fmtNanoUSD(rep.TotalNanos)
			// The ledger keeps amounts, not whether they were known: count
			// this store's attempts nobody could price.
			if err := eachAttempt(ctx, s, func(at abi.ProviderAttempt) bool {
				if at.Price != nil && at.Price.Unpriced() && !at.StartedAt.Before(from) {
					rep.Unpriced++
				}
				return ctx.Err() == nil
			}); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			slices.SortFunc(rep.Rows, func(x, y costRow) int {
				return cmp.Or(cmp.Compare(y.Nanos, x.Nanos), cmp.Compare(x.Name, y.Name))
			})
			if a.json {
				return a.printJSON(rep)
			}
			tw := a.table()
			head := "PROVIDER"
			if by == "session" {
				head = "SESSION"
			}
			fmt.Fprintf(tw, "%s\tCOST\n", head)
			for _, r := range rep.Rows {
				fmt.Fprintf(tw, "%s\t%s\n", r.Name, r.USD)
			}
			fmt.Fprintf(tw, "TOTAL\t%s\n", rep.Total)
			if err := tw.Flush(); err != nil {
				return err
			}
			if rep.Unpriced > 0 {
				what := fmt.Sprintf("%d attempts of this store had no known price and count", rep.Unpriced)
				if rep.Unpriced == 1 {
					what = "1 attempt of this store had no known price and counts"
				}
				a.infof("%s as $0: the totals are lower bounds", what)
			}
			return nil
		},
	})
}

const (
	maxNanos = abi.NanoUSD(1<<63 - 1)
	minNanos = -maxNanos - 1
)

// costReport is what the cost command prints with --json.
type costReport struct {
	By         string      `json:"by"`
	Since      time.Time   `json:"since,omitzero"`
	Ledger     string      `json:"ledger"`
	Synced     int         `json:"synced_attempts"`
	Rows       []costRow   `json:"rows"`
	TotalNanos abi.NanoUSD `json:"total_nanos"`
	Total      string      `json:"total_usd"`
	// Unpriced counts the store's attempts in the period that had no
	// known price (their cost counts as 0).
	Unpriced int `json:"unpriced_attempts"`
}

type costRow struct {
	Name  string      `json:"name"`
	Nanos abi.NanoUSD `json:"nanos"`
	USD   string      `json:"usd"`
}
