package engine_test

// Store-open time with and without wazero's compilation cache, and the
// cache directory's behaviour. The runtime is configured once per process,
// so every measurement runs in a fresh child: this test binary re-executed
// in the role "open-helper" (internal/testkit/proc), which opens one
// database and exits.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
)

// openHelperArgs are the arguments of the open-helper child.
type openHelperArgs struct {
	Path string // the database the child opens
	// ConfigCacheDir, if set, is passed as Config.CacheDir to
	// engine.Configure; otherwise the child relies on GOFASTR_CACHE_DIR.
	ConfigCacheDir *string
}

// openResult is what the child reports on stdout.
type openResult struct {
	ConfigureMS float64 // engine.Configure: runtime setup and SQLite compilation (or cache load)
	TotalMS     float64 // Configure + Open + one write and one read + Close
	CacheDir    string  // engine.CacheDir() after Configure
}

var _ = proc.Role("open-helper", openHelperMain)

// The child runs its role before the tests start.
func init() { proc.Dispatch() }

// openHelperMain is the child: configure the engine, open the database,
// touch it, close, and report the times.
func openHelperMain() int {
	start := time.Now()
	var a openHelperArgs
	if err := proc.Args(&a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	path := a.Path
	cfg := engine.Config{}
	if a.ConfigCacheDir != nil {
		cfg.CacheDir = *a.ConfigCacheDir
	}
	if err := engine.Configure(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "configure:", err)
		return 1
	}
	configured := time.Now()
	c, err := engine.Open(path, engine.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	err = c.Exec("CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES(1); SELECT count(*) FROM t;")
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "exec:", err)
		return 1
	}
	end := time.Now()
	json.NewEncoder(os.Stdout).Encode(openResult{
		ConfigureMS: ms(configured.Sub(start)),
		TotalMS:     ms(end.Sub(start)),
		CacheDir:    engine.CacheDir(),
	})
	return 0
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runOpenHelper runs the child on dbPath with extra environment entries
// and returns its report and its wall time (process start to exit).
func runOpenHelper(tb testing.TB, dbPath string, env ...string) (openResult, time.Duration) {
	tb.Helper()
	r, wall, err := tryOpenHelper(tb, openHelperArgs{Path: dbPath}, env...)
	if err != nil {
		tb.Fatal(err)
	}
	return r, wall
}

// tryOpenHelper is runOpenHelper with all the child's arguments, returning
// the child's failure, with its stderr, as an error.
func tryOpenHelper(tb testing.TB, a openHelperArgs, env ...string) (openResult, time.Duration, error) {
	tb.Helper()
	var r openResult
	// Never touch the user's cache, whatever the child is told.
	env = append([]string{"XDG_CACHE_HOME=" + filepath.Join(filepath.Dir(a.Path), "xdg")}, env...)
	start := time.Now()
	out, err := proc.Run(tb, proc.Spec{Role: "open-helper", Args: a, Env: env})
	wall := time.Since(start)
	if err != nil {
		return r, wall, fmt.Errorf("open helper: %v", err)
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return r, wall, fmt.Errorf("open helper output %q: %v", out, err)
	}
	return r, wall, nil
}

// skipUnderRace skips tests whose children compile SQLite: in a -race test
// binary that takes 10-20 s per child and checks nothing about data races
// (the plain `go test` run covers these tests).
func skipUnderRace(t *testing.T) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				t.Skip("children compile SQLite: too slow in a -race binary")
			}
		}
	}
}

// cacheFiles counts the regular, non-empty files under dir.
func cacheFiles(tb testing.TB, dir string) int {
	tb.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil && info.Size() > 0 {
				n++
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkOpen measures opening a store in a new process: "cold" without
// a compilation cache (GOFASTR_CACHE_DIR=off), "cached" with a warmed one,
// and "fill" with an empty one (the first run on a machine: compile and
// write the cache). ms/open is Configure+Open+first statement+Close inside
// the child; wall-ms/open adds process start-up and exit.
func BenchmarkOpen(b *testing.B) {
	warm := filepath.Join(b.TempDir(), "cache")
	runOpenHelper(b, filepath.Join(b.TempDir(), "warmup.db"), engine.EnvCacheDir+"="+warm)
	if cacheFiles(b, warm) == 0 {
		b.Fatal("warm-up left the cache empty")
	}

	modes := []struct {
		name  string
		cache func(b *testing.B) string
	}{
		{"cold", func(*testing.B) string { return "off" }},
		{"cached", func(*testing.B) string { return warm }},
		{"fill", func(b *testing.B) string { return filepath.Join(b.TempDir(), "cache") }},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			var inproc, configure, wall time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				cache := m.cache(b)
				b.StartTimer()
				r, w := runOpenHelper(b, filepath.Join(dir, "store.db"), engine.EnvCacheDir+"="+cache)
				inproc += time.Duration(r.TotalMS * float64(time.Millisecond))
				configure += time.Duration(r.ConfigureMS * float64(time.Millisecond))
				wall += w
				want := cache
				if cache == "off" {
					want = ""
				}
				if r.CacheDir != want {
					b.Fatalf("child used cache %q, want %q", r.CacheDir, want)
				}
			}
			n := float64(b.N)
			b.ReportMetric(ms(inproc)/n, "ms/open")
			b.ReportMetric(ms(configure)/n, "configure-ms/open")
			b.ReportMetric(ms(wall)/n, "wall-ms/open")
		})
	}
}

// TestCompilationCachePopulated: a configured cache directory that does not
// exist yet is created and filled by the first open, and used unchanged by
// the next. Configured through GOFASTR_CACHE_DIR and through Config.CacheDir.
func TestCompilationCachePopulated(t *testing.T) {
	skipUnderRace(t)
	t.Run("env", func(t *testing.T) {
		tmp := t.TempDir()
		cache := filepath.Join(tmp, "nested", "cache")
		r, _ := runOpenHelper(t, filepath.Join(tmp, "a.db"), engine.EnvCacheDir+"="+cache)
		if r.CacheDir != cache {
			t.Fatalf("CacheDir() = %q, want %q", r.CacheDir, cache)
		}
		files := cacheFiles(t, cache)
		if files == 0 {
			t.Fatalf("cache dir %s is empty after the first open", cache)
		}
		r2, _ := runOpenHelper(t, filepath.Join(tmp, "b.db"), engine.EnvCacheDir+"="+cache)
		if r2.CacheDir != cache {
			t.Fatalf("second open: CacheDir() = %q, want %q", r2.CacheDir, cache)
		}
		if got := cacheFiles(t, cache); got != files {
			t.Errorf("warm open changed the cache: %d files, then %d", files, got)
		}
		t.Logf("open: %.0f ms empty cache, %.0f ms warm cache", r.TotalMS, r2.TotalMS)
	})

	t.Run("config", func(t *testing.T) {
		tmp := t.TempDir()
		cache := filepath.Join(tmp, "nested", "cache")
		r, _, err := tryOpenHelper(t, openHelperArgs{Path: filepath.Join(tmp, "a.db"), ConfigCacheDir: &cache})
		if err != nil {
			t.Fatal(err)
		}
		if r.CacheDir != cache {
			t.Fatalf("CacheDir() = %q, want %q", r.CacheDir, cache)
		}
		if cacheFiles(t, cache) == 0 {
			t.Fatalf("cache dir %s is empty after the first open", cache)
		}
	})
}

// TestCompilationCacheUncreatable: a cache directory that cannot be created
// (a path under a regular file) means no cache and no error, whether it
// comes from Config.CacheDir or from the environment.
func TestCompilationCacheUncreatable(t *testing.T) {
	skipUnderRace(t)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "cache")

	for _, via := range []string{"config", "env"} {
		t.Run(via, func(t *testing.T) {
			a := openHelperArgs{Path: filepath.Join(tmp, via+".db"), ConfigCacheDir: &bad}
			var env []string
			if via == "env" {
				a.ConfigCacheDir = nil
				env = []string{engine.EnvCacheDir + "=" + bad}
			}
			r, _, err := tryOpenHelper(t, a, env...)
			if err != nil {
				t.Fatal(err)
			}
			if r.CacheDir != "" {
				t.Errorf("CacheDir() = %q, want none", r.CacheDir)
			}
		})
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "not a directory" {
		t.Errorf("the regular file changed: %q, %v", b, err)
	}
}
