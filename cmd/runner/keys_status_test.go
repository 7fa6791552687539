package main

import (
	"fmt"
	"testing"
)

func TestParseMeta(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "map[]"},
		{"kek=machine", "map[kek:machine]"},
		{"kek=file:/a b/k x=y", "map[kek:file:/a b/k x=y]"},
		{"created=2026-11-30T10:00:00Z rewrapped=2026-11-30T11:00:00Z kek=env:K", "map[created:2026-11-30T10:00:00Z kek:env:K rewrapped:2026-11-30T11:00:00Z]"},
		{"written by hand", "map[meta:written by hand]"},
		{"created=x Kek=y", "map[meta:created=x Kek=y]"},
	} {
		if got := fmt.Sprint(parseMeta(tc.in)); got != tc.want {
			t.Errorf("parseMeta(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
