package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/host"
)

func init() {
	var (
		payloadTTL, dropAfter string
		dryRun, noLedgerSync  bool
	)
	register(&command{
		name:    "retention apply",
		summary: "drop old payloads and delete old rows (or show what would go)",
		help: `
Applies retention to the store: --payload-ttl D drops the payloads of events
older than D (their rows stay, metadata only) along with tool arguments and
results as old; --drop-after D deletes events, tool calls and provider
attempts older than D. Give either or both; pinned sessions ("runner
retention pin") are exempt. Durations are Go durations plus days and weeks:
90m, 36h, 30d, 2w. The age is measured from now.

Dropped content leaves the files (secure delete, then the database is
rewritten), which takes time in proportion to the store; run it when the
store is quiet. Before deleting provider attempts their costs are synced
into the cost ledger (--ledger, created if missing), so that the ledger
keeps them; --no-ledger-sync skips that. Each step is one transaction:
interrupted (Ctrl-C), the store has either all of a step or none of it.

With --dry-run nothing is written: it prints, per session, how many
payloads would be dropped and how many events, tool calls and attempts
deleted (with --json, the plan as JSON).

Example:
  runner retention apply --payload-ttl 30d --drop-after 180d --dry-run
  runner retention apply --payload-ttl 30d --drop-after 180d`,
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&payloadTTL, "payload-ttl", "", "drop payloads of events older than `D`")
			fs.StringVar(&dropAfter, "drop-after", "", "delete events, tool calls and attempts older than `D`")
			fs.BoolVar(&dryRun, "dry-run", false, "show what would be removed, per session; write nothing")
			fs.BoolVar(&noLedgerSync, "no-ledger-sync", false, "do not sync attempts into the cost ledger before deleting them")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("retention apply: unexpected argument %q", args[0])
			}
			if payloadTTL == "" && dropAfter == "" {
				return usagef("retention apply: give --payload-ttl, --drop-after or both")
			}
			ttl, err := positiveDuration("--payload-ttl", payloadTTL)
			if err != nil {
				return err
			}
			age, err := positiveDuration("--drop-after", dropAfter)
			if err != nil {
				return err
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			plan, err := s.PlanRetention(ctx, ttl, age)
			if err != nil {
				return fmt.Errorf("retention apply: %w", err)
			}
			if dryRun {
				return a.printPlan(plan)
			}
			return a.applyRetention(ctx, s, plan, ttl, age, !noLedgerSync)
		},
	})
}

// positiveDuration parses the duration s of flag; "" is zero.
func positiveDuration(flag, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := parseDuration(flag, s)
	if err != nil {
		return 0, err
	}
	if d == 0 {
		return 0, usagef("%s %q: must be positive", flag, s)
	}
	return d, nil
}

func (a *app) printPlan(plan *host.RetentionPlan) error {
	if a.json {
		return a.printJSON(plan)
	}
	if !plan.PayloadCutoff.IsZero() {
		fmt.Fprintf(a.stdout, "payloads older than %s would be dropped\n", plan.PayloadCutoff.UTC().Format(time.DateTime+" UTC"))
	}
	if !plan.MetadataCutoff.IsZero() {
		fmt.Fprintf(a.stdout, "rows older than %s would be deleted\n", plan.MetadataCutoff.UTC().Format(time.DateTime+" UTC"))
	}
	if len(plan.Sessions) == 0 {
		fmt.Fprintln(a.stdout, "nothing to remove")
		return nil
	}
	tw := a.table()
	fmt.Fprintln(tw, "SESSION\tPAYLOADS\tEVENTS\tTOOL CALLS\tATTEMPTS")
	for _, sr := range plan.Sessions {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", sr.Session, sr.Payloads, sr.Events, sr.ToolCalls, sr.Attempts)
	}
	t := plan.Totals()
	fmt.Fprintf(tw, "TOTAL (%d sessions)\t%d\t%d\t%d\t%d\n", len(plan.Sessions), t.Payloads, t.Events, t.ToolCalls, t.Attempts)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "dry run: nothing was changed")
	return nil
}

func (a *app) applyRetention(ctx context.Context, s *host.Store, plan *host.RetentionPlan, ttl, age time.Duration, sync bool) error {
	result := struct {
		PayloadsDropped int64 `json:"payloads_dropped"`
		EventsDeleted   int64 `json:"events_deleted"`
		LedgerSynced    int   `json:"ledger_synced"`
	}{}
	if sync && plan.Totals().Attempts > 0 {
		l, err := a.openLedger(ctx, mayCreate)
		if err != nil {
			return fmt.Errorf("retention apply: the cost ledger (pass --no-ledger-sync to delete attempts without it): %w", err)
		}
		n, err := l.SyncAttempts(ctx, ledgerSource(s), s)
		cerr := l.Close()
		if err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("retention apply: syncing attempts into the cost ledger %s (nothing was deleted): %w", a.ledger, err)
		}
		result.LedgerSynced = n
		a.debugf("synced %d attempts into %s", n, a.ledger)
	}
	if ttl > 0 {
		err := a.waitSpinning(ctx, "dropping payloads", false, func() error {
			var err error
			result.PayloadsDropped, err = s.ApplyRetention(ctx, ttl)
			return err
		})
		if err != nil {
			return fmt.Errorf("retention apply: %w", err)
		}
	}
	if age > 0 {
		err := a.waitSpinning(ctx, "deleting rows", false, func() error {
			var err error
			result.EventsDeleted, err = s.DropMetadata(ctx, age, nil)
			return err
		})
		if err != nil {
			return fmt.Errorf("retention apply: %w", err)
		}
	}
	if a.json {
		return a.printJSON(result)
	}
	if ttl > 0 {
		fmt.Fprintf(a.stdout, "dropped the payloads of %d events\n", result.PayloadsDropped)
	}
	if age > 0 {
		fmt.Fprintf(a.stdout, "deleted %d events\n", result.EventsDeleted)
	}
	if result.LedgerSynced > 0 {
		fmt.Fprintf(a.stdout, "synced %d attempts into the cost ledger %s first\n", result.LedgerSynced, a.ledger)
	}
	return nil
}
