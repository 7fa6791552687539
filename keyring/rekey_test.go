package keyring_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/keyring"
)

// These tests check the keyring's half of a rekey (locks, headers, commit
// point, recovery) with the fake re-encrypter of fakedb_test.go. Package
// host runs the same protocol with SQLite (host.Rekey).

// wantFiles fails unless the non-lock files in db's directory are exactly
// the suffixes of db in want.
func wantFiles(t *testing.T, db string, want ...string) {
	t.Helper()
	got := map[string]bool{}
	for _, name := range dataFiles(t, filepath.Dir(db)) {
		got[name] = true
	}
	base := filepath.Base(db)
	for _, w := range want {
		if !got[base+w] {
			t.Errorf("%s%s is missing", base, w)
		}
		delete(got, base+w)
	}
	for name := range got {
		t.Errorf("unexpected file %s", name)
	}
}

func TestRekey(t *testing.T) {
	db := newDB(t)
	kek := newKEK()
	rows := rekeyRows(40)
	fillStore(t, db, kek, rows)
	oldDEK := checkStore(t, db, kek, rows)

	if err := rekey(db, kek); err != nil {
		t.Fatal(err)
	}
	newDEK := checkStore(t, db, kek, rows)
	if bytes.Equal(oldDEK, newDEK) {
		t.Fatal("RekeyWith kept the DEK")
	}
	// The old DEK no longer passes the database's key check.
	if uses, err := pagecrypt.FileUsesKey(db, oldDEK); err != nil || uses {
		t.Fatalf("key check of the old DEK after the rekey: %v, %v; want false", uses, err)
	}
	wantFiles(t, db, "", ".dek")
	if fi, err := os.Stat(db); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("database after the rekey: %v, %v", fi, err)
	}

	// A wrong KEK changes nothing.
	before := snapshot(t, filepath.Dir(db))
	wantErr(t, rekey(db, newKEK()), keyring.ErrWrongKEK)
	assertUnchanged(t, filepath.Dir(db), before)

	// No re-encrypter: refused, nothing changed.
	wantErr(t, keyring.RekeyWith(db, keyring.RawKEK(kek), nil), keyring.ErrNoReencrypter)
	assertUnchanged(t, filepath.Dir(db), before)
}

// TestRekeyFails checks that a rekey whose re-encrypter fails, reports the
// database in use, or fails before the rename changes nothing the store
// needs: the rekey's files are gone (at once, or at the next recovery)
// and the store opens with its old DEK.
func TestRekeyFails(t *testing.T) {
	errCommit := errors.New("commit failed")
	for _, c := range []struct {
		name string
		r    *fakeReencrypter
		want error
	}{
		{"in use", &fakeReencrypter{inUse: true}, keyring.ErrInUse},
		{"copy fails", &fakeReencrypter{failCopy: true}, errFakeCopy},
		{"commit fails", &fakeReencrypter{commitErr: errCommit}, errCommit},
		{"commit without rename", &fakeReencrypter{noRename: true}, nil},
		{"no swap", &fakeReencrypter{nilSwap: true}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, kek, rows := newDB(t), newKEK(), rekeyRows(5)
			fillStore(t, db, kek, rows)
			dek := checkStore(t, db, kek, rows)
			before := snapshot(t, filepath.Dir(db))
			err := keyring.RekeyWith(db, keyring.RawKEK(kek), c.r)
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err=%v, want %v", err, c.want)
			}
			if c.r.inUse || c.r.failCopy || c.r.nilSwap {
				assertUnchanged(t, filepath.Dir(db), before)
			}
			if got := checkStore(t, db, kek, rows); !bytes.Equal(got, dek) {
				t.Fatal("a failed rekey changed the DEK")
			}
			wantFiles(t, db, "", ".dek")
		})
	}
}

// TestRekeyInterrupted stops a rekey at each stage, as if the process had
// died there, and checks what the next keyring operation makes of it:
// before the rename of the copy (the commit point) the rekey is rolled
// back, after it the rekey is finished. Each recovering operation is
// tried at each stage.
func TestRekeyInterrupted(t *testing.T) {
	stages := []struct {
		stage string
		files []string // left behind
		newer bool     // the recovery installs the new DEK
	}{
		{"next-written", []string{"", ".dek", ".dek.next"}, false},
		{"before-rename", []string{"", ".dek", ".dek.next", ".rekey"}, false},
		{"renamed", []string{"", ".dek", ".dek.next"}, true},
	}
	id := newIdentity(t)
	recoveries := []struct {
		name string
		run  func(t *testing.T, db string, kek []byte) []byte // returns the KEK now in use
	}{
		{"LoadOrCreateDEK", func(t *testing.T, db string, kek []byte) []byte {
			_, _, err := keyring.LoadOrCreateDEK(db, kek)
			wantErr(t, err, nil)
			return kek
		}},
		{"RotateKEK", func(t *testing.T, db string, kek []byte) []byte {
			kek2 := newKEK()
			wantErr(t, keyring.RotateKEK(db, kek, kek2), nil)
			return kek2
		}},
		{"ExportDEK", func(t *testing.T, db string, kek []byte) []byte {
			wantErr(t, keyring.ExportDEK(db, kek, []byte(id.Recipient().String()), filepath.Join(t.TempDir(), "e.age")), nil)
			return kek
		}},
	}
	for _, s := range stages {
		for _, r := range recoveries {
			t.Run(s.stage+"/"+r.name, func(t *testing.T) {
				db, kek, rows := newDB(t), newKEK(), rekeyRows(5)
				fillStore(t, db, kek, rows)
				oldDEK := checkStore(t, db, kek, rows)
				restore := keyring.StopRekeyAt(s.stage)
				err := rekey(db, kek)
				restore()
				wantErr(t, err, keyring.ErrSimulatedCrash)
				wantFiles(t, db, s.files...)
				for _, name := range s.files {
					if fi, err := os.Stat(db + name); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
						t.Errorf("%s has mode %v, want 0600", filepath.Base(db+name), fi.Mode().Perm())
					}
				}
				kek = r.run(t, db, kek)
				wantFiles(t, db, "", ".dek")
				got := checkStore(t, db, kek, rows)
				if old := bytes.Equal(got, oldDEK); old == s.newer {
					t.Fatalf("after recovery the store uses the old DEK: %v, want %v", old, !s.newer)
				}
				wantFiles(t, db, "", ".dek")
			})
		}
	}

	// A rekey itself finishes an interrupted one first, then rekeys.
	db, kek, rows := newDB(t), newKEK(), rekeyRows(5)
	fillStore(t, db, kek, rows)
	restore := keyring.StopRekeyAt("renamed")
	wantErr(t, rekey(db, kek), keyring.ErrSimulatedCrash)
	restore()
	var mid []byte
	func() {
		// The DEK the interrupted rekey installed, read without recovering.
		nh, err := os.ReadFile(db + ".dek.next")
		if err != nil {
			t.Fatal(err)
		}
		other := newDB(t)
		if err := os.WriteFile(keyring.HeaderPath(other), nh, 0o600); err != nil {
			t.Fatal(err)
		}
		if mid, _, err = keyring.LoadOrCreateDEK(other, kek); err != nil {
			t.Fatal(err)
		}
	}()
	if err := rekey(db, kek); err != nil {
		t.Fatal(err)
	}
	if got := checkStore(t, db, kek, rows); bytes.Equal(got, mid) {
		t.Fatal("the rekey after recovery kept the DEK")
	}
	wantFiles(t, db, "", ".dek")

	// A failure after the rename (a directory fsync, say) is finished by
	// the next operation, like a crash there.
	db, kek = newDB(t), newKEK()
	fillStore(t, db, kek, rows)
	oldDEK := checkStore(t, db, kek, rows)
	errAfter := errors.New("fsync failed")
	wantErr(t, keyring.RekeyWith(db, keyring.RawKEK(kek), &fakeReencrypter{afterErr: errAfter}), errAfter)
	if got := checkStore(t, db, kek, rows); bytes.Equal(got, oldDEK) {
		t.Fatal("a rekey that failed after its commit point was rolled back")
	}
	wantFiles(t, db, "", ".dek")
}

// rekeyLoopArgs are the arguments of the rekey-loop child.
type rekeyLoopArgs struct {
	DB string // the store the child rekeys
}

var _ = proc.Role("rekey-loop", rekeyLoopChild)

// rekeyLoopChild is the child of TestRekeyCrash: it rekeys the store with
// crashKEK(7) until it is killed, printing "rekeyed N" after each rekey.
func rekeyLoopChild() int {
	proc.ExitWithParent(5 * time.Minute)
	var a rekeyLoopArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	for i := 0; ; i++ {
		if err := rekey(a.DB, crashKEK(7)); err != nil {
			proc.Fail("rekey: %v", err)
		}
		fmt.Println("rekeyed", i)
	}
}

// TestRekeyCrash kills a process at random moments while it rekeys a
// store over and over. After every kill the store must open with the DEK
// the header gives and hold all of its data. (host.TestRekeyCrash does
// the same with SQLite.)
func TestRekeyCrash(t *testing.T) {
	proc.Skip(t)
	rounds := proc.Rounds(t, 50, 10)
	rng := proc.Rand(t, 0)

	db := newDB(t)
	kek := crashKEK(7)
	rows := rekeyRows(60)
	fillStore(t, db, kek, rows)
	var completed int
	round := 0
	// Until a child has completed a rekey (children start slowly on a
	// loaded machine), rounds go on, up to 4× as many, each giving the
	// child a tenth of a second more before the kill.
	for ; round < rounds || completed == 0 && round < 4*rounds; round++ {
		p := proc.Start(t, proc.Spec{Role: "rekey-loop", Args: rekeyLoopArgs{DB: db}})
		lines := make(chan int, 1024)
		go func() {
			p.Lines(func(line string) {
				if strings.HasPrefix(line, "rekeyed ") {
					lines <- 1
				}
			})
			close(lines)
		}()
		extra := time.Duration(0)
		if completed == 0 {
			extra = time.Duration(round) * 100 * time.Millisecond
		}
		p.KillAfter(extra + time.Duration(5+rng.IntN(100))*time.Millisecond)
		for range lines {
			completed++
		}
		if err := p.Wait(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		checkStore(t, db, kek, rows)
	}
	t.Logf("%d rounds, %d rekeys completed by children", round, completed)
	if completed == 0 {
		t.Error("no child ever completed a rekey: the kills came too early to test anything")
	}
}

// TestRekeyRacesHeaderOps runs LoadOrCreateDEK, ExportDEK and RotateKEK
// while a rekey is in progress, at delays spread over its duration. The
// original recoverRekey took no lock and deleted the running rekey's
// <db>.dek.next and <db>.rekey, leaving the store unopenable or empty. Now
// the operations wait for the rekey (or the rekey for them) and the store
// keeps all of its data.
func TestRekeyRacesHeaderOps(t *testing.T) {
	db := newDB(t)
	kek, kek2 := newKEK(), newKEK()
	rows := rekeyRows(200)
	fillStore(t, db, kek, rows)
	const took = 100 * time.Millisecond // the fake re-encrypter's copy time
	id := newIdentity(t)
	for i := range 16 {
		delay := took * time.Duration(i) / 14
		done := make(chan error, 1)
		rk := kek
		go func() {
			done <- keyring.RekeyWith(db, keyring.RawKEK(rk), &fakeReencrypter{delay: took})
		}()
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
