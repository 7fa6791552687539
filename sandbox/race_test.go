//go:build race

package sandbox_test

// raceEnabled reports whether the race detector is on: compiling a Go
// guest then takes 10 to 20 s, so tests that compile one of their own
// skip (make test runs them without -race as well).
const raceEnabled = true
