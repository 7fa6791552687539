package keyring_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// openStore opens the encrypted database at db with dek in WAL mode,
// without automatic checkpoints so that recent rows stay in the -wal.
func openStore(t testing.TB, db string, dek []byte) (*sqlite3.Conn, *engine.Keyed) {
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

// rekeyRows is the content every rekey test checks.
func rekeyRows(n int) []string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf("row %d %s", i, bytes.Repeat([]byte{byte('a' + i%26)}, 700))
	}
	return rows
}

// fillStore creates a store with rows: the first half checkpointed into
// the database file, the second half left in the WAL.
func fillStore(t testing.TB, db string, kek []byte, rows []string) {
	t.Helper()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	c, k := openStore(t, db, dek)
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

// checkStore opens the store with the DEK the header gives for kek and
// checks integrity and every row.
func checkStore(t testing.TB, db string, kek []byte, rows []string) []byte {
	t.Helper()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatalf("load DEK: %v", err)
	}
	c, k := openStore(t, db, dek)
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

func TestRekey(t *testing.T) {
	db := newDB(t)
	kek := newKEK()
	rows := rekeyRows(40)
	fillStore(t, db, kek, rows)
	oldDEK, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(db + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the test needs rows in the WAL: %v", err)
	}

	if err := keyring.Rekey(db, kek); err != nil {
		t.Fatal(err)
	}
	newDEK := checkStore(t, db, kek, rows)
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
	entries, _ := os.ReadDir(filepath.Dir(db))
	for _, e := range entries {
		switch e.Name() {
		case "store.db", "store.db.dek", "store.db-wal", "store.db-shm", "store.db.lock", "store.db.dek.lock":
		default:
			t.Errorf("leftover file %s", e.Name())
		}
	}
	// A wrong KEK changes nothing.
	before := snapshot(t, filepath.Dir(db))
	wantErr(t, keyring.Rekey(db, newKEK()), keyring.ErrWrongKEK)
	assertUnchanged(t, filepath.Dir(db), before)
}

func TestRekeyInUse(t *testing.T) {
	db := newDB(t)
	kek := newKEK()
	rows := rekeyRows(10)
	fillStore(t, db, kek, rows)
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := openStore(t, db, dek) // another user of the database
	if err := keyring.Rekey(db, kek); !errors.Is(err, keyring.ErrInUse) {
		t.Fatalf("Rekey with the database open: err=%v, want ErrInUse", err)
	}
	c.Close()
	if got := checkStore(t, db, kek, rows); !bytes.Equal(got, dek) {
		t.Fatal("a refused Rekey changed the DEK")
	}
}

// rekeyChildEnv makes the test binary rekey the store it names until killed.
const rekeyChildEnv = "KEYRING_TEST_REKEY_CHILD"

func TestMain(m *testing.M) {
	if db := os.Getenv(rekeyChildEnv); db != "" {
		for i := 0; ; i++ {
			if err := keyring.Rekey(db, crashKEK(7)); err != nil {
				fmt.Fprintln(os.Stderr, "rekey:", err)
				os.Exit(3)
			}
			fmt.Println("rekeyed", i)
		}
	}
	os.Exit(m.Run())
}

// TestRekeyCrash SIGKILLs a process at random moments while it rekeys a
// WAL-mode store over and over. After every kill the store must open with
// the DEK the header gives and hold every row.
func TestRekeyCrash(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL semantics: unix only")
	}
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	if s := os.Getenv("GOFASTR_CRASH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	db := newDB(t)
	kek := crashKEK(7)
	rows := rekeyRows(60)
	fillStore(t, db, kek, rows)
	var completed int
	start := time.Now()
	if err := keyring.Rekey(db, kek); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("one rekey takes %v here", took)
	// Until a child has completed a rekey (children start slowly under
	// -race on a loaded machine), rounds go on, up to 4× as many, each
	// giving the child half a second more before the kill.
	round := 0
	for ; round < rounds || completed == 0 && round < 4*rounds; round++ {
		extra := time.Duration(0)
		if completed == 0 {
			extra = time.Duration(round) * 500 * time.Millisecond
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		// The child inherits the compilation cache the parent warmed, so
		// it starts in milliseconds, not a second.
		cmd.Env = append(os.Environ(), rekeyChildEnv+"="+db)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan int, 1024)
		go func() {
			s := bufio.NewScanner(out)
			for s.Scan() {
				lines <- 1
			}
			close(lines)
		}()
		// Scaled by the rekey time, so that children on a loaded machine
		// (or under -race) still complete some rekeys.
		time.Sleep(2*took + extra + time.Duration(20+rng.IntN(400))*time.Millisecond)
		cmd.Process.Kill()
		for range lines {
			completed++
		}
		cmd.Wait()
		if bytes.Contains(stderr.Bytes(), []byte("rekey:")) {
			t.Fatalf("round %d: child failed: %s", round, stderr.String())
		}
		checkStore(t, db, kek, rows)
	}
	t.Logf("%d rounds, %d rekeys completed by children", round, completed)
	if completed == 0 {
		t.Error("no child ever completed a rekey: the kills came too early to test anything")
	}
}

// TestRekeyRacesHeaderOps runs LoadOrCreateDEK, ExportDEK and RotateKEK
// while a Rekey is in progress, at delays spread over its duration. The
// original recoverRekey took no lock and deleted the running rekey's
// <db>.dek.next and <db>.rekey, leaving the store unopenable or empty. Now
// the operations wait for the rekey (or the rekey for them) and the store
// keeps every row.
func TestRekeyRacesHeaderOps(t *testing.T) {
	db := newDB(t)
	kek, kek2 := newKEK(), newKEK()
	rows := rekeyRows(200)
	fillStore(t, db, kek, rows)
	start := time.Now()
	if err := keyring.Rekey(db, kek); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("one rekey takes %v", took)
	id := newIdentity(t)
	for i := range 16 {
		delay := took * time.Duration(i) / 14
		done := make(chan error, 1)
		rk := kek
		go func() { done <- keyring.Rekey(db, rk) }()
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
		checkStore(t, db, kek, rows)
	}
}
