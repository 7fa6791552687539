package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

func init() {
	var limit int
	register(&command{
		name:    "sessions",
		summary: "list the store's sessions, most recently active first",
		help: `
Lists the sessions of the store, most recently active first: ID, first and
last activity, events, tool calls, whether pinned (exempt from retention),
and a preview of the first user message. With --json, one JSON array of
session summaries.

Example:
  runner sessions --limit 20
  runner --db ./agent.db sessions --json`,
		flags: func(fs *pflag.FlagSet) {
			fs.IntVarP(&limit, "limit", "n", 0, "list at most `N` sessions (0: all)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 0 {
				return usagef("sessions: unexpected argument %q", args[0])
			}
			if limit < 0 {
				return usagef("sessions: --limit %d: must not be negative", limit)
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			list, err := s.ListPastSessions(ctx, limit)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(list)
			}
			tw := a.table()
			fmt.Fprintln(tw, "SESSION\tFIRST\tLAST\tEVENTS\tTOOL CALLS\tPINNED\tFIRST MESSAGE")
			for _, p := range list {
				pinned := ""
				if p.Pinned {
					pinned = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p.ID,
					p.FirstSeen.UTC().Format(time.DateTime), p.LastSeen.UTC().Format(time.DateTime),
					p.Events, p.ToolCalls, pinned, preview(p.FirstUserMessage, 60))
			}
			return tw.Flush()
		},
	})
}

// preview cuts s to at most n runes on one line.
func preview(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}
