package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

func init() {
	var turn int
	register(&command{
		name:    "attempts",
		args:    "SESSION",
		summary: "list a session's provider attempts, tokens and costs",
		help: `
Lists the HTTP attempts at model providers recorded for one turn of a
session (--turn), or for every turn of it: a retried request shows one row
per try, each with its own cost, so a turn's true cost is their sum. Prints,
in the order recorded: attempt ID, turn, provider, model, start time,
duration, how the attempt ended, the token counts (input, output, cache
reads, 5-minute and 1-hour cache writes) and the locally estimated cost in
exact dollars, "unpriced" when no price was known (a cost unknown, not
free), then the total. With --json, one JSON array of attempts.

An unknown session is an error (exit status 1); a turn without attempts is
not.

Example:
  runner attempts sess-1234 --turn 3
  runner attempts sess-1234 --json`,
		flags: func(fs *pflag.FlagSet) {
			fs.IntVarP(&turn, "turn", "t", -1, "list only the attempts of turn `N` (default: every turn)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usagef("attempts: want one SESSION argument, got %d", len(args))
			}
			if turn < -1 {
				return usagef("attempts: --turn %d: must not be negative", turn)
			}
			sess := args[0]
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := requireSession(ctx, s, abi.SessionID(sess)); err != nil {
				return err
			}
			list, err := sessionAttempts(ctx, s, sess, turn)
			if err != nil {
				return err
			}
			if a.json {
				if list == nil {
					list = []abi.ProviderAttempt{}
				}
				return a.printJSON(list)
			}
			tw := a.table()
			fmt.Fprintln(tw, "ID\tTURN\tPROVIDER\tMODEL\tSTARTED\tDURATION\tOUTCOME\tINPUT\tOUTPUT\tCACHE READ\tCACHE WRITE\tCACHE WRITE 1H\tCOST")
			var total abi.NanoUSD
			var tokens [5]int64
			unpriced := 0
			for _, at := range list {
				cost := "unpriced"
				if at.Price != nil && at.Price.Unpriced() {
					unpriced++
				} else {
					n := usdToNanos(at.EstimatedUSD)
					total += n
					cost = fmtNanoUSD(n)
				}
				for i, v := range []int{at.InputTokens, at.OutputTokens, at.CacheReadTokens, at.CacheWriteTokens, at.CacheWrite1hTokens} {
					tokens[i] += int64(v)
				}
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", at.ID, at.Turn, at.Provider, at.Model,
					at.StartedAt.UTC().Format(time.DateTime), at.EndedAt.Sub(at.StartedAt).Round(time.Millisecond),
					at.TerminatedReason, at.InputTokens, at.OutputTokens, at.CacheReadTokens,
					at.CacheWriteTokens, at.CacheWrite1hTokens, cost)
			}
			totalCost := fmtNanoUSD(total)
			if unpriced > 0 {
				totalCost += fmt.Sprintf(" + %d unpriced", unpriced)
			}
			fmt.Fprintf(tw, "TOTAL\t\t%d attempts\t\t\t\t\t%d\t%d\t%d\t%d\t%d\t%s\n", len(list),
				tokens[0], tokens[1], tokens[2], tokens[3], tokens[4], totalCost)
			return tw.Flush()
		},
	})
}

// sessionAttempts returns the attempts of one turn of sess, or of every
// turn when turn is -1, in ID order.
func sessionAttempts(ctx context.Context, s *host.Store, sess string, turn int) ([]abi.ProviderAttempt, error) {
	if turn >= 0 {
		return s.AttemptsForTurn(ctx, sess, turn)
	}
	var out []abi.ProviderAttempt
	err := eachAttempt(ctx, s, func(at abi.ProviderAttempt) bool {
		if at.Session == sess {
			out = append(out, at)
		}
		return ctx.Err() == nil
	})
	if err == nil {
		err = ctx.Err()
	}
	return out, err
}
