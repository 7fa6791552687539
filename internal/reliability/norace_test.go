//go:build !race

package reliability_test

const race = false
