package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gofastr/store/abi"
)

func init() {
	register(&command{
		name:    "orphans",
		args:    "[SESSION]",
		summary: "list tool calls whose outcome was never recorded",
		help: `
Lists the orphaned tool calls of one session, or of every session when none
is given: calls whose intent was recorded before the tool ran but whose
outcome never was, typically because the harness died while the tool was
running. A harness resolves them after a restart (runs them again, or asks).
Prints, oldest first: session, turn, call ID, tool, start time and a preview
of the arguments. With --json, one JSON array of tool intents. An unknown
SESSION is an error (exit status 1); no orphans is not.

Example:
  runner orphans
  runner orphans sess-1234 --json`,
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) > 1 {
				return usagef("orphans: unexpected argument %q", args[1])
			}
			var sess abi.SessionID
			if len(args) == 1 {
				sess = abi.SessionID(args[0])
				if sess == "" {
					return usagef("orphans: empty session ID")
				}
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			if sess != "" {
				if err := requireSession(ctx, s, sess); err != nil {
					return err
				}
			}
			list, err := s.OrphanIntents(ctx, sess)
			if err != nil {
				return err
			}
			if a.json {
				if list == nil {
					list = []abi.ToolIntent{}
				}
				return a.printJSON(list)
			}
			tw := a.table()
			fmt.Fprintln(tw, "SESSION\tTURN\tCALL ID\tTOOL\tSTARTED\tARGS")
			for _, in := range list {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", in.Session, in.Turn, in.CallID, in.Tool,
					in.StartedAt.UTC().Format(time.DateTime), preview(string(in.Args), 60))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			a.debugf("%d orphaned tool calls", len(list))
			return nil
		},
	})
}
