package peers

import (
	"fmt"
	"io"
	"slices"
)

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Summary holds the medians of a run.
type Summary struct {
	Rate  map[[2]string]float64 // [peer, workload]: median ops/s
	Ratio map[[2]string]float64 // median of the per-round ratios peer/base
	CPU   map[[2]string]float64 // median CPU microseconds per op
}

// Summarize takes the medians over the rounds of results; ratios are to
// base, within each round.
func Summarize(results []Result, base string) Summary {
	rates := map[[2]string][]float64{}
	cpus := map[[2]string][]float64{}
	byRound := map[[3]string]float64{}
	for _, r := range results {
		k := [2]string{r.Peer, r.Workload}
		rates[k] = append(rates[k], r.Rate())
		cpus[k] = append(cpus[k], r.CPU/float64(r.Ops)*1e6)
		byRound[[3]string{r.Peer, r.Workload, fmt.Sprint(r.Round)}] = r.Rate()
	}
	ratios := map[[2]string][]float64{}
	for _, r := range results {
		if b, ok := byRound[[3]string{base, r.Workload, fmt.Sprint(r.Round)}]; ok && b > 0 {
			k := [2]string{r.Peer, r.Workload}
			ratios[k] = append(ratios[k], r.Rate()/b)
		}
	}
	s := Summary{Rate: map[[2]string]float64{}, Ratio: map[[2]string]float64{}, CPU: map[[2]string]float64{}}
	for k, v := range rates {
		s.Rate[k] = median(v)
		s.CPU[k] = median(cpus[k])
	}
	for k, v := range ratios {
		s.Ratio[k] = median(v)
	}
	return s
}

// WriteTable writes the Markdown tables of s: throughput with the ratio to
// base, and CPU time per operation; peers in the order given.
func WriteTable(w io.Writer, s Summary, peers []string, base string, cfg Config) {
	heads := map[string]string{
		Append1: "append, 1 caller (events/s)",
		AppendN: fmt.Sprintf("append, %d callers (events/s)", cfg.Callers),
		Session: fmt.Sprintf("session read, %d events (events/s)", cfg.PerSession),
		Point:   "point read (reads/s)",
	}
	fmt.Fprint(w, "| peer |")
	for _, wl := range Workloads {
		fmt.Fprintf(w, " %s |", heads[wl])
	}
	fmt.Fprint(w, "\n|---|")
	for range Workloads {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, p := range peers {
		fmt.Fprintf(w, "| %s |", p)
		for _, wl := range Workloads {
			fmt.Fprintf(w, " %.0f (%.2f×) |", s.Rate[[2]string{p, wl}], s.Ratio[[2]string{p, wl}])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nmedians of %d rounds; in parentheses the median of the per-round ratios to %s\n\n", cfg.Rounds, base)
	fmt.Fprint(w, "| peer | CPU µs per op:")
	for _, wl := range Workloads {
		fmt.Fprintf(w, " %s |", wl)
	}
	fmt.Fprint(w, "\n|---|")
	for range Workloads {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, p := range peers {
		fmt.Fprintf(w, "| %s |", p)
		for _, wl := range Workloads {
			fmt.Fprintf(w, " %.1f |", s.CPU[[2]string{p, wl}])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\n(user+system CPU time of the process that ran the peer, per event or read; the concurrent append counts every caller)")
}

// Target is one of the benchmark's targets: base's rate over peer's on
// workload at least Min.
type Target struct {
	Workload string
	Peer     string
	Min      float64
}

// Targets are the benchmark's targets against mattn/go-sqlite3.
var Targets = []Target{{AppendN, "mattn", 1}, {Append1, "mattn", 0.7}}

// WriteTargets says for each target whether base met it (median of the
// per-round ratios). It returns false when one was missed.
func WriteTargets(w io.Writer, s Summary, base string) bool {
	ok := true
	for _, t := range Targets {
		r, have := s.Ratio[[2]string{t.Peer, t.Workload}]
		if !have || r == 0 {
			fmt.Fprintf(w, "- %s: %s ≥ %.1f× %s: not measured (no %s in this run)\n", t.Workload, base, t.Min, t.Peer, t.Peer)
			continue
		}
		got := 1 / r
		verdict := "met"
		if got < t.Min {
			verdict, ok = "MISSED", false
		}
		fmt.Fprintf(w, "- %s: %s ≥ %.1f× %s: %.2f× (%.0f vs %.0f events/s): %s\n", t.Workload, base, t.Min, t.Peer, got,
			s.Rate[[2]string{base, t.Workload}], s.Rate[[2]string{t.Peer, t.Workload}], verdict)
	}
	return ok
}
