//go:build wasip1

// Command costaudit is an example guest: it recomputes the cost of every
// provider attempt of every session the run grants with the pricing table
// the run passes as its input (a genai-prices data.json, as package
// pricing loads), and prints the drift from the recorded estimates, in
// nano-dollars: per attempt, per session and in total. Drift is
// recomputed minus recorded (positive: the recording underestimated).
// Attempts the table cannot price, and attempts recorded as unpriced, are
// counted apart and left out of the sums.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/guest"
	"github.com/gofastr/store/pricing"
)

// sum is the audit of a set of attempts.
type sum struct {
	attempts, unpriced   int
	recorded, recomputed abi.NanoUSD
	drifted              int
}

func (s *sum) add(o sum) {
	s.attempts += o.attempts
	s.unpriced += o.unpriced
	s.recorded += o.recorded
	s.recomputed += o.recomputed
	s.drifted += o.drifted
}

func (s sum) String() string {
	return fmt.Sprintf("attempts %d, unpriced %d, recorded %d, recomputed %d, drift %+d nano-USD, %d attempts drifted",
		s.attempts, s.unpriced, s.recorded, s.recomputed, s.recomputed-s.recorded, s.drifted)
}

func main() {
	in, err := guest.Input()
	if err != nil || len(in) == 0 {
		fmt.Printf("no pricing table in the input (%v)\n", err)
		os.Exit(2)
	}
	table, err := pricing.Load(bytes.NewReader(in), "input", "")
	if err != nil {
		fmt.Printf("load the pricing table: %v\n", err)
		os.Exit(2)
	}
	sessions, err := guest.Sessions(0)
	if err != nil {
		fmt.Printf("list sessions: %v\n", err)
		os.Exit(2)
	}
	slices.SortFunc(sessions, func(a, b abi.PastSession) int { return strings.Compare(string(a.ID), string(b.ID)) })
	var total sum
	for _, s := range sessions {
		st, err := audit(table, s)
		if err != nil {
			fmt.Printf("session %s: %v\n", s.ID, err)
			os.Exit(2)
		}
		fmt.Printf("  total: %v\n", st)
		total.add(st)
	}
	fmt.Printf("all %d sessions: %v\n", len(sessions), total)
}

// audit prints the attempts of one session, turn by turn.
func audit(table *pricing.Table, s abi.PastSession) (sum, error) {
	var st sum
	fmt.Printf("session %s\n", s.ID)
	n := 0
	for turn := 0; turn <= s.LastTurn; turn++ {
		atts, err := guest.AttemptsForTurn(s.ID, turn)
		if err != nil {
			return st, fmt.Errorf("turn %d: %w", turn, err)
		}
		for _, a := range atts {
			n++
			st.attempts++
			recorded := abi.NanoUSD(math.Round(a.EstimatedUSD * 1e9))
			head := fmt.Sprintf("  turn %d attempt %d %s/%s %s", turn, n, a.Provider, a.Model, a.TerminatedReason)
			if a.Price.Unpriced() {
				st.unpriced++
				fmt.Printf("%s: recorded unpriced\n", head)
				continue
			}
			est, err := table.Estimate(a.Provider, a.Model, pricing.Usage{
				Input: int64(a.InputTokens), Output: int64(a.OutputTokens), CacheRead: int64(a.CacheReadTokens),
				CacheWrite5m: int64(a.CacheWriteTokens), CacheWrite1h: int64(a.CacheWrite1hTokens),
			}, a.StartedAt)
			if errors.Is(err, pricing.ErrUnpriced) {
				st.unpriced++
				fmt.Printf("%s: not in the table (recorded %d)\n", head, recorded)
				continue
			}
			if err != nil {
				return st, err
			}
			got := abi.NanoUSD(est.NanoUSD)
			st.recorded += recorded
			st.recomputed += got
			src := "no price snapshot"
			if a.Price != nil {
				src = a.Price.Source
			}
			mark := ""
			if got != recorded {
				st.drifted++
				mark = "  DRIFT"
			}
			fmt.Printf("%s: recorded %d, recomputed %d, drift %+d (recorded with %s)%s\n", head, recorded, got, got-recorded, src, mark)
		}
	}
	return st, nil
}
