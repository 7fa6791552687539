package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/gofastr/store/abi"
)

func init() {
	var (
		gf      guestFlags
		session string
	)
	register(&command{
		name:    "replay",
		args:    "GUEST.wasm",
		summary: "replay a recorded session to an agent-loop guest and report the first divergence",
		help: `
Serves a recorded session to a guest as its environment, the way a
harness regression-tests its agent loop offline: the guest takes each
recorded user message, model step and tool result (guest.NextUser,
guest.Model, guest.Tool) and reports every event it would record
(guest.Emit), which the sandbox compares with the recording (kind, turn and
payload; IDs and times are ignored). The guest may read only that session
and write nothing.

It prints "no divergence" and the number of events that matched, or the
first divergence: its turn, its position among the session's events, what
differs, the recorded event and the one the guest emitted. The guest's
output goes to standard output, its log to standard error (unless -q).
With --json, the result (and divergence) as one JSON object.

Exit status: 0 when the guest reproduced the recording; 1 on a divergence
(a guest that stops early or emits more than was recorded diverges too),
when the guest fails, or for an unknown session; 2 for bad flags.

Example:
  GOOS=wasip1 GOARCH=wasm go build -o agentloop.wasm ./guest/examples/agentloop
  runner replay agentloop.wasm --session sess-refactor-retry`,
		flags: func(fs *pflag.FlagSet) {
			gf.register(fs)
			fs.StringVarP(&session, "session", "s", "", "the recorded session `S` to replay (required)")
		},
		run: func(ctx context.Context, a *app, args []string) error {
			if len(args) != 1 {
				return usagef("replay: want one GUEST.wasm argument, got %d", len(args))
			}
			if session == "" {
				return usagef("replay: --session is required")
			}
			s, err := a.openStore(ctx, mustExist, false)
			if err != nil {
				return err
			}
			defer s.Close()
			cfg, err := gf.runConfig("replay", s)
			if err != nil {
				return err
			}
			id := abi.SessionID(session)
			if err := checkSessions(ctx, s, []abi.SessionID{id}); err != nil {
				return err
			}
			return a.runGuest(ctx, args[0], cfg.WithSessions(id).WithReplay(id), true)
		},
	})
}
