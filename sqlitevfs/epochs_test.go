package sqlitevfs_test

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/sqlitevfs"
)

// TestForgedEpochPages gives every page of a database but page 1 (or
// every leaf page) a forged epoch, as an attacker who can write the file
// would, and reads it through a fresh VFS: every read that reaches a
// forged page fails with IOERR_DATA and a PageError, never data, and the
// subkey derivations the forgeries cost stay within pagecrypt's failure
// budget (256, plus 256 per second) however many pages are read. On
// ebda354 each forged page read cost a derivation (1,200 lookups: 1,200
// derivations).
func TestForgedEpochPages(t *testing.T) {
	for _, which := range []string{"every page", "leaf pages"} {
		t.Run(which, func(t *testing.T) {
			rng := seededRand(t)
			key := newKey(t)
			k := register(t, key)
			path := filepath.Join(testDir(t), "forged.db")
			c := open(t, path, encrypted(k, "delete"))
			mustExec(t, c, schema)
			const rows = 600
			insertRows(t, c, genRows(rng, 1, rows, fixed(3000), nil)) // one row per leaf
			closeConn(t, c)

			// Forge the epochs, keeping everything else.
			cph, err := pagecrypt.New(key)
			if err != nil {
				t.Fatal(err)
			}
			db := readFile(t, path)
			const size = 4096
			forged := 0
			for off := size; off+size <= len(db); off += size {
				page := db[off : off+size]
				if which == "leaf pages" {
					var ad [16]byte
					ad[0] = 1
					binary.BigEndian.PutUint32(ad[4:], uint32(off/size+1))
					plain := make([]byte, size)
					if err := cph.Open(plain, page, 0, ad[:]); err != nil {
						t.Fatalf("page %d: %v", off/size+1, err)
					}
					if plain[0] != 0x0d { // a table leaf
						continue
					}
				}
				binary.BigEndian.PutUint32(page[size-pagecrypt.Overhead:], rng.Uint32())
				forged++
			}
			writeFile(t, path, db)

			k2 := register(t, key)
			c = open(t, path, encrypted(k2, "delete"))
			start, t0 := sqlitevfs.Derivations(k2.VFS), time.Now()
			stmt, _, err := c.Prepare("SELECT length(v) FROM t WHERE id = ?")
			if err != nil {
				t.Fatal(err)
			}
			defer stmt.Close()
			limited := 0 // reads refused without a derivation
			for pass := range 2 {
				for id := range rows {
					stmt.BindInt64(1, int64(id+1))
					if stmt.Step() {
						t.Fatalf("pass %d, row %d: read %d bytes from a forged page", pass, id+1, stmt.ColumnInt(0))
					}
					err := sqlitevfs.ConnError(c, stmt.Reset())
					if !errors.Is(err, sqlite3.IOERR_DATA) {
						t.Fatalf("pass %d, row %d: %v, want IOERR_DATA", pass, id+1, err)
					}
					pe := pageErr(err)
					if pe == nil || pe.Kind != "db" || !errors.Is(pe, sqlitevfs.ErrAuth) {
						t.Fatalf("pass %d, row %d: %v, want a PageError (ErrAuth)", pass, id+1, err)
					}
					if errors.Is(pe, sqlitevfs.ErrEpochLimit) {
						limited++
					}
				}
			}
			if _, err := readRows(c); !errors.Is(err, sqlite3.IOERR_DATA) {
				t.Fatalf("full scan: %v, want IOERR_DATA", err)
			}
			spent := sqlitevfs.Derivations(k2.VFS) - start
			bound := uint64(256 + 256*time.Since(t0).Seconds() + 8)
			t.Logf("%d forged pages, %d reads: %d derivations (bound %d), %d reads refused with ErrEpochLimit", forged, 2*rows+1, spent, bound, limited)
			if which == "leaf pages" && limited == 0 { // every page: all reads stop at the same forged interior page
				t.Errorf("no read reported ErrEpochLimit although %d forged pages were read", forged)
			}
			if spent > bound {
				t.Errorf("%d derivations for %d reads of forged pages, want at most %d", spent, 2*rows+1, bound)
			}
		})
	}
}
