package proc

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// Seed returns the seed of tb's random choices: GOFASTR_TEST_SEED if set,
// else a fresh random one. It logs the seed, and again if tb fails, with
// the variable that replays it.
func Seed(tb testing.TB) uint64 {
	tb.Helper()
	var seed uint64
	if s := os.Getenv(EnvSeed); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			tb.Fatalf("%s=%q: want an unsigned integer", EnvSeed, s)
		}
	} else {
		var b [8]byte
		rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	tb.Logf("seed %d (replay with %s=%d)", seed, EnvSeed, seed)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("failed with seed %d: replay with %s=%d", seed, EnvSeed, seed)
		}
	})
	return seed
}

// Rand returns a generator seeded with Seed(tb). stream separates the
// sequences of tests that share a seed.
func Rand(tb testing.TB, stream uint64) *mrand.Rand {
	tb.Helper()
	return mrand.New(mrand.NewPCG(Seed(tb), stream))
}

// Rounds returns the number of rounds of a crash loop: GOFASTR_CRASH_ROUNDS
// if set, else short with -short, else n.
func Rounds(tb testing.TB, n, short int) int {
	tb.Helper()
	if v := os.Getenv(EnvRounds); v != "" {
		r, err := strconv.Atoi(v)
		if err != nil || r < 1 {
			tb.Fatalf("%s=%q: want a positive integer", EnvRounds, v)
		}
		return r
	}
	if testing.Short() {
		return short
	}
	return n
}

// Loop runs round for Rounds(t, n, short) rounds with a generator from
// Rand, stopping after the first round that fails t; the failure names
// the round. It returns the number of rounds run.
func Loop(t *testing.T, n, short int, round func(rng *mrand.Rand, i int)) int {
	t.Helper()
	rounds := Rounds(t, n, short)
	rng := Rand(t, 0)
	t.Logf("%d rounds (set %s to change)", rounds, EnvRounds)
	for i := range rounds {
		round(rng, i)
		if t.Failed() {
			t.Fatal(fmt.Sprintf("round %d of %d failed", i, rounds))
		}
	}
	return rounds
}
