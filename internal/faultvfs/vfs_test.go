package faultvfs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/faultvfs"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// setBase puts v under every VFS the engine registers for the test.
func setBase(t *testing.T, v *faultvfs.VFS) {
	t.Helper()
	restore := engine.SetBaseVFS(v)
	t.Cleanup(restore)
}

func randomKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// flavor is a way to open a database through the engine: plaintext, or
// encrypted with a VFS keyed for the test.
type flavor struct {
	name string
	opts func(t *testing.T) engine.Options
}

var flavors = []flavor{
	{"plain", func(*testing.T) engine.Options { return engine.Options{} }},
	{"encrypted", func(t *testing.T) engine.Options {
		k, err := engine.RegisterKey(randomKey(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(k.Close)
		return engine.Options{VFS: k.Name, Encrypted: true}
	}},
}

func exec(t *testing.T, c *sqlite3.Conn, sql string) {
	t.Helper()
	if err := c.Exec(sql); err != nil {
		t.Fatalf("%s: %v", sql, sqlitevfs.ConnError(c, err))
	}
}

func queryInt(t *testing.T, c *sqlite3.Conn, sql string) int64 {
	t.Helper()
	st, _, err := c.Prepare(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer st.Close()
	if !st.Step() {
		t.Fatalf("%s: no row: %v", sql, sqlitevfs.ConnError(c, st.Err()))
	}
	return st.ColumnInt64(0)
}

func queryText(t *testing.T, c *sqlite3.Conn, sql string) string {
	t.Helper()
	st, _, err := c.Prepare(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer st.Close()
	if !st.Step() {
		t.Fatalf("%s: no row: %v", sql, sqlitevfs.ConnError(c, st.Err()))
	}
	return st.ColumnText(0)
}

// TestPassThrough: with no fault armed, a database opened through the VFS
// (under the encrypting VFS, or plaintext) is written, read, checkpointed
// and reopened as without it, and every call is counted.
func TestPassThrough(t *testing.T) {
	for _, fl := range flavors {
		t.Run(fl.name, func(t *testing.T) {
			v := faultvfs.New(nil)
			setBase(t, v)
			opts := fl.opts(t)
			path := filepath.Join(t.TempDir(), "db")
			c, err := engine.Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			exec(t, c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
			for i := range 200 {
				exec(t, c, fmt.Sprintf("INSERT INTO t(v) VALUES (randomblob(%d))", 100+i*10))
			}
			if n := queryInt(t, c, "SELECT count(*) FROM t"); n != 200 {
				t.Fatalf("count = %d, want 200", n)
			}
			if _, _, err := c.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE); err != nil {
				t.Fatal(err)
			}
			if ok := queryText(t, c, "PRAGMA integrity_check"); ok != "ok" {
				t.Fatalf("integrity_check: %s", ok)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			st := v.Stats()
			for _, op := range []faultvfs.Op{faultvfs.OpRead, faultvfs.OpWrite, faultvfs.OpSync, faultvfs.OpLock, faultvfs.OpOpen} {
				if st.Ops[op].Calls == 0 || st.Ops[op].Injected != 0 {
					t.Errorf("%v: %+v, want calls and no fault", op, st.Ops[op])
				}
			}
			for _, name := range []string{path, path + "-wal"} {
				if st.Files[name].Calls == 0 {
					t.Errorf("no call counted for %s (files: %v)", name, st.Files)
				}
			}
			// Reopened without faults in the way.
			c, err = engine.Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if n := queryInt(t, c, "SELECT count(*) FROM t"); n != 200 {
				t.Fatalf("reopened: count = %d, want 200", n)
			}
		})
	}
}

// TestNthFault: the Nth counted write fails with the armed error, which
// reaches the caller as the OS's would (ENOSPC as sqlitevfs.ErrDiskFull);
// the transaction rolls back and the database works once disarmed.
func TestNthFault(t *testing.T) {
	for _, fl := range flavors {
		for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EIO} {
			t.Run(fl.name+"/"+errno.Error(), func(t *testing.T) {
				v := faultvfs.New(nil)
				setBase(t, v)
				opts := fl.opts(t)
				path := filepath.Join(t.TempDir(), "db")
				c, err := engine.Open(path, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				exec(t, c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
				v.Arm(faultvfs.Fault{Ops: faultvfs.OpWrite, N: 2, Err: errno})
				err = c.Exec("INSERT INTO t(v) VALUES (randomblob(10000))")
				if err == nil {
					t.Fatal("insert succeeded through a failing write")
				}
				err = sqlitevfs.ConnError(c, err)
				// sqlitevfs keeps the OS error of a full disk for the
				// connection; other errors keep their SQLite code only
				// (SQLite's rollback replaces go-sqlite3's record), as
				// with the OS VFS alone.
				if errno == syscall.ENOSPC && !errors.Is(err, errno) {
					t.Errorf("error %v does not match %v", err, errno)
				}
				if full := errors.Is(err, sqlitevfs.ErrDiskFull); full != (errno == syscall.ENOSPC) {
					t.Errorf("error %v: ErrDiskFull = %v", err, full)
				}
				if !errors.Is(err, sqlite3.IOERR) {
					t.Errorf("error %v is not an IOERR", err)
				}
				if got := v.Injected(); got != 1 {
					t.Errorf("Injected = %d, want 1", got)
				}
				if got := v.Calls(); got < 2 {
					t.Errorf("Calls = %d, want >= 2", got)
				}
				if st := v.Stats(); st.Ops[faultvfs.OpWrite].Injected != 1 || st.Ops[faultvfs.OpSync].Injected != 0 {
					t.Errorf("Stats = %+v", st.Ops)
				}
				// Only the Nth: the next statement writes.
				exec(t, c, "INSERT INTO t(v) VALUES (randomblob(10000))")
				v.Disarm()
				exec(t, c, "INSERT INTO t(v) VALUES (randomblob(10000))")
				if n := queryInt(t, c, "SELECT count(*) FROM t"); n != 2 {
					t.Fatalf("count = %d, want 2", n)
				}
				if ok := queryText(t, c, "PRAGMA integrity_check"); ok != "ok" {
					t.Fatalf("integrity_check: %s", ok)
				}
			})
		}
	}
}

// TestPersistAndFilter: a persistent fault fails every later counted call
// of the files its filter selects, and no other.
func TestPersistAndFilter(t *testing.T) {
	v := faultvfs.New(nil)
	setBase(t, v)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ca, err := engine.Open(a, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := engine.Open(b, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	v.Arm(faultvfs.Fault{Ops: faultvfs.OpWrite | faultvfs.OpSync, N: 1, Persist: true, Err: syscall.ENOSPC,
		Files: func(name string) bool { return strings.HasPrefix(name, a) }})
	for i := range 3 {
		if err := ca.Exec(fmt.Sprintf("CREATE TABLE t%d(x)", i)); !errors.Is(sqlitevfs.ConnError(ca, err), sqlitevfs.ErrDiskFull) {
			t.Fatalf("write %d to a full disk: %v", i, err)
		}
		exec(t, cb, fmt.Sprintf("CREATE TABLE t%d(x)", i))
	}
	if v.Injected() != v.Calls() || v.Injected() < 3 {
		t.Errorf("Injected %d, Calls %d: want every counted call failed", v.Injected(), v.Calls())
	}
	v.Disarm()
	exec(t, ca, "CREATE TABLE t(x)")
}

// TestRandomReproducible: random faults with one seed fail the same calls.
func TestRandomReproducible(t *testing.T) {
	run := func(seed uint64) (injected []int) {
		v := faultvfs.New(nil)
		setBase(t, v)
		c, err := engine.Open(filepath.Join(t.TempDir(), "db"), engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		exec(t, c, "CREATE TABLE t(v)")
		v.Arm(faultvfs.Fault{Ops: faultvfs.OpWrite | faultvfs.OpSync, Prob: 0.2, Seed: seed})
		for i := range 50 {
			if c.Exec("INSERT INTO t VALUES (randomblob(3000))") != nil {
				injected = append(injected, i)
			}
		}
		if len(injected) == 0 || len(injected) == 50 {
			t.Errorf("seed %d: %d of 50 statements failed with p=0.2", seed, len(injected))
		}
		return injected
	}
	a, b, other := run(7), run(7), run(8)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("seed 7 failed %v, then %v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(other) {
		t.Errorf("seeds 7 and 8 failed the same statements %v", a)
	}
}

func event(sess string, i int) abi.EventEnvelope {
	return abi.EventEnvelope{Session: abi.SessionID(sess), Turn: i, Kind: abi.KindUserMessage,
		Payload: json.RawMessage(fmt.Sprintf(`{"text":"event %d %s"}`, i, bytes.Repeat([]byte("x"), 2000)))}
}

// TestStoreDiskFull: an injected ENOSPC reaches a host.Store caller as
// host.ErrDiskFull, plaintext and encrypted, and the store works once the
// disk has room again.
func TestStoreDiskFull(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			v := faultvfs.New(nil)
			setBase(t, v)
			path := filepath.Join(t.TempDir(), "sessions.db")
			cfg := host.NewConfig()
			if enc {
				cfg = cfg.WithKEKSource(keyring.RawKEK(randomKey(t)))
			}
			s, err := host.OpenWithConfig(path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if _, err := s.Append(ctx, event("s", 0)); err != nil {
				t.Fatal(err)
			}
			v.Arm(faultvfs.Fault{Ops: faultvfs.OpWrite, N: 1, Persist: true, Err: syscall.ENOSPC})
			_, err = s.Append(ctx, event("s", 1))
			if !errors.Is(err, host.ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Append on a full disk: %v, want host.ErrDiskFull wrapping ENOSPC", err)
			}
			v.Disarm()
			if _, err := s.Append(ctx, event("s", 2)); err != nil {
				t.Fatalf("Append after the disk has room: %v", err)
			}
			evs, err := s.EventsSince(ctx, "s", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 2 {
				t.Fatalf("%d events, want 2 (the failed append rolled back)", len(evs))
			}
		})
	}
}

// TestHookCoversEveryFile: while the hook is set, every SQLite file of a
// store goes through the VFS: the database and its WAL, a rollback
// journal, the copies of Encrypt and Rekey, the cost ledger and the
// monthly rollover's month files.
func TestHookCoversEveryFile(t *testing.T) {
	v := faultvfs.New(nil)
	setBase(t, v)
	dir := t.TempDir()
	ctx := context.Background()
	kek := keyring.RawKEK(randomKey(t))

	// A plaintext store, encrypted, then rekeyed.
	path := filepath.Join(dir, "sessions.db")
	s, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, event("s", 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := host.Encrypt(path, kek); err != nil {
		t.Fatal(err)
	}
	encCopy := v.Stats().Files[path+".rekey"]
	if err := host.Rekey(path, kek); err != nil {
		t.Fatal(err)
	}
	s, err = host.OpenWithConfig(path, host.NewConfig().WithKEKSource(kek))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, event("s", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The cost ledger.
	ledger := filepath.Join(dir, "costs.db")
	l, err := host.OpenCostLedgerWithConfig(ledger, host.NewConfig().WithKEKSource(kek))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, "s", "openai", "gpt", 10, 20, 0.01); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Two months of a rollover.
	var now = time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	months := filepath.Join(dir, "months")
	m, err := host.NewMonthlyRolloverWithConfig(months,
		host.NewConfig().WithKEKSource(kek).WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(ctx, event("r", 0)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := m.Append(ctx, event("r", 1)); err != nil {
		t.Fatal(err)
	}
	archives, err := m.ListArchives()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// A rollback journal.
	jpath := filepath.Join(dir, "journal.db")
	c, err := engine.Open(jpath, engine.Options{JournalMode: "delete"})
	if err != nil {
		t.Fatal(err)
	}
	exec(t, c, "CREATE TABLE t(x); INSERT INTO t VALUES (1)")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	st := v.Stats()
	want := map[string]faultvfs.Op{
		path:          faultvfs.OpWrite | faultvfs.OpSync,
		path + "-wal": faultvfs.OpWrite | faultvfs.OpSync,
		ledger:        faultvfs.OpWrite,
		jpath:         faultvfs.OpWrite,
	}
	if len(archives) < 2 {
		t.Fatalf("rollover months: %v, want 2", archives)
	}
	for _, a := range archives {
		want[a] = faultvfs.OpWrite
	}
	for name := range want {
		if st.Files[name].Calls == 0 {
			t.Errorf("no call of %s went through the VFS", filepath.Base(name))
		}
	}
	if encCopy.Calls == 0 {
		t.Errorf("Encrypt's copy did not go through the VFS")
	}
	if st.Files[path+".rekey"].Calls <= encCopy.Calls {
		t.Errorf("Rekey's copy did not go through the VFS")
	}
	if st.Files[jpath+"-journal"].Calls == 0 {
		t.Errorf("the rollback journal did not go through the VFS")
	}
	if st.Ops[faultvfs.OpDelete].Calls == 0 || st.Ops[faultvfs.OpTruncate].Calls == 0 {
		t.Errorf("deletes or truncates not counted: %+v", st.Ops)
	}
	if t.Failed() {
		var names []string
		for n, c := range st.Files {
			names = append(names, fmt.Sprintf("%s:%d", filepath.Base(n), c.Calls))
		}
		t.Logf("files: %v", names)
	}
}
