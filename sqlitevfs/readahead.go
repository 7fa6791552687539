package sqlitevfs

import (
	"bytes"
	"runtime"
	"sync"
)

// Read-ahead decryption for sequential scans of the database file.
//
// Opening a page costs about as much CPU as SQLite spends walking it during
// a table scan, so a scan through this VFS runs at well under the speed of
// a plaintext one. When a connection reads database pages in ascending
// order, a helper goroutine reads and opens the next pages on another core
// while SQLite works on the current one.
//
// Correctness does not depend on knowing when the file changes. The reader
// still reads every page from the file itself; it uses a prefetched
// plaintext only when the bytes it just read are identical, all pageSize of
// them, to the sealed image the helper authenticated. Same bytes, same key,
// same position: the same plaintext and the same verdict. Whatever happened
// in between (a checkpoint rewriting the page, a write by this connection,
// tampering) shows up as a difference and the reader opens its own bytes
// as if there were no read-ahead. The helper never reports anything: a page
// it cannot read or open is simply not offered (a read that fails, such as
// one of the byte range Windows locks for SQLite, ends the window as the end
// of the file does).
//
// Costs: the helper spends one open per page the scan does not reach
// (at most one window), and the reader one compare and one copy per page
// it takes. With GOMAXPROCS < 2 there is no second core to use and
// read-ahead stays off.

const (
	// raWindowBytes bounds how far ahead of the reader the helper opens
	// pages, and with it the helper's buffers.
	raWindowBytes = 256 << 10
	// raChunkBytes is how much the helper reads with one call.
	raChunkBytes = 32 << 10
	// raMinWindow is the window in pages for large page sizes.
	raMinWindow = 4
	// raStreak is how many ascending page reads start a read-ahead stream.
	raStreak = 2
	// raGap is the largest step between two reads that continues a stream
	// (a scan skips the interior and overflow pages it has already read).
	raGap = 4
	// raStray is how many reads outside the window end a stream.
	raStray = 8
)

// stream recognizes ascending page reads. It is the reader's alone.
type stream struct {
	pos    uint32 // last page of the stream
	streak int    // ascending reads ending at pos
	stray  int    // consecutive reads outside the stream since pos
}

// observe records a read of page pgno and reports whether it advances an
// established stream.
func (s *stream) observe(pgno uint32) bool {
	switch {
	case pgno > s.pos && pgno-s.pos <= raGap:
		s.pos = pgno
		s.streak++
		s.stray = 0
		return s.streak >= raStreak
	case s.streak >= raStreak && s.stray < raStray:
		s.stray++ // an interior page, perhaps: the stream goes on
	default:
		s.pos, s.streak, s.stray = pgno, 0, 0
	}
	return false
}

// readAhead is one database file's helper and its window of opened pages.
type readAhead struct {
	d      *dbFile
	size   int      // page size
	window uint32   // pages
	chunk  uint32   // pages the helper reads at once
	slots  []raSlot // page p lives in slots[p%window]
	ring   []byte   // the slots' sealed images, contiguous
	plain  []byte   // the slots' plaintexts, contiguous
	taken  int      // pages served to the reader (reader-only)

	mu      sync.Mutex
	next    uint32 // next page for the helper
	target  uint32 // last page the helper may open
	idle    bool   // the helper waits for wake
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

// raSlot holds one page the helper opened: the sealed image as it was read
// and its plaintext. The helper holds mu while it fills the slot.
type raSlot struct {
	mu     sync.Mutex
	pgno   uint32 // 0: empty
	sealed []byte
	plain  []byte
}

// newReadAhead starts a helper for d's pages, or returns nil when there is
// no second core to run it on.
func newReadAhead(d *dbFile) *readAhead {
	if runtime.GOMAXPROCS(0) < 2 {
		return nil
	}
	size := d.pageSize
	window := max(raMinWindow, raWindowBytes/size)
	ra := &readAhead{
		d:      d,
		size:   size,
		window: uint32(window),
		chunk:  uint32(max(1, raChunkBytes/size)),
		slots:  make([]raSlot, window),
		idle:   true,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	ra.ring = make([]byte, window*size)
	ra.plain = make([]byte, window*size)
	for i := range ra.slots {
		s, lo, hi := &ra.slots[i], i*size, (i+1)*size
		s.sealed, s.plain = ra.ring[lo:hi:hi], ra.plain[lo:hi:hi]
	}
	go ra.run()
	return ra
}

// advance moves the helper's window to the pages after pos, the reader's
// position in a stream.
func (ra *readAhead) advance(pos uint32) {
	// The slot of pos must not be refilled before the reader takes it.
	target := pos + ra.window - 1
	ra.mu.Lock()
	switch {
	case ra.next > target:
		ra.next = pos + 1 // a new stream
	case ra.next <= pos:
		// The reader overtook the helper: give the helper a head start
		// rather than a race for the page the reader needs next.
		ra.next = pos + 1 + ra.chunk
	}
	ra.target = target
	// Waking the helper costs a futex call on this thread, and the helper
	// may take a while to run: wake it when it has a quarter window of work,
	// three quarters still ahead of the reader.
	signal := ra.idle && ra.next <= target && target-ra.next >= ra.window/4
	if signal {
		ra.idle = false
	}
	ra.mu.Unlock()
	if signal {
		select {
		case ra.wake <- struct{}{}:
		default:
		}
	}
}

// take copies the plaintext of page pgno into plain if the helper opened
// exactly the sealed image the reader read. It reports whether it did.
func (ra *readAhead) take(pgno uint32, sealed, plain []byte) bool {
	s := &ra.slots[pgno%ra.window]
	// Never wait for the helper: on a busy machine it may be descheduled
	// in the middle of a fill, and opening the page here is cheaper than
	// waiting for it to run again.
	if !s.mu.TryLock() {
		return false
	}
	defer s.mu.Unlock()
	if s.pgno != pgno || !bytes.Equal(s.sealed, sealed) {
		return false
	}
	copy(plain, s.plain)
	s.pgno = 0 // each image is taken once
	ra.taken++
	return true
}

// run is the helper: it opens pages up to target, then waits.
func (ra *readAhead) run() {
	defer close(ra.done)
	for range ra.wake {
		for {
			ra.mu.Lock()
			if ra.stopped {
				ra.mu.Unlock()
				return
			}
			if ra.next > ra.target {
				ra.idle = true
				ra.mu.Unlock()
				break
			}
			// A run of pages that fits the rest of the ring and the
			// chunk: read with one call, then opened one by one.
			first := ra.next
			n := min(ra.chunk, ra.target-first+1, ra.window-first%ra.window)
			ra.next += n
			ra.mu.Unlock()
			if end := ra.fill(first, n); end < first+n {
				ra.mu.Lock()
				ra.target = min(ra.target, end-1) // the end of the file
				ra.mu.Unlock()
			}
		}
	}
}

// fill reads pages first..first+n-1 into their slots with one read and
// opens them. It returns the first page past the end of the file, or
// first+n.
func (ra *readAhead) fill(first, n uint32) uint32 {
	slots := ra.slots[first%ra.window:][:n]
	for i := range slots {
		slots[i].mu.Lock()
		slots[i].pgno = 0
	}
	size := ra.size
	lo := int(first%ra.window) * size
	got, _ := ra.d.File.ReadAt(ra.ring[lo:lo+int(n)*size], int64(first-1)*int64(size))
	end := first + uint32(got/size)
	for i := range slots {
		s, pgno := &slots[i], first+uint32(i)
		// Open, not OpenScratch: take compares the image exactly as read.
		ad := associated(kindDB, pgno)
		if pgno < end && ra.d.cipher.Open(s.plain, s.sealed, 0, ad[:]) == nil {
			s.pgno = pgno
		}
		s.mu.Unlock()
	}
	return end
}

// stop ends the helper and waits for it, so that the base file can be
// closed, then clears the plaintexts it kept.
func (ra *readAhead) stop() {
	ra.mu.Lock()
	ra.stopped = true
	ra.mu.Unlock()
	close(ra.wake)
	<-ra.done
	clear(ra.plain)
}
