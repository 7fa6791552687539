//go:build linux || darwin

package sqlitevfs_test

// Benchmarks of the page-level AES-GCM VFS against the plaintext OS VFS and
// ncruces' own encrypting VFSes (adiantum, xts), all in one process with
// identical settings. See docs/BENCHMARKS.md for the command and figures.
//
//	go test -run='^$' -bench=BenchmarkVFS -benchtime=1x -count=5 ./sqlitevfs/
//
// Sizes follow issue 2 (20k single-row transactions, 200k rows in 1k-row
// transactions, full scan of 200k rows, 10k point reads). GOFASTR_BENCH_SCALE
// (a positive float, e.g. 0.01) scales every row count; with -short and no
// GOFASTR_BENCH_SCALE the scale is 0.01, so a smoke run takes seconds.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum" // registers "adiantum"
	_ "github.com/ncruces/go-sqlite3/vfs/xts"      // registers "xts"

	"github.com/gofastr/store/internal/engine"
)

// Settings shared by every configuration.
const (
	benchPageSize    = 4096
	benchPayloadSize = 1024
	benchJournalMode = "wal"
	benchSynchronous = "normal"
	benchBatchRows   = 1000
)

// benchPragmas are applied identically to every connection. engine.Open
// applies the same set for the plain and aesgcm configurations; the peers
// are opened on a URI carrying their key and get them from benchApply.
// benchCheck verifies afterwards that all four ended up the same.
var benchPragmas = []string{
	"PRAGMA temp_store=" + engine.TempStore, // as engine.Open
	fmt.Sprintf("PRAGMA page_size=%d", benchPageSize),
	"PRAGMA journal_mode=" + benchJournalMode,
	"PRAGMA synchronous=" + benchSynchronous,
}

// benchSizes are the workload sizes after scaling.
type benchSizes struct {
	insert1 int // single-row transactions
	batch   int // rows inserted in benchBatchRows-row transactions
	table   int // rows in the table scanned and point-read
	point   int // random point reads
}

func benchScale(tb testing.TB) float64 {
	if s := os.Getenv("GOFASTR_BENCH_SCALE"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			tb.Fatalf("GOFASTR_BENCH_SCALE=%q: want a positive number", s)
		}
		return f
	}
	if testing.Short() {
		return 0.01
	}
	return 1
}

func benchSizesFor(scale float64) benchSizes {
	n := func(base int) int { return max(1, int(float64(base)*scale)) }
	return benchSizes{insert1: n(20_000), batch: n(200_000), table: n(200_000), point: n(10_000)}
}

// benchConfig is one VFS configuration under test.
type benchConfig struct {
	name string
	open func(path string) (*sqlite3.Conn, error)
}

var (
	benchKeysOnce sync.Once
	benchGCMVFS   string // name of the keyed aesgcm VFS
	benchHexKey32 string // adiantum: 32-byte key
	benchHexKey64 string // xts: 64-byte key, AES-256-XTS (AES-256 like aesgcm)
	benchKeysErr  error
)

func benchKeys(tb testing.TB) {
	benchKeysOnce.Do(func() {
		key := make([]byte, 64)
		rand.Read(key)
		k, err := engine.RegisterKey(key[:32])
		if err != nil {
			benchKeysErr = err
			return
		}
		benchGCMVFS = k.Name // registered for the life of the process
		benchHexKey32 = hex.EncodeToString(key[32:])
		benchHexKey64 = hex.EncodeToString(key)
	})
	if benchKeysErr != nil {
		tb.Fatal(benchKeysErr)
	}
}

func benchEngineOptions() engine.Options {
	return engine.Options{
		JournalMode: benchJournalMode,
		Synchronous: benchSynchronous,
		PageSize:    benchPageSize,
	}
}

// benchPeer opens path on one of ncruces' encrypting VFSes with its key in
// the URI (no KDF: hexkey is the raw key), then applies benchPragmas.
func benchPeer(vfsName, hexKey string) func(string) (*sqlite3.Conn, error) {
	return func(path string) (*sqlite3.Conn, error) {
		if err := engine.Configure(engine.Config{}); err != nil {
			return nil, err
		}
		uri := engine.URI(path, vfsName) + "&hexkey=" + hexKey
		c, err := sqlite3.OpenFlags(uri, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE|sqlite3.OPEN_URI)
		if err != nil {
			return nil, err
		}
		if err := c.BusyTimeout(engine.DefaultBusyTimeout); err != nil {
			c.Close()
			return nil, err
		}
		for _, p := range benchPragmas {
			if err := c.Exec(p); err != nil {
				c.Close()
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
		return c, nil
	}
}

func benchConfigs(tb testing.TB) []benchConfig {
	benchKeys(tb)
	return []benchConfig{
		{"plain", func(path string) (*sqlite3.Conn, error) {
			return engine.Open(path, benchEngineOptions())
		}},
		{"aesgcm", func(path string) (*sqlite3.Conn, error) {
			o := benchEngineOptions()
			o.VFS = benchGCMVFS
			o.Encrypted = true
			return engine.Open(path, o)
		}},
		{"adiantum", benchPeer("adiantum", benchHexKey32)},
		{"xts", benchPeer("xts", benchHexKey64)},
	}
}

// benchSettings reads back the settings that must match across
// configurations.
func benchSettings(c *sqlite3.Conn) (string, error) {
	var out string
	for _, p := range []string{"journal_mode", "synchronous", "page_size", "temp_store", "mmap_size", "cache_size", "wal_autocheckpoint", "locking_mode"} {
		s, _, err := c.Prepare("PRAGMA " + p)
		if err != nil {
			return "", err
		}
		v := ""
		if s.Step() {
			v = s.ColumnText(0)
		}
		err = s.Close()
		if err != nil {
			return "", err
		}
		out += p + "=" + v + " "
	}
	return out, nil
}

// benchPayloads is a pool of random bytes; row i's payload is a 1 KiB
// window at a row-dependent offset, so consecutive rows differ and no
// per-row random generation is timed.
var benchPayloads = sync.OnceValue(func() []byte {
	b := make([]byte, 4<<20)
	rand.Read(b)
	return b
})

func benchPayload(i int) []byte {
	pool := benchPayloads()
	off := (i * 4099) % (len(pool) - benchPayloadSize)
	return pool[off : off+benchPayloadSize]
}

const benchSchema = "CREATE TABLE t(id INTEGER PRIMARY KEY, payload BLOB NOT NULL)"

// benchCreate opens a new database at path and creates the table.
func benchCreate(cfg benchConfig, path string) (*sqlite3.Conn, error) {
	c, err := cfg.open(path)
	if err != nil {
		return nil, err
	}
	if err := c.Exec(benchSchema); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// benchInsert inserts rows rows with ids first.. in transactions of batch
// rows (batch 1: each INSERT is its own autocommit transaction).
func benchInsert(c *sqlite3.Conn, first, rows, batch int) error {
	s, _, err := c.Prepare("INSERT INTO t(id, payload) VALUES(?, ?)")
	if err != nil {
		return err
	}
	defer s.Close()
	for i := 0; i < rows; i += batch {
		if batch > 1 {
			if err := c.Exec("BEGIN"); err != nil {
				return err
			}
		}
		for j := i; j < min(i+batch, rows); j++ {
			id := first + j
			if err := s.BindInt(1, id); err != nil {
				return err
			}
			if err := s.BindBlob(2, benchPayload(id)); err != nil {
				return err
			}
			if err := s.Exec(); err != nil {
				return err
			}
		}
		if batch > 1 {
			if err := c.Exec("COMMIT"); err != nil {
				return err
			}
		}
	}
	return nil
}

// benchFixture builds (once per configuration and run of BenchmarkVFS) the
// table that scan and point read: rows rows inserted in 1k-row
// transactions, closed, so the WAL is checkpointed into the database.
type benchFixture struct {
	dir  string
	mu   sync.Mutex
	path map[string]string
}

// get returns the fixture for cfg, building it on first use. Before it
// returns, it flushes every dirty file to disk: the kernel's write-back of
// the fixture, or of earlier workloads' files, is not the timed reads' cost.
func (f *benchFixture) get(b *testing.B, cfg benchConfig, rows int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer syscall.Sync()
	if p, ok := f.path[cfg.name]; ok {
		return p
	}
	p := benchFreshPath(b, f.dir)
	c, err := benchCreate(cfg, p)
	if err != nil {
		b.Fatal(err)
	}
	if err := benchInsert(c, 1, rows, benchBatchRows); err != nil {
		b.Fatal(err)
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	f.path[cfg.name] = p
	return p
}

// put records a database produced by insertBatch as the fixture, saving a
// rebuild. It reports whether path was kept.
func (f *benchFixture) put(name, path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.path[name]; ok {
		return false
	}
	f.path[name] = path
	return true
}

// benchFreshPath returns a database path in a new directory under base.
func benchFreshPath(b *testing.B, base string) string {
	dir, err := os.MkdirTemp(base, "run-")
	if err != nil {
		b.Fatal(err)
	}
	return filepath.Join(dir, "bench.db")
}

// benchClock wraps the benchmark timer and also accounts the process's CPU
// time (user+system, getrusage) spent while the timer runs. Wall-clock
// rows/s is the headline figure; cpu-us/row is far less sensitive to other
// load on the machine and to fsync latency, so it isolates the VFS's cost.
type benchClock struct {
	b       *testing.B
	running bool
	t0, cpu time.Duration
}

func benchCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *benchClock) start() {
	c.b.StartTimer()
	if !c.running {
		c.running = true
		c.t0 = benchCPU()
	}
}

func (c *benchClock) stop() {
	c.b.StopTimer()
	if c.running {
		c.running = false
		c.cpu += benchCPU() - c.t0
	}
}

// report stops the clock and reports rows/s (wall clock) and cpu-us/row.
func (c *benchClock) report(rowsPerOp int) {
	c.stop()
	rows := float64(rowsPerOp) * float64(c.b.N)
	if e := c.b.Elapsed(); e > 0 {
		c.b.ReportMetric(rows/e.Seconds(), "rows/s")
	}
	c.b.ReportMetric(float64(c.cpu)/float64(time.Microsecond)/rows, "cpu-us/row")
}

// BenchmarkVFS runs each workload over each configuration:
// BenchmarkVFS/<workload>/<vfs>. The reported rows/s is what to compare.
func BenchmarkVFS(b *testing.B) {
	sz := benchSizesFor(benchScale(b))
	cfgs := benchConfigs(b)
	fix := &benchFixture{dir: b.TempDir(), path: map[string]string{}}

	// Every configuration must run with the same settings.
	ref := ""
	for _, cfg := range cfgs {
		c, err := benchCreate(cfg, benchFreshPath(b, fix.dir))
		if err != nil {
			b.Fatalf("%s: %v", cfg.name, err)
		}
		got, err := benchSettings(c)
		c.Close()
		if err != nil {
			b.Fatalf("%s: %v", cfg.name, err)
		}
		if ref == "" {
			ref = got
		} else if got != ref {
			b.Fatalf("%s settings differ:\n got %s\nwant %s", cfg.name, got, ref)
		}
	}

	b.Run("insert1", func(b *testing.B) {
		for _, cfg := range cfgs {
			b.Run(cfg.name, func(b *testing.B) {
				clk := benchClock{b: b}
				clk.stop() // setup below is not timed
				base := b.TempDir()
				for range b.N {
					clk.stop()
					path := benchFreshPath(b, base)
					c, err := benchCreate(cfg, path)
					if err != nil {
						b.Fatal(err)
					}
					clk.start()
					if err := benchInsert(c, 1, sz.insert1, 1); err != nil {
						b.Fatal(err)
					}
					if err := c.Close(); err != nil { // final checkpoint
						b.Fatal(err)
					}
					clk.stop()
					os.RemoveAll(filepath.Dir(path))
				}
				clk.report(sz.insert1)
			})
		}
	})

	b.Run("insertBatch", func(b *testing.B) {
		for _, cfg := range cfgs {
			b.Run(cfg.name, func(b *testing.B) {
				clk := benchClock{b: b}
				clk.stop() // setup below is not timed
				path := ""
				for range b.N {
					clk.stop()
					if path != "" {
						os.RemoveAll(filepath.Dir(path))
					}
					path = benchFreshPath(b, fix.dir)
					c, err := benchCreate(cfg, path)
					if err != nil {
						b.Fatal(err)
					}
					clk.start()
					if err := benchInsert(c, 1, sz.batch, benchBatchRows); err != nil {
						b.Fatal(err)
					}
					if err := c.Close(); err != nil { // final checkpoint
						b.Fatal(err)
					}
				}
				clk.stop()
				clk.report(sz.batch)
				if sz.batch != sz.table || !fix.put(cfg.name, path) {
					os.RemoveAll(filepath.Dir(path))
				}
			})
		}
	})

	b.Run("scan", func(b *testing.B) {
		for _, cfg := range cfgs {
			b.Run(cfg.name, func(b *testing.B) {
				clk := benchClock{b: b}
				clk.stop() // setup below is not timed
				path := fix.get(b, cfg, sz.table)
				want := int64(sz.table) * benchPayloadSize
				for i := 0; i < b.N; i++ {
					clk.stop()
					// Cold: a fresh connection has an empty page cache.
					c, err := cfg.open(path)
					if err != nil {
						b.Fatal(err)
					}
					s, _, err := c.Prepare("SELECT SUM(length(payload)) FROM t")
					if err != nil {
						b.Fatal(err)
					}
					clk.start()
					if !s.Step() {
						b.Fatal(s.Err())
					}
					got := s.ColumnInt64(0)
					clk.stop()
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
					c.Close()
					if got != want {
						b.Fatalf("SUM = %d, want %d", got, want)
					}
				}
				clk.report(sz.table)
			})
		}
	})

	b.Run("point", func(b *testing.B) {
		for _, cfg := range cfgs {
			b.Run(cfg.name, func(b *testing.B) {
				clk := benchClock{b: b}
				clk.stop() // setup below is not timed
				path := fix.get(b, cfg, sz.table)
				rng := mrand.New(mrand.NewPCG(1, 2)) // same ids for every configuration
				for i := 0; i < b.N; i++ {
					clk.stop()
					c, err := cfg.open(path)
					if err != nil {
						b.Fatal(err)
					}
					s, _, err := c.Prepare("SELECT payload FROM t WHERE id = ?")
					if err != nil {
						b.Fatal(err)
					}
					clk.start()
					for range sz.point {
						if err := s.BindInt(1, 1+rng.IntN(sz.table)); err != nil {
							b.Fatal(err)
						}
						if !s.Step() {
							b.Fatalf("point read: no row (%v)", s.Err())
						}
						if n := len(s.ColumnRawBlob(0)); n != benchPayloadSize {
							b.Fatalf("point read: %d bytes", n)
						}
						if err := s.Reset(); err != nil {
							b.Fatal(err)
						}
					}
					clk.stop()
					s.Close()
					c.Close()
				}
				clk.report(sz.point)
			})
		}
	})
}

// TestBenchConfigs checks the benchmark harness at a tiny size: every
// configuration opens with the same settings, round-trips rows, and the
// encrypting ones keep the payload off the disk in plaintext.
func TestBenchConfigs(t *testing.T) {
	dir := t.TempDir()
	ref := ""
	for _, cfg := range benchConfigs(t) {
		path := filepath.Join(dir, cfg.name+".db")
		c, err := benchCreate(cfg, path)
		if err != nil {
			t.Fatalf("%s: %v", cfg.name, err)
		}
		got, err := benchSettings(c)
		if err != nil {
			t.Fatalf("%s: %v", cfg.name, err)
		}
		if ref == "" {
			ref = got
		} else if got != ref {
			t.Errorf("%s settings differ:\n got %s\nwant %s", cfg.name, got, ref)
		}
		if err := benchInsert(c, 1, 50, 1); err != nil {
			t.Fatalf("%s: %v", cfg.name, err)
		}
		if err := benchInsert(c, 51, 150, 40); err != nil {
			t.Fatalf("%s: %v", cfg.name, err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		c, err = cfg.open(path)
		if err != nil {
			t.Fatalf("%s reopen: %v", cfg.name, err)
		}
		s, _, err := c.Prepare("SELECT COUNT(*), SUM(length(payload)) FROM t")
		if err != nil {
			t.Fatal(err)
		}
		if !s.Step() || s.ColumnInt(0) != 200 || s.ColumnInt64(1) != 200*benchPayloadSize {
			t.Errorf("%s: count %d, bytes %d (err %v)", cfg.name, s.ColumnInt(0), s.ColumnInt64(1), s.Err())
		}
		s.Close()
		c.Close()

		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		marker := benchPayload(77)[:32]
		if plain := bytes.Contains(raw, marker); plain != (cfg.name == "plain") {
			t.Errorf("%s: payload in plaintext on disk = %v", cfg.name, plain)
		}
	}
}
