package sqlitevfs

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// raFixture is a database file in memory with pages 2..pages sealed under
// a fresh key, each holding "page N vV" padded with the page number.
type raFixture struct {
	t    *testing.T
	d    *dbFile
	mem  *memFile
	size int
}

func newRAFixture(t *testing.T, size, pages int) *raFixture {
	t.Helper()
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("read-ahead runs only with GOMAXPROCS >= 2")
	}
	key := make([]byte, KeySize)
	rand.Read(key)
	v, err := Wrap(nil, key)
	if err != nil {
		t.Fatal(err)
	}
	mem := &memFile{}
	f := &raFixture{t: t, mem: mem, size: size,
		d: &dbFile{pager: pager{File: mem, vfs: v, cipher: v.cipher, path: "ra.db", errs: new(connErrs)}, pageSize: size}}
	for pgno := 2; pgno <= pages; pgno++ {
		f.write(uint32(pgno), 1)
	}
	// The helper is started but never woken: the test drives fill itself,
	// so nothing touches the (unsynchronized) memFile concurrently.
	f.d.ra = newReadAhead(f.d)
	t.Cleanup(func() { f.d.Close() })
	return f
}

// content is the plaintext of page pgno, version ver.
func (f *raFixture) content(pgno uint32, ver int) []byte {
	p := bytes.Repeat([]byte{byte(pgno)}, f.size)
	copy(p, fmt.Sprintf("page %d v%d", pgno, ver))
	clear(p[f.size-ReserveBytes:])
	return p
}

func (f *raFixture) write(pgno uint32, ver int) {
	f.t.Helper()
	ad := associated(kindDB, pgno)
	if _, err := f.d.seal(f.content(pgno, ver), f.off(pgno), 0, ad[:]); err != nil {
		f.t.Fatal(err)
	}
}

func (f *raFixture) off(pgno uint32) int64 { return int64(pgno-1) * int64(f.size) }

// read reads page pgno the way ReadAt does and reports whether the
// read-ahead served it.
// The error is the typed one the VFS recorded for the connection.
func (f *raFixture) read(pgno uint32) ([]byte, bool, error) {
	before := f.d.ra.taken
	raw := make([]byte, 2*f.size)
	if err := f.d.readPage(raw[:f.size], raw[f.size:], pgno, f.off(pgno)); err != nil {
		rec := f.d.errs.take()
		if rec == nil {
			return nil, false, err
		}
		return nil, false, rec.err
	}
	return raw[f.size:], f.d.ra.taken > before, nil
}

func TestReadAheadServesOnlyIdenticalImages(t *testing.T) {
	f := newRAFixture(t, 1024, 12)
	if end := f.d.ra.fill(2, 8); end != 10 {
		t.Fatalf("fill(2, 8) = %d, want 10", end)
	}

	// After the helper opened pages 2..9: page 3 is rewritten, page 5's
	// ciphertext and page 6's trailer are damaged, page 7's body is
	// damaged with its trailer intact (a trailer compare would miss it).
	f.write(3, 2)
	f.mem.data[f.off(5)+100] ^= 1
	f.mem.data[f.off(6)+int64(f.size)-1] ^= 1
	f.mem.data[f.off(7)+10] ^= 0x80

	for _, tc := range []struct {
		pgno   uint32
		ver    int  // 0: authentication must fail
		served bool // by the read-ahead
	}{
		{2, 1, true},
		{3, 2, false}, // the helper's copy is stale
		{4, 1, true},
		{5, 0, false},
		{6, 0, false},
		{7, 0, false},
		{8, 1, true},
		{4, 1, false}, // each image is served once
		{9, 1, true},
	} {
		got, served, err := f.read(tc.pgno)
		if served != tc.served {
			t.Errorf("page %d: served by read-ahead = %v, want %v", tc.pgno, served, tc.served)
		}
		if tc.ver == 0 {
			var pe *PageError
			if !errors.As(err, &pe) || pe.Page != tc.pgno || !errors.Is(err, ErrAuth) {
				t.Errorf("page %d: err = %v, want a *PageError for it wrapping ErrAuth", tc.pgno, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("page %d: %v", tc.pgno, err)
		} else if want := f.content(tc.pgno, tc.ver); !bytes.Equal(got, want) {
			t.Errorf("page %d: got %q…, want %q…", tc.pgno, got[:12], want[:12])
		}
	}
}

func TestReadAheadDamagedAndShortFile(t *testing.T) {
	f := newRAFixture(t, 4096, 12)
	f.mem.data[f.off(11)+7] ^= 1 // damaged before the helper reads it

	// Pages 10..12 exist, 13 does not: fill reports where the file ends.
	if end := f.d.ra.fill(10, 4); end != 13 {
		t.Fatalf("fill(10, 4) = %d, want 13", end)
	}
	if _, served, err := f.read(11); served || !errors.Is(err, ErrAuth) {
		t.Errorf("damaged page 11: served %v, err %v; want not served, ErrAuth", served, err)
	}
	if got, served, err := f.read(12); err != nil || !served || !bytes.Equal(got, f.content(12, 1)) {
		t.Errorf("page 12: served %v, err %v", served, err)
	}
}

func TestStreamDetection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reads []uint32
		want  []bool
	}{
		{"ascending", []uint32{5, 6, 7, 8}, []bool{false, false, true, true}},
		{"gaps within raGap", []uint32{5, 8, 12, 16}, []bool{false, false, true, true}},
		{"interior pages do not end a stream", []uint32{5, 6, 7, 900, 8, 901, 9}, []bool{false, false, true, false, true, false, true}},
		{"random reads never start one", []uint32{50, 7, 900, 33, 34, 2, 600}, []bool{false, false, false, false, false, false, false}},
		{"descending", []uint32{9, 8, 7, 6}, []bool{false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s stream
			for i, pgno := range tc.reads {
				if got := s.observe(pgno); got != tc.want[i] {
					t.Errorf("read %d (page %d): advances = %v, want %v", i, pgno, got, tc.want[i])
				}
			}
		})
	}

	t.Run("too many strays end it", func(t *testing.T) {
		var s stream
		for pgno := uint32(10); pgno < 13; pgno++ {
			s.observe(pgno)
		}
		for i := range raStray + 1 {
			s.observe(uint32(1000 + 10*i))
		}
		if s.observe(13) {
			t.Error("stream survived more than raStray reads elsewhere")
		}
	})
}
