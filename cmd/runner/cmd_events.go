package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/jsonl"
)

// eventPage is how many events the events command reads per query.
const eventPage = 1000

func init() {
	var since uint64
	var limit int
	register(&command{
		name:    "events",
		args:    "SESSION",
		summary: "print a session's events as JSONL",
		help: `
Prints the events of one session, oldest first, in the store's JSONL
interchange form (see docs/JSONL.md): a header line, then one line per
event, {"type":"event","event":{...}}, with the event's store ID, session,
turn, kind, time (UTC) and payload as JSON. An event whose payload was
dropped by retention has no "payload" field. The output is a file
"runner import" reads; for a whole session with its tool calls, attempts
and pin, use "runner export --session".

--since N prints only the events with an ID greater than N, so passing the
last ID printed pages through a session or tails it. An unknown session is
an error (exit status 1).

Example:
  runner events sess-1234 --limit 20
  runner events sess-1234 --since 120 | jq -c 'select(.type == "event") | .event.kind'`,
		flags: func(fs *pflag.FlagSet) {
			fs.Uint64Var(&since, "since", 0, "print only events with an ID greater than `N`")
			fs.IntVarP(&limit, "limit", "n", 0, "print at most `N` events (0: all)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usagef("events: want one SESSION argument, got %d", len(args))
			}
			if limit < 0 {
				return usagef("events: --limit %d: must not be negative", limit)
			}
			sess := abi.SessionID(args[0])
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := requireSession(ctx, s, sess); err != nil {
				return err
			}
			w := jsonl.NewWriter(a.stdout)
			after, n := since, 0
			for limit == 0 || n < limit {
				page := eventPage
				if limit > 0 {
					page = min(page, limit-n)
				}
				evs, err := s.EventsSince(ctx, sess, after, page)
				if err != nil {
					return err
				}
				for i := range evs {
					if err := w.Write(jsonl.Record{Type: jsonl.TypeEvent, Event: &evs[i]}); err != nil {
						return err
					}
					after = evs[i].ID
				}
				n += len(evs)
				if len(evs) < page {
					break
				}
			}
			return w.Flush()
		},
	})
}
