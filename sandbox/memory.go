package sandbox

import (
	"io"
	"sync"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/gofastr/store/abi"
)

// inBounds reports whether [ptr, ptr+n) lies inside mem. An empty range
// is always in bounds: nothing is read or written through it.
func inBounds(mem api.Memory, ptr, n uint32) bool {
	if n == 0 {
		return true
	}
	return mem != nil && uint64(ptr)+uint64(n) <= uint64(mem.Size())
}

// readRequest copies the request [ptr, ptr+n) out of the guest's memory.
// The copy is taken before the host does anything else, so nothing the
// host keeps points into guest memory.
func readRequest(mem api.Memory, ptr, n uint32) ([]byte, abi.Errno, string) {
	if n == 0 {
		return nil, abi.ErrnoOK, ""
	}
	if n > abi.MaxRequest {
		return nil, abi.ErrnoTooBig, "request over the limit of 4 MiB"
	}
	if !inBounds(mem, ptr, n) {
		return nil, abi.ErrnoFault, "request outside guest memory"
	}
	view, ok := mem.Read(ptr, n)
	if !ok {
		return nil, abi.ErrnoFault, "request outside guest memory"
	}
	return append([]byte(nil), view...), abi.ErrnoOK, ""
}

// failure writes msg, cut to outCap bytes at a rune boundary, to the
// guest's buffer and returns the result for errno. An out-of-bounds
// buffer gets nothing and ErrnoFault.
func failure(mem api.Memory, outPtr, outCap uint32, errno abi.Errno, msg string) uint64 {
	if !inBounds(mem, outPtr, outCap) {
		return abi.Result(abi.ErrnoFault, 0)
	}
	if len(msg) > int(outCap) {
		msg = msg[:outCap]
		for len(msg) > 0 && !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	if msg != "" && !mem.WriteString(outPtr, msg) {
		return abi.Result(abi.ErrnoFault, 0)
	}
	return abi.Result(errno, uint32(len(msg)))
}

// cappedMemory backs a guest's linear memory and refuses to grow it past
// limit bytes; a run's memory cap is enforced through it (wazero caps
// memory per runtime only). Its buffer comes from, and returns to,
// memoryPool: every byte is zeroed before the guest can see it.
type cappedMemory struct {
	limit   uint64
	buf     []byte
	refused bool
}

// memoryPool keeps the buffers of finished runs for the next ones, which
// saves allocating, zeroing and copying a guest's memory as it grows.
var memoryPool sync.Pool

// maxPooled is the largest buffer kept in memoryPool.
const maxPooled = 32 << 20

// Allocate implements experimental.MemoryAllocator.
func (m *cappedMemory) Allocate(capacity, _ uint64) experimental.LinearMemory {
	if b, ok := memoryPool.Get().(*[]byte); ok {
		m.buf = (*b)[:0]
	} else {
		m.buf = make([]byte, 0, min(capacity, m.limit))
	}
	return m
}

// Reallocate implements experimental.LinearMemory. It returns nil, which
// makes the guest's memory.grow fail, past the limit. The first
// allocation (the module's initial memory) never fails: Run checked it
// against the limit beforehand when the module exports its memory.
func (m *cappedMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.refused = true
		if len(m.buf) != 0 {
			return nil
		}
	}
	if size <= uint64(cap(m.buf)) {
		clear(m.buf[len(m.buf):size])
		m.buf = m.buf[:size]
		return m.buf
	}
	c := max(size, min(2*uint64(cap(m.buf)), m.limit))
	b := make([]byte, size, c)
	copy(b, m.buf)
	m.buf = b
	return b
}

// Free implements experimental.LinearMemory. It does nothing: wazero may
// call it while the guest is still being stopped on another goroutine, so
// the buffer is recycled by release, once the run has returned.
func (m *cappedMemory) Free() {}

// release returns the buffer to memoryPool. The guest must have stopped:
// call it only after InstantiateModule returned.
func (m *cappedMemory) release() {
	if m.buf != nil && cap(m.buf) <= maxPooled {
		b := m.buf[:0]
		memoryPool.Put(&b)
	}
	m.buf = nil
}

// cappedWriter passes writes to w until max bytes were written; the write
// that would pass the cap is cut at it and fails, as do later ones.
type cappedWriter struct {
	w        io.Writer
	max      int64
	n        int64
	exceeded bool
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	room := c.max - c.n
	cut := false
	if int64(len(p)) > room {
		p = p[:max(room, 0)]
		cut = true
		c.exceeded = true
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil && cut {
		err = ErrOutputLimit
	}
	return n, err
}
