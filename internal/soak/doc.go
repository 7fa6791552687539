// Package soak holds the soak run of the store (make soak): several
// processes sharing one monthly-rollover directory for minutes, with an
// accelerated clock so that months roll over, while retention, ledger
// syncs, reconciliation and a tailing reader run beside the appenders.
// Each process reports its resident memory, Go heap, open files and
// goroutines every second while it works; the run checks that their trend
// after a warm-up stays flat, that the directory's size stays bounded by
// retention, and that every acknowledged write is readable at the end
// unless retention dropped it. A second short run injects a heap leak per
// operation and turns retention off, and requires the checks to catch
// both. The package has no library code: everything is in its tests. The
// short runs are part of go test; GOFASTR_SOAK_DURATION sets a longer
// one (TestSoak alone).
// See docs/RELIABILITY.md, section "Soak".
package soak
