package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// errSessionNotFound is returned for a session the store holds no record of.
var errSessionNotFound = errors.New("unknown session")

// requireSession returns an error wrapping errSessionNotFound unless the
// store holds a record of sess: an event, a tool intent or outcome, or a
// provider attempt.
func requireSession(ctx context.Context, s *host.Store, sess abi.SessionID) error {
	if sess == "" {
		return usagef("empty session ID")
	}
	ok, err := sessionExists(ctx, s, sess)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w %q (\"runner sessions\" lists them)", errSessionNotFound, sess)
	}
	return nil
}

// sessionExists reports whether the store holds a record of sess. Events
// and tool calls are looked up by session; attempts, the rare session
// with nothing else, by one pass over the store's attempts.
func sessionExists(ctx context.Context, s *host.Store, sess abi.SessionID) (bool, error) {
	evs, err := s.EventsSince(ctx, sess, 0, 1)
	if err != nil || len(evs) > 0 {
		return len(evs) > 0, err
	}
	ins, err := s.ToolIntents(ctx, sess)
	if err != nil || len(ins) > 0 {
		return len(ins) > 0, err
	}
	outs, err := s.ToolOutcomes(ctx, sess)
	if err != nil || len(outs) > 0 {
		return len(outs) > 0, err
	}
	found := false
	err = eachAttempt(ctx, s, func(a abi.ProviderAttempt) bool {
		found = a.Session == string(sess)
		return !found
	})
	return found, err
}

// attemptPage is how many attempts eachAttempt reads per query.
const attemptPage = 1000

// eachAttempt calls f with every attempt of the store in ID order until f
// returns false.
func eachAttempt(ctx context.Context, s *host.Store, f func(abi.ProviderAttempt) bool) error {
	var after int64
	for {
		page, err := s.AttemptsSince(ctx, after, attemptPage)
		if err != nil {
			return err
		}
		for _, a := range page {
			if !f(a) {
				return nil
			}
			after = a.ID
		}
		if len(page) < attemptPage {
			return nil
		}
	}
}
