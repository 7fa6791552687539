// Package scale holds the scale run of the store (make scale): a
// generated host.MonthlyRollover directory of many events across twelve
// monthly files, measured at three sizes (a tenth, three tenths and all of
// the events) for file sizes, open time in a fresh process, EventsSince
// and ListPastSessions latencies and retention time, and how each grows
// with the size. The package has no library code: everything is in its
// tests. A small run (a few thousand events) is part of go test; the full
// run reads GOFASTR_SCALE_EVENTS and caches the generated stores under the
// temporary directory. See docs/BENCHMARKS.md, section "Scale".
package scale
