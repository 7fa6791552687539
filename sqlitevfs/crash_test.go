package sqlitevfs_test

// TestCrash kills a writer with SIGKILL at random moments and checks what
// survives. The parent re-executes this test binary as a child (selected by
// internal/testkit/proc, role "vfs-crash") that appends transactions to an
// encrypted store and prints each committed sequence number; the parent kills it, reopens the
// store with the same key and checks integrity and every reported commit.
// It crashes a store in each journal mode; the truncate and persist stores'
// children run on a base VFS that claims atomic writes (shimVFS), which the
// encrypting VFS must hide from SQLite.
//
//	go test -count=1 -run '^TestCrash$' -v ./sqlitevfs/
//	GOFASTR_CRASH_ROUNDS=500 go test -count=1 -run '^TestCrash$' ./sqlitevfs/   # make crash-long
//	GOFASTR_TEST_SEED=<seed> ...                                                  # replay kill timings
//	GOFASTR_CRASH_KEEP=<dir> ...                                                  # keep the stores of a failure

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/sqlitevfs"
)

// crashEnvKeep names a directory: on failure, the stores and the key are
// copied there.
const crashEnvKeep = "GOFASTR_CRASH_KEEP"

// Children of this package's tests run in a role registered with
// proc.Role (see package internal/testkit/proc).
func init() { proc.Dispatch() }

var _ = proc.Role("vfs-crash", crashChild)

// crashArgs are the arguments of the vfs-crash child.
type crashArgs struct {
	Path  string                   // the database
	Key   []byte                   // the store's key (a test key)
	Mode  string                   // journal mode: "wal", "delete", "truncate" or "persist"
	Caps  vfs.DeviceCharacteristic // device characteristics the child's base VFS adds (shimVFS)
	Ckpt  int                      // PRAGMA wal_autocheckpoint
	Spill bool                     // transactions that spill (see crashChild)
}

const crashSchema = `
CREATE TABLE IF NOT EXISTS crash(seq INTEGER NOT NULL, i INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY(seq, i));
CREATE TABLE IF NOT EXISTS crash_meta(id INTEGER PRIMARY KEY CHECK (id = 1), first INTEGER NOT NULL, last INTEGER NOT NULL);
INSERT OR IGNORE INTO crash_meta VALUES (1, 1, 0);`

// The parent prunes a store that holds more than crashPruneAt transactions
// down to the newest crashKeep (after checking them all), so long runs stay
// fast; pruning also makes later transactions reuse free pages.
const (
	crashPruneAt = 6000
	crashKeep    = 2000
)

// crashRows is the number of rows transaction seq inserts.
func crashRows(seq int64) int { return 1 + int(seq%5) }

// crashPayload is row i of transaction seq: deterministic, mostly under a
// page, and every 13th transaction's first row spans overflow pages.
func crashPayload(seq int64, i int) []byte {
	n := int((uint64(seq)*2654435761 + uint64(i)*40503) % 1500)
	if seq%13 == 0 && i == 0 {
		n = 9000
	}
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], uint64(seq))
	binary.BigEndian.PutUint64(s[8:], uint64(i))
	b := make([]byte, n)
	mrand.NewChaCha8(s).Read(b)
	return b
}

// crashChild is the child process: it appends transactions until killed.
// It never returns.
func crashChild() int {
	fail := proc.Fail
	// Exit when the parent goes away (stdin closes) or takes far too long.
	proc.ExitWithParent(5 * time.Minute)

	var a crashArgs
	if err := proc.Args(&a); err != nil {
		fail("%v", err)
	}
	k, err := engine.RegisterKey(a.Key)
	if err != nil {
		fail("RegisterKey: %v", err)
	}
	o := engine.Options{VFS: k.Name, Encrypted: true, JournalMode: a.Mode, Synchronous: "full"}
	if a.Caps != 0 {
		// The base VFS claims atomic writes (as on F2FS): the store must
		// not use them. (registerShim, without a testing.TB.)
		v, err := sqlitevfs.Wrap(&shimVFS{VFS: vfs.Find(""), caps: a.Caps}, a.Key)
		if err != nil {
			fail("wrap the shim: %v", err)
		}
		vfs.Register("crash-shim", v)
		k.VFS = v
		o.VFS = "crash-shim"
	}
	c, err := engine.Open(a.Path, o)
	if err != nil {
		fail("open: %v", err)
	}
	if a.Ckpt != 0 {
		if err := c.Exec(fmt.Sprint("PRAGMA wal_autocheckpoint=", a.Ckpt)); err != nil {
			fail("wal_autocheckpoint: %v", err)
		}
	}
	// Spill mode: a tiny page cache, and transactions that write, rewrite
	// and delete ballast pages (spilled to the WAL and overwritten there
	// before the commit, so SQLite rewrites their checksums) or that roll
	// a spilled savepoint back.
	spill := a.Spill
	if spill {
		if err := c.Exec("PRAGMA cache_size=6; CREATE TABLE IF NOT EXISTS ballast(id INTEGER PRIMARY KEY, v BLOB)"); err != nil {
			fail("spill set-up: %v", err)
		}
	}
	ballast := func(seq int64) string {
		const fill = `INSERT INTO ballast(v) SELECT randomblob(1000) FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 40) SELECT i FROM s);`
		switch {
		case !spill:
			return ""
		case seq%3 == 0:
			return fill + "UPDATE ballast SET v = randomblob(1000); DELETE FROM ballast;"
		case seq%4 == 0:
			return "SAVEPOINT sp;" + fill + "ROLLBACK TO sp; RELEASE sp;"
		}
		return ""
	}
	last, err := crashQueryInt(c, "SELECT last FROM crash_meta")
	if err != nil {
		fail("read last: %v", err)
	}
	fmt.Printf("ready %d\n", last)

	ins, _, err := c.Prepare("INSERT INTO crash(seq, i, payload) VALUES (?, ?, ?)")
	if err != nil {
		fail("prepare: %v", err)
	}
	upd, _, err := c.Prepare("UPDATE crash_meta SET last = ? WHERE id = 1")
	if err != nil {
		fail("prepare: %v", err)
	}
	run := func(s *sqlite3.Stmt, args ...any) {
		for j, a := range args {
			switch a := a.(type) {
			case int64:
				err = s.BindInt64(j+1, a)
			case int:
				err = s.BindInt64(j+1, int64(a))
			case []byte:
				err = s.BindBlob(j+1, a)
			}
			if err != nil {
				fail("bind: %v", err)
			}
		}
		if err := s.Exec(); err != nil {
			fail("%s: %v", s.SQL(), err)
		}
	}
	for seq := last + 1; ; seq++ {
		if err := c.Exec("BEGIN IMMEDIATE;" + ballast(seq)); err != nil {
			fail("begin: %v", sqlitevfs.ConnError(c, err))
		}
		for i := range crashRows(seq) {
			run(ins, seq, i, crashPayload(seq, i))
		}
		run(upd, seq)
		if err := c.Exec("COMMIT"); err != nil {
			fail("commit %d: %v", seq, err)
		}
		// os.Stdout is unbuffered: one write per committed transaction.
		fmt.Printf("commit %d\n", seq)
	}
}

func crashQueryInt(c *sqlite3.Conn, sql string) (int64, error) {
	s, _, err := c.Prepare(sql)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if !s.Step() {
		if err := s.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("no rows")
	}
	return s.ColumnInt64(0), nil
}

func crashQueryText(c *sqlite3.Conn, sql string) (string, error) {
	s, _, err := c.Prepare(sql)
	if err != nil {
		return "", err
	}
	defer s.Close()
	if !s.Step() {
		if err := s.Err(); err != nil {
			return "", err
		}
		return "", errors.New("no rows")
	}
	return s.ColumnText(0), nil
}

// crashStore is one store the parent crashes repeatedly.
type crashStore struct {
	mode    string                   // journal mode
	caps    vfs.DeviceCharacteristic // added by the child's base VFS (shimVFS)
	spill   bool                     // the child runs transactions that spill (crashArgs.Spill)
	path    string
	visits  int
	first   int64 // lowest sequence number kept (the parent prunes older ones)
	max     int64 // highest sequence number found by the last check
	commits int64 // commits reported over all rounds
	hot     int   // kills that left a non-empty -wal or -journal behind
}

func TestCrash(t *testing.T) {
	proc.Skip(t)
	rounds := proc.Rounds(t, 50, 10)
	rng := proc.Rand(t, 0x6f66617374722063)

	// Children share the parent's compilation cache, so each starts in
	// tens of milliseconds instead of compiling SQLite again.
	if err := engine.Configure(engine.Config{}); err != nil && !errors.Is(err, engine.ErrAlreadyConfigured) {
		t.Fatalf("engine.Configure: %v", err)
	}
	cacheDir := engine.CacheDir()
	if cacheDir == "" {
		cacheDir = t.TempDir() // the parent runs uncached; children share this one
	}

	key := make([]byte, 32)
	rand.Read(key)
	k, err := engine.RegisterKey(key)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()

	dir := t.TempDir()
	stores := []*crashStore{
		{mode: "wal", path: filepath.Join(dir, "wal.db"), first: 1},
		{mode: "delete", path: filepath.Join(dir, "delete.db"), first: 1},
		{mode: "wal", spill: true, path: filepath.Join(dir, "wal-spill.db"), first: 1},
		{mode: "truncate", spill: true, path: filepath.Join(dir, "truncate.db"), first: 1, caps: vfs.IOCAP_BATCH_ATOMIC},
		{mode: "persist", path: filepath.Join(dir, "persist.db"), first: 1, caps: atomicCaps},
	}
	for _, s := range stores {
		c, err := engine.Open(s.path, crashOptions(k, s.mode))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Exec(crashSchema); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}

	t.Cleanup(func() {
		if keep := os.Getenv(crashEnvKeep); keep != "" && t.Failed() {
			crashKeepFiles(t, dir, keep, key)
		}
	})

	start := time.Now()
	for round := range rounds {
		s := stores[round%len(stores)]
		crashRound(t, rng, k, key, cacheDir, s, round)
		if t.Failed() {
			t.Fatalf("round %d (%s) failed (set %s=<dir> to keep the stores)", round, s.mode, crashEnvKeep)
		}
	}
	for _, s := range stores {
		t.Logf("%s (spill %v, caps %#x): %d kills, %d commits reported, last transaction %d, %d kills left a non-empty %s",
			s.mode, s.spill, s.caps, s.visits, s.commits, s.max, s.hot, map[bool]string{true: "-wal", false: "-journal"}[s.mode == "wal"])
	}
	t.Logf("%d rounds in %v", rounds, time.Since(start).Round(time.Millisecond))
}

func crashOptions(k *engine.Keyed, mode string) engine.Options {
	return engine.Options{VFS: k.Name, Encrypted: true, JournalMode: mode, Synchronous: "full"}
}

// crashRound runs one child against s, kills it and checks the store.
func crashRound(t *testing.T, rng *mrand.Rand, k *engine.Keyed, key []byte, cacheDir string, s *crashStore, round int) {
	t.Helper()
	s.visits++
	fromStart := rng.IntN(4) == 0 // else from the child's first read
	delay := time.Duration(20+rng.IntN(281)) * time.Millisecond
	// Frequent checkpoints make the child restart the WAL often, so kills
	// leave torn frames over stale ones: recovery's lenient path.
	ckpt := 1000
	if rng.IntN(4) != 0 {
		ckpt = 4 + rng.IntN(40)
	}

	p := proc.Start(t, proc.Spec{
		Role: "vfs-crash",
		Args: crashArgs{Path: s.path, Key: key, Mode: s.mode, Caps: s.caps, Ckpt: ckpt, Spill: s.spill},
		Env:  []string{engine.EnvCacheDir + "=" + cacheDir},
	})
	stdout := p.Stdout()

	var (
		last     atomic.Int64 // last committed sequence number reported
		ready    = make(chan struct{})
		done     = make(chan struct{})
		readyOne sync.Once
		badLine  atomic.Value
	)
	last.Store(-1)
	go func() {
		defer close(done)
		defer readyOne.Do(func() { close(ready) })
		br := bufio.NewReader(stdout)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return // a line without its newline proves nothing
			}
			word, num, _ := strings.Cut(strings.TrimSpace(line), " ")
			n, err := strconv.ParseInt(num, 10, 64)
			switch {
			case word == "ready" && err == nil:
				readyOne.Do(func() { close(ready) })
			case word == "commit" && err == nil:
				if prev := last.Load(); prev >= 0 && n != prev+1 {
					badLine.Store(fmt.Sprintf("commit %d after commit %d", n, prev))
				}
				last.Store(n)
			}
		}
	}()

	if !fromStart {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			t.Errorf("round %d: child not ready after a minute", round)
		}
	}
	p.KillAfter(delay)
	<-done
	if err := p.Wait(); err != nil {
		t.Fatalf("round %d (%s): %v", round, s.mode, err)
	}
	if p.ExitedByItself() {
		t.Fatalf("round %d (%s): child exited by itself with status %d before the kill:\n%s", round, s.mode, p.ExitCode(), p.Stderr())
	}
	if stderr := p.Stderr(); strings.Contains(stderr, "DATA RACE") || strings.Contains(stderr, "panic") {
		t.Fatalf("round %d (%s): child stderr:\n%s", round, s.mode, stderr)
	}
	if b := badLine.Load(); b != nil {
		t.Fatalf("round %d: child reported %s", round, b)
	}

	reported := last.Load()
	if reported >= 0 {
		s.commits += reported - s.max
	}
	hot := false
	for _, suffix := range []string{"-wal", "-journal"} {
		if fi, err := os.Stat(s.path + suffix); err == nil && fi.Size() > 0 {
			hot = true
		}
	}
	if hot {
		s.hot++
	}

	// Every other visit checks a copy (without -shm), leaving the original
	// files for the next child to recover; the others check in place.
	path := s.path
	if s.visits%2 == 0 {
		path = filepath.Join(filepath.Dir(s.path), "check", filepath.Base(s.path))
		storefiles.Copy(t, s.path, path)
	}
	first, max, err := crashCheck(k, path, s.mode, s.first, path == s.path)
	if err != nil {
		t.Fatalf("round %d (%s, killed %v after %s, %d commits reported): %v",
			round, s.mode, delay, map[bool]string{true: "start", false: "ready"}[fromStart], reported, err)
	}
	floor := s.max
	if reported > floor {
		floor = reported
	}
	if max < floor {
		t.Fatalf("round %d (%s): the last transaction stored is %d, but %d was committed", round, s.mode, max, floor)
	}
	if max > floor+1 {
		t.Fatalf("round %d (%s): the last transaction stored is %d, but at most %d can have committed", round, s.mode, max, floor+1)
	}
	if testing.Verbose() {
		t.Logf("round %3d %-6s kill %3dms after %-5s reported %6d stored %6d hot=%v checked %s",
			round, s.mode, delay.Milliseconds(), map[bool]string{true: "start", false: "ready"}[fromStart],
			reported, max, hot, map[bool]string{true: "in place", false: "copy"}[path == s.path])
	}
	s.first, s.max = first, max
}

// crashKeepFiles copies the stores of a failed run (and the test key, in
// hex) to keep for a post-mortem.
func crashKeepFiles(t *testing.T, dir, keep string, key []byte) {
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(keep, filepath.Dir(rel)), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(keep, rel), b, 0o600)
	})
	if err == nil {
		err = os.WriteFile(filepath.Join(keep, "key.hex"), []byte(hex.EncodeToString(key)+"\n"), 0o600)
	}
	if err != nil {
		t.Logf("keep the stores in %s: %v", keep, err)
		return
	}
	t.Logf("stores and key kept in %s", keep)
}

// crashCheck opens the store at path (recovering it), checks its integrity
// and contents, and returns the range of transactions it holds. The
// transactions first..last must all be there, each with all its rows and
// their exact payloads, crash_meta must agree, and first must be
// wantFirst. If prune is set and the
// store holds more than crashPruneAt transactions, it then deletes all but
// the newest crashKeep, and reports the new first.
func crashCheck(k *engine.Keyed, path, mode string, wantFirst int64, prune bool) (first, last int64, err error) {
	c, err := engine.Open(path, crashOptions(k, mode))
	if err != nil {
		return 0, 0, fmt.Errorf("reopen: %w", err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	fail := func(format string, args ...any) (int64, int64, error) {
		return 0, 0, fmt.Errorf(format, args...)
	}

	s, _, err := c.Prepare("PRAGMA integrity_check")
	if err != nil {
		return fail("integrity_check: %w", err)
	}
	var msgs []string
	for s.Step() {
		msgs = append(msgs, s.ColumnText(0))
	}
	err = s.Err()
	s.Close()
	if err != nil {
		return fail("integrity_check: %w", err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fail("integrity_check: %q", msgs)
	}
	if got, err := crashQueryText(c, "PRAGMA journal_mode"); err != nil || got != mode {
		return fail("journal_mode=%q (%v), want %q", got, err, mode)
	}

	if first, err = crashQueryInt(c, "SELECT first FROM crash_meta"); err != nil {
		return fail("read crash_meta: %w", err)
	}
	if last, err = crashQueryInt(c, "SELECT last FROM crash_meta"); err != nil {
		return fail("read crash_meta: %w", err)
	}
	if first != wantFirst {
		return fail("crash_meta.first=%d, want %d (the last prune)", first, wantFirst)
	}
	s, _, err = c.Prepare("SELECT seq, i, payload FROM crash ORDER BY seq, i")
	if err != nil {
		return fail("%w", err)
	}
	seq, rows := first-1, crashRows(first-1)
	for s.Step() {
		q, i := s.ColumnInt64(0), s.ColumnInt(1)
		if q != seq {
			if rows != crashRows(seq) {
				break
			}
			if q != seq+1 {
				s.Close()
				return fail("transaction %d follows %d: transactions missing (kept from %d)", q, seq, first)
			}
			seq, rows = q, 0
		}
		if i != rows {
			s.Close()
			return fail("transaction %d: row %d where row %d belongs", seq, i, rows)
		}
		if got, want := s.ColumnRawBlob(2), crashPayload(seq, i); string(got) != string(want) {
			s.Close()
			return fail("transaction %d row %d: payload of %d bytes differs from the %d written", seq, i, len(got), len(want))
		}
		rows++
	}
	err = s.Err()
	s.Close()
	if err != nil {
		return fail("scan: %w", err)
	}
	if rows != crashRows(seq) {
		return fail("transaction %d has %d rows, want %d (partial transaction)", seq, rows, crashRows(seq))
	}
	if seq != last {
		return fail("crash_meta.last=%d but the last transaction stored is %d", last, seq)
	}

	if prune && last-first+1 > crashPruneAt {
		first = last - crashKeep + 1
		if err := c.Exec(fmt.Sprintf("BEGIN; DELETE FROM crash WHERE seq < %d; UPDATE crash_meta SET first = %d; COMMIT", first, first)); err != nil {
			return fail("prune: %w", err)
		}
	}
	return first, last, nil
}
