// Package soak holds the soak run of the store (make soak): several
// processes sharing one monthly-rollover directory for minutes, with an
// accelerated clock so that months roll over, while retention, ledger
// syncs, reconciliation and a tailing reader run beside the appenders.
// Each process reports its resident memory, Go heap, open files and
// goroutines after a warm-up and at the end; the run checks that they stay
// flat, that the directory's size stays bounded by retention, and that
// every acknowledged write is readable at the end unless retention
// dropped it. The package has no library code: everything is in its tests.
// A short run is part of go test; GOFASTR_SOAK_DURATION sets a longer one.
// See docs/RELIABILITY.md, section "Soak".
package soak
