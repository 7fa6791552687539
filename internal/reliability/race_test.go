//go:build race

package reliability_test

// race is true when the tests run with the race detector: the fault
// loops then run a smaller sample.
const race = true
