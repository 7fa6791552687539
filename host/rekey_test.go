package host_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// The tests of Rekey's SQLite half: the keyring's protocol (locks, headers,
// recovery) runs here with the real re-encrypter, on databases whose rows
// sit partly in the database file and partly in the WAL. The keyring's own
// tests check the protocol with a stand-in re-encrypter.

// rkPath returns a store path in a fresh directory.
func rkPath(t testing.TB) string { return filepath.Join(t.TempDir(), "store.db") }

// rkKEK returns a random KEK.
func rkKEK(t testing.TB) []byte {
	k := make([]byte, keyring.KEKSize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// rkOpen opens the encrypted database at db with dek in WAL mode, without
// automatic checkpoints so that recent rows stay in the -wal.
func rkOpen(t testing.TB, db string, dek []byte) (*sqlite3.Conn, *engine.Keyed) {
	t.Helper()
	k, err := engine.RegisterKey(dek)
	if err != nil {
		t.Fatal(err)
	}
	c, err := engine.Open(db, engine.Options{VFS: k.Name, Encrypted: true, JournalMode: "wal"})
	if err != nil {
		k.Close()
		t.Fatalf("open %s: %v", db, err)
	}
	if err := c.Exec("PRAGMA wal_autocheckpoint=0"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); k.Close() })
	return c, k
}

// rkRows is the content every rekey test checks.
func rkRows(n int) []string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf("row %d %s", i, bytes.Repeat([]byte{byte('a' + i%26)}, 700))
	}
	return rows
}

// rkFill creates a database with rows under a header wrapped with kek:
// the first half checkpointed into the database file, the second half
// left in the WAL.
func rkFill(t testing.TB, db string, kek []byte, rows []string) {
	t.Helper()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	c, k := rkOpen(t, db, dek)
	if err := c.Exec("CREATE TABLE r (i INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if err := c.Exec(fmt.Sprintf("INSERT INTO r VALUES (%d, '%s')", i, r)); err != nil {
			t.Fatal(err)
		}
		if i == len(rows)/2 {
			if _, _, err := c.WALCheckpoint("main", sqlite3.CHECKPOINT_TRUNCATE); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.Close()
	k.Close()
}

// rkCheck opens the database with the DEK the header gives for kek, checks
// integrity and every row, and returns the DEK.
func rkCheck(t testing.TB, db string, kek []byte, rows []string) []byte {
	t.Helper()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatalf("load DEK: %v", err)
	}
	c, k := rkOpen(t, db, dek)
	defer func() { c.Close(); k.Close() }()
	st, _, err := c.Prepare("SELECT (SELECT quick_check FROM pragma_quick_check), count(*) FROM r")
	if err != nil {
		t.Fatalf("prepare: %v", sqlitevfs.ConnError(c, err))
	}
	if !st.Step() {
		t.Fatalf("check: %v", sqlitevfs.ConnError(c, st.Err()))
	}
	if got := st.ColumnText(0); got != "ok" {
		t.Fatalf("quick_check = %q", got)
	}
	if got := st.ColumnInt(1); got != len(rows) {
		t.Fatalf("rows = %d, want %d", got, len(rows))
	}
	st.Close()
	st, _, _ = c.Prepare("SELECT i, v FROM r ORDER BY i")
	for st.Step() {
		if i := st.ColumnInt(0); st.ColumnText(1) != rows[i] {
			t.Fatalf("row %d differs", i)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(sqlitevfs.ConnError(c, err))
	}
	st.Close()
	return dek
}

// rkDir lists the files in dir.
func rkDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		m[e.Name()] = string(data)
	}
	return m
}

func TestRekey(t *testing.T) {
	db := rkPath(t)
	kek := rkKEK(t)
	rows := rkRows(40)
	rkFill(t, db, kek, rows)
	oldDEK, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(db + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the test needs rows in the WAL: %v", err)
	}

	if err := host.Rekey(db, keyring.RawKEK(kek)); err != nil {
		t.Fatal(err)
	}
	newDEK := rkCheck(t, db, kek, rows)
	if bytes.Equal(oldDEK, newDEK) {
		t.Fatal("Rekey kept the DEK")
	}
	// The old DEK no longer opens the database.
	k, err := engine.RegisterKey(oldDEK)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	_, err = engine.Open(db, engine.Options{VFS: k.Name, Encrypted: true})
	if !errors.Is(err, sqlitevfs.ErrWrongKey) {
		t.Fatalf("open with the old DEK: err=%v, want ErrWrongKey", err)
	}
	// Nothing is left behind.
	base := filepath.Base(db)
	for name := range rkDir(t, filepath.Dir(db)) {
		switch name {
		case base, base + ".dek", base + "-wal", base + "-shm", base + ".lock", base + ".dek.lock":
		default:
			t.Errorf("leftover file %s", name)
		}
	}
	// A wrong KEK changes nothing.
	before := rkDir(t, filepath.Dir(db))
	if err := host.Rekey(db, keyring.RawKEK(rkKEK(t))); !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("Rekey with a wrong KEK: %v, want ErrWrongKEK", err)
	}
	if after := rkDir(t, filepath.Dir(db)); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("Rekey with a wrong KEK changed the files")
	}

	// Bad arguments.
	if err := host.Rekey("", keyring.RawKEK(kek)); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("Rekey with an empty path: %v, want ErrInvalidArgument", err)
	}
	if err := host.Rekey(db, nil); !errors.Is(err, host.ErrInvalidArgument) {
		t.Fatalf("Rekey with no KEK source: %v, want ErrInvalidArgument", err)
	}
}

// TestRekeyInUse opens the database with a plain SQLite connection, which
// takes no store lock: the re-encrypter's exclusive lock must refuse the
// rekey with ErrInUse and change nothing.
func TestRekeyInUse(t *testing.T) {
	db := rkPath(t)
	kek := rkKEK(t)
	rows := rkRows(10)
	rkFill(t, db, kek, rows)
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := rkOpen(t, db, dek) // another user of the database
	if err := host.Rekey(db, keyring.RawKEK(kek)); !errors.Is(err, keyring.ErrInUse) {
		t.Fatalf("Rekey with the database open: err=%v, want ErrInUse", err)
	}
	c.Close()
	for _, name := range []string{".dek.next", ".rekey"} {
		if _, err := os.Stat(db + name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused Rekey left %s behind: %v", filepath.Base(db+name), err)
		}
	}
	if got := rkCheck(t, db, kek, rows); !bytes.Equal(got, dek) {
		t.Fatal("a refused Rekey changed the DEK")
	}
}

// TestRekeyInterrupted stops the SQLite rekey before and after the rename
// of the copy, as if the process had died there; the next keyring
// operation must roll the rekey back or finish it, with every row.
func TestRekeyInterrupted(t *testing.T) {
	for _, c := range []struct {
		stage string
		newer bool
	}{{"before-rename", false}, {"renamed", true}} {
		t.Run(c.stage, func(t *testing.T) {
			db := rkPath(t)
			kek := rkKEK(t)
			rows := rkRows(30)
			rkFill(t, db, kek, rows)
			oldDEK, _, err := keyring.LoadOrCreateDEK(db, kek)
			if err != nil {
				t.Fatal(err)
			}
			err = host.RekeyStoppedAt(db, keyring.RawKEK(kek), c.stage)
			if !errors.Is(err, host.ErrRekeyStopped) {
				t.Fatalf("stopped rekey: %v", err)
			}
			if _, err := os.Stat(db + ".dek.next"); err != nil {
				t.Fatalf("the stopped rekey left no header: %v", err)
			}
			// The database opens with the DEK the header gives once the
			// keyring has recovered, and holds every row. (TestFileModes
			// recovers through OpenWithKEK.)
			got := rkCheck(t, db, kek, rows)
			if old := bytes.Equal(got, oldDEK); old == c.newer {
				t.Fatalf("after recovery the store uses the old DEK: %v, want %v", old, !c.newer)
			}
			for _, name := range []string{".dek.next", ".rekey"} {
				if _, err := os.Stat(db + name); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("recovery left %s behind: %v", filepath.Base(db+name), err)
				}
			}
		})
	}
}

// rekeyLoopArgs are the arguments of the rekey-loop child.
type rekeyLoopArgs struct {
	DB string // the store the child rekeys
}

var _ = proc.Role("rekey-loop", rekeyLoopChild)

var rekeyCrashKEK = bytes.Repeat([]byte{7}, keyring.KEKSize)

// rekeyLoopChild is the child of TestRekeyCrash: it rekeys the store with
// rekeyCrashKEK until it is killed, printing "rekeyed N" after each rekey.
func rekeyLoopChild() int {
	proc.ExitWithParent(5 * time.Minute)
	var a rekeyLoopArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	for i := 0; ; i++ {
		if err := host.Rekey(a.DB, keyring.RawKEK(rekeyCrashKEK)); err != nil {
			proc.Fail("rekey: %v", err)
		}
		fmt.Println("rekeyed", i)
	}
}

// TestRekeyCrash kills a process at random moments while it rekeys a
// WAL-mode store over and over. After every kill the store must open with
// the DEK the header gives and hold every row.
func TestRekeyCrash(t *testing.T) {
	proc.Skip(t)
	rounds := proc.Rounds(t, 50, 10)
	rng := proc.Rand(t, 0)

	db := rkPath(t)
	kek := rekeyCrashKEK
	rows := rkRows(60)
	rkFill(t, db, kek, rows)
	var completed int
	start := time.Now()
	if err := host.Rekey(db, keyring.RawKEK(kek)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("one rekey takes %v here", took)
	// The children share the compilation cache the parent warmed, so
	// they start in milliseconds, not a second.
	env := childEnv(childCacheDir(t))
	// Until a child has completed a rekey (children start slowly under
	// -race on a loaded machine), rounds go on, up to 4× as many, each
	// giving the child half a second more before the kill.
	round := 0
	for ; round < rounds || completed == 0 && round < 4*rounds; round++ {
		extra := time.Duration(0)
		if completed == 0 {
			extra = time.Duration(round) * 500 * time.Millisecond
		}
		p := proc.Start(t, proc.Spec{Role: "rekey-loop", Args: rekeyLoopArgs{DB: db}, Env: env})
		lines := make(chan int, 1024)
		go func() {
			p.Lines(func(line string) {
				if strings.HasPrefix(line, "rekeyed ") {
					lines <- 1
				}
			})
			close(lines)
		}()
		// Scaled by the rekey time, so that children on a loaded machine
		// (or under -race) still complete some rekeys.
		p.KillAfter(2*took + extra + time.Duration(20+rng.IntN(400))*time.Millisecond)
		for range lines {
			completed++
		}
		if err := p.Wait(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		rkCheck(t, db, kek, rows)
	}
	t.Logf("%d rounds, %d rekeys completed by children", round, completed)
	if completed == 0 {
		t.Error("no child ever completed a rekey: the kills came too early to test anything")
	}
}

// TestRekeyRacesHeaderOps runs keyring.LoadOrCreateDEK, ExportDEK and
// RotateKEK while a Rekey is in progress, at delays spread over its
// duration. The original rekey recovery took no lock and deleted the
// running rekey's <db>.dek.next and <db>.rekey, leaving the store
// unopenable or empty. Now the operations wait for the rekey (or the rekey
// for them) and the store keeps every row.
func TestRekeyRacesHeaderOps(t *testing.T) {
	db := rkPath(t)
	kek, kek2 := rkKEK(t), rkKEK(t)
	rows := rkRows(200)
	rkFill(t, db, kek, rows)
	start := time.Now()
	if err := host.Rekey(db, keyring.RawKEK(kek)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("one rekey takes %v", took)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 16 {
		delay := took * time.Duration(i) / 14
		done := make(chan error, 1)
		rk := kek
		go func() { done <- host.Rekey(db, keyring.RawKEK(rk)) }()
		time.Sleep(delay)
		var err error
		switch i % 3 {
		case 0:
			_, _, err = keyring.LoadOrCreateDEK(db, kek)
		case 1:
			err = keyring.ExportDEK(db, kek, []byte(id.Recipient().String()), filepath.Join(t.TempDir(), "e.age"))
		case 2:
			if err = keyring.RotateKEK(db, kek, kek2); err == nil {
				kek, kek2 = kek2, kek
			}
		}
		if err != nil {
			t.Fatalf("delay %v: op %d: %v", delay, i%3, err)
		}
		err = <-done
		if i%3 == 2 && errors.Is(err, keyring.ErrWrongKEK) {
			err = nil // the rotation got the lock first: a legitimate order
		}
		if err != nil {
			t.Fatalf("delay %v: rekey: %v", delay, err)
		}
		rkCheck(t, db, kek, rows)
	}
}

// TestRekeyRefuses: Rekey of a missing database, of a store keyed by its
// raw data key (no header) and of a plaintext store fails with a typed
// error that says which, and creates no database or header.
func TestRekeyRefuses(t *testing.T) {
	dir := t.TempDir()
	kek := rkKEK(t)
	missing := filepath.Join(dir, "missing.db")
	if err := host.Rekey(missing, keyring.RawKEK(kek)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rekey of a missing database: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rekey created the missing database: %v", err)
	}

	raw := filepath.Join(dir, "raw.db")
	s, err := host.OpenEncrypted(raw, host.EncryptionAtRest, rkKEK(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := host.Rekey(raw, keyring.RawKEK(kek)); !errors.Is(err, keyring.ErrNoHeader) {
		t.Errorf("Rekey of a store keyed by its raw data key: %v, want keyring.ErrNoHeader", err)
	}
	if _, err := os.Stat(keyring.HeaderPath(raw)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rekey created a header for a raw-key store: %v", err)
	}

	plain := filepath.Join(dir, "plain.db")
	s, err = host.Open(plain)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := host.Rekey(plain, keyring.RawKEK(kek)); !errors.Is(err, host.ErrPlaintextStore) {
		t.Errorf("Rekey of a plaintext store: %v, want ErrPlaintextStore", err)
	}
}
