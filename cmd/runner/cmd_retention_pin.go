package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// knownSessions checks that every ID names a session of the store: one
// with events, or one pinned.
func knownSessions(ctx context.Context, s *host.Store, ids []abi.SessionID) (pinned map[abi.SessionID]bool, err error) {
	list, err := s.Pinned(ctx)
	if err != nil {
		return nil, err
	}
	pinned = map[abi.SessionID]bool{}
	for _, p := range list {
		pinned[p] = true
	}
	for _, id := range ids {
		if pinned[id] {
			continue
		}
		evs, err := s.EventsSince(ctx, id, 0, 1)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			return nil, fmt.Errorf("%w %q: the store has no events of it (\"runner sessions\" lists them); nothing was changed", errSessionNotFound, id)
		}
	}
	return pinned, nil
}

func init() {
	for _, pin := range []bool{true, false} {
		name, verb := "retention pin", "pin"
		summary := "exempt sessions from retention"
		help := `
Pins sessions: retention ("runner retention apply", and a harness's own
retention) neither drops their payloads nor deletes their rows until they are
unpinned. Pinning is persistent; pinning a pinned session changes nothing.
Every SESSION must be a session of the store (one with events): an unknown
one is an error (exit status 1) and nothing is pinned.

Example:
  runner retention pin sess-2026-11-03-incident`
		if !pin {
			name, verb = "retention unpin", "unpin"
			summary = "make pinned sessions subject to retention again"
			help = `
Removes the pins of sessions, so that retention applies to them again.
Every SESSION must be a session of the store (with events, or pinned): an
unknown one is an error (exit status 1) and nothing is unpinned. Unpinning a
session that is not pinned changes nothing.

Example:
  runner retention unpin sess-2026-11-03-incident`
		}
		register(&command{
			name:    name,
			args:    "SESSION...",
			summary: summary,
			help:    help,
			run: func(ctx context.Context, a *app, args []string) error {
				if len(args) == 0 {
					return usagef("%s: give one or more sessions", name)
				}
				ids := make([]abi.SessionID, len(args))
				for i, arg := range args {
					if arg == "" {
						return usagef("%s: empty session ID", name)
					}
					ids[i] = abi.SessionID(arg)
				}
				s, err := a.openStore(ctx, mustExist, false)
				if err != nil {
					return err
				}
				defer s.Close()
				pinned, err := knownSessions(ctx, s, ids)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				type change struct {
					Session abi.SessionID `json:"session"`
					Pinned  bool          `json:"pinned"`
					Changed bool          `json:"changed"`
				}
				var out []change
				for _, id := range ids {
					if slices.ContainsFunc(out, func(c change) bool { return c.Session == id }) {
						continue
					}
					c := change{Session: id, Pinned: pin, Changed: pinned[id] != pin}
					if c.Changed {
						if pin {
							err = s.Pin(ctx, id)
						} else {
							err = s.Unpin(ctx, id)
						}
						if err != nil {
							return fmt.Errorf("%s %s: %w", name, id, err)
						}
					}
					out = append(out, c)
				}
				if a.json {
					return a.printJSON(out)
				}
				for _, c := range out {
					switch {
					case c.Changed:
						fmt.Fprintf(a.stdout, "%sned %s\n", verb, c.Session)
					case pin:
						fmt.Fprintf(a.stdout, "%s was already pinned\n", c.Session)
					default:
						fmt.Fprintf(a.stdout, "%s was not pinned\n", c.Session)
					}
				}
				return nil
			},
		})
	}
}
