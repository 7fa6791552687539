package sandbox

import (
	"bytes"
	"testing"
)

// TestMemoryReuseIsZeroed: a buffer recycled from a finished run is
// zeroed wherever the next guest can see it, as it grows too.
func TestMemoryReuseIsZeroed(t *testing.T) {
	m := &cappedMemory{limit: 1 << 20}
	m.Allocate(64<<10, 0)
	b := m.Reallocate(64 << 10)
	b = m.Reallocate(256 << 10)
	for i := range b {
		b[i] = 0xa5
	}
	m.release()
	for range 4 { // the pool may hand out any buffer, or none
		n := &cappedMemory{limit: 1 << 20}
		n.Allocate(64<<10, 0)
		first := n.Reallocate(64 << 10)
		if !bytes.Equal(first, make([]byte, 64<<10)) {
			t.Fatal("initial memory not zeroed")
		}
		grown := n.Reallocate(512 << 10)
		if !bytes.Equal(grown, make([]byte, 512<<10)) {
			t.Fatal("grown memory not zeroed")
		}
		if n.Reallocate(2<<20) != nil || !n.refused {
			t.Fatal("grew past the limit")
		}
		for i := range grown {
			grown[i] = 0x5a
		}
		n.release()
	}
}
