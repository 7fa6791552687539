package sqlitevfs_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/gofastr/store/sqlitevfs"
)

// corruptStore damages copies of a pristine store's database and WAL as
// the random source says: byte flips, zeroed or random runs, copies of one
// page image or frame over another, truncations, and appended garbage.
func corruptStore(rng *mrand.Rand, s *walStore) (db, wal []byte) {
	db, wal = slices.Clone(s.db), slices.Clone(s.wal)
	frame := 24 + s.pageSize
	for range 1 + rng.IntN(6) {
		target := &db
		if rng.IntN(2) == 0 {
			target = &wal
		}
		b := *target
		if len(b) == 0 {
			continue
		}
		switch op := rng.IntN(10); {
		case op < 4: // flip a few bytes
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			}
		case op < 5: // a run of zeros or random bytes
			lo := rng.IntN(len(b))
			hi := min(len(b), lo+1+rng.IntN(2*s.pageSize))
			for i := lo; i < hi; i++ {
				if op == 4 && rng.IntN(2) == 0 {
					b[i] = 0
				} else {
					b[i] = byte(rng.Uint32())
				}
			}
		case op < 7: // one page image or frame copied over another
			unit, base := s.pageSize, 0
			if target == &wal {
				unit, base = frame, 32
			}
			n := (len(b) - base) / unit
			if n < 2 {
				continue
			}
			from, to := rng.IntN(n), rng.IntN(n)
			copy(b[base+to*unit:base+(to+1)*unit], b[base+from*unit:base+(from+1)*unit])
		case op < 8: // cut
			*target = b[:rng.IntN(len(b)+1)]
		case op < 9: // garbage appended
			extra := make([]byte, 1+rng.IntN(frame+100))
			for i := range extra {
				extra[i] = byte(rng.Uint32())
			}
			*target = append(b, extra...)
		default: // a header field of a frame or the WAL
			if target == &wal && len(b) >= 32 {
				off := rng.IntN(min(len(b), 32+frame*len(s.frames)))
				if off >= 32 {
					off = 32 + (off-32)/frame*frame + rng.IntN(24)
				}
				if off < len(b) {
					b[off] ^= byte(1 + rng.IntN(255))
				}
			}
		}
	}
	return db, wal
}

// checkCorrupted runs CheckFiles on a damaged copy and fails t if it
// panics (the test binary would), errs without a reason, or reports as
// damaged a database page or WAL frame whose bytes are those of the
// pristine store.
func checkCorrupted(t *testing.T, s *walStore, dir string, db, wal []byte) {
	t.Helper()
	path := filepath.Join(dir, "w.db")
	writeFile(t, path, db)
	writeFile(t, path+"-wal", wal)
	r, err := sqlitevfs.CheckFiles(context.Background(), path, s.key)
	if err != nil {
		// Only a damaged plaintext prefix of page 1 (or a file cut
		// short of it) keeps the check from running: the magic, the
		// key check (with no other image opening) or the page size.
		prefixIntact := len(db) >= 24 && bytes.Equal(db[:24], s.db[:24])
		if prefixIntact || !(errors.Is(err, sqlitevfs.ErrNotEncrypted) || errors.Is(err, sqlitevfs.ErrWrongKey)) {
			t.Fatalf("CheckFiles: %v", err)
		}
		return
	}
	frame := 24 + s.pageSize
	same := func(a, b []byte, lo, hi int) bool {
		return hi <= len(a) && hi <= len(b) && bytes.Equal(a[lo:hi], b[lo:hi])
	}
	for _, d := range r.Damaged {
		switch d.Kind {
		case "db":
			lo := int(d.Offset)
			if d.Offset != int64(d.Page-1)*int64(r.PageSize) {
				t.Errorf("%v: offset does not match the page", d)
			}
			if r.PageSize == s.pageSize && same(db, s.db, lo, lo+s.pageSize) {
				t.Errorf("a clean database page reported damaged: %v", d)
			}
		case "wal":
			if d.Offset == 0 {
				if same(wal, s.wal, 0, 32) {
					t.Errorf("a clean WAL header reported damaged: %v", d)
				}
				continue
			}
			lo := int(d.Offset)
			if (lo-32)%frame != 0 {
				t.Errorf("%v: not the offset of a frame", d)
			}
			if same(wal, s.wal, lo, lo+frame) && same(wal, s.wal, 0, 32) {
				t.Errorf("a clean WAL frame reported damaged: %v", d)
			}
			if binary.BigEndian.Uint32(wal[lo:]) != d.Page {
				t.Errorf("%v: not the frame's page number", d)
			}
		default:
			t.Errorf("damage of kind %q", d.Kind)
		}
	}
}

// TestCheckRandomCorruption damages a store's files at random, hundreds
// of times: the check never panics, and never reports a clean page or
// frame.
func TestCheckRandomCorruption(t *testing.T) {
	rng := seededRand(t)
	s := newWALStore(t, rng)
	dir := testDir(t)
	damaged := 0
	for range trials(400, 80) {
		db, wal := corruptStore(rng, s)
		checkCorrupted(t, s, dir, db, wal)
		if t.Failed() {
			return
		}
		damaged++
	}
}

var fuzzStore struct {
	once sync.Once
	s    *walStore
}

// FuzzCheckFiles damages a store's files as the input's seed says (see
// TestCheckRandomCorruption).
func FuzzCheckFiles(f *testing.F) {
	for _, seed := range []uint64{0, 1, 2, 42, 1 << 40} {
		f.Add(seed, seed^0x9e3779b97f4a7c15)
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		fuzzStore.once.Do(func() { fuzzStore.s = newWALStore(t, mrand.New(mrand.NewPCG(1, 2))) })
		s := fuzzStore.s
		if s == nil {
			t.Skip("skipping: the pristine store could not be built")
		}
		db, wal := corruptStore(mrand.New(mrand.NewPCG(a, b)), s)
		checkCorrupted(t, s, t.TempDir(), db, wal)
	})
}
