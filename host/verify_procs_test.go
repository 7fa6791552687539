package host_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/sqlitevfs"
)

// storeNames lists the files in dir but lock files, by name: Verify may
// create lock files and nothing else.
func storeNames(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			names = append(names, e.Name())
		}
	}
	return names
}

// verifyWhile runs Verify on path until done is closed (at least rounds
// times) and fails the test on any error or damage. It returns how many
// checks ran.
func verifyWhile(t *testing.T, path string, cfg host.Config, rounds int, done <-chan struct{}) int {
	t.Helper()
	n := 0
	for {
		r, err := host.Verify(context.Background(), path, cfg, nil)
		if err != nil {
			t.Fatalf("Verify %d: %v", n, err)
		}
		if !r.OK() {
			t.Fatalf("Verify %d of a store in use: damaged %+v, integrity %q", n, r.Damaged, r.Integrity)
		}
		n++
		select {
		case <-done:
			if n >= rounds {
				return n
			}
		default:
		}
	}
}

// TestVerifyTwoHandles runs Verify again and again while two handles of
// the store in this process append: no check finds damage, the writes go
// on meanwhile and all of them are there afterwards, and Verify creates
// no file.
func TestVerifyTwoHandles(t *testing.T) {
	path, cfg := newVerifyStore(t, true)
	dir := filepath.Dir(path)
	var handles [2]*host.Store
	for i := range handles {
		s, err := host.OpenWithConfig(path, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		handles[i] = s
	}
	names := storeNames(t, dir) // with the handles' -wal and -shm
	var written atomic.Int64
	var during int64
	done := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for h, s := range handles {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				env := storeEvent(abi.SessionID(fmt.Sprintf("live%d", h)), i, "message", jsonString(incompressible(uint64(h<<20|i), 900)))
				if _, err := s.Append(context.Background(), env); err != nil {
					t.Errorf("handle %d: %v", h, err)
					return
				}
				if written.Add(1) == 120 {
					close(done)
				}
			}
		})
	}
	start := written.Load()
	checks := verifyWhile(t, path, cfg, 3, done)
	during = written.Load() - start
	close(stop)
	wg.Wait()
	if during == 0 {
		t.Fatal("no write went through while Verify ran")
	}
	if got := storeNames(t, dir); !slices.Equal(got, names) {
		t.Errorf("files %v after Verify, want %v", got, names)
	}
	h, err := handles[0].Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := 200 + written.Load(); h.Events != want {
		t.Errorf("%d events, want %d", h.Events, want)
	}
	t.Logf("%d checks while %d events were written", checks, during)
}

// verifyWriterArgs are the arguments of the verify-writer child.
type verifyWriterArgs struct {
	Path    string
	N       int
	Session string // "child" if empty
}

var _ = proc.Role("verify-writer", verifyWriterChild)

// verifyWriterChild opens the store at Path (under verifyKEK) and appends
// N events, printing "ack <i>" after each.
func verifyWriterChild() int {
	var a verifyWriterArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	proc.ExitWithParent(time.Minute)
	s, err := host.OpenWithConfig(a.Path, verifyConfig(verifyKEK))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	sess := abi.SessionID("child")
	if a.Session != "" {
		sess = abi.SessionID(a.Session)
	}
	for i := range a.N {
		env := storeEvent(sess, i, "message", jsonString(incompressible(uint64(1<<30|i), 900)))
		if _, err := s.Append(context.Background(), env); err != nil {
			proc.Fail("append %d: %v", i, err)
		}
		fmt.Printf("ack %d\n", i)
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
}

// TestVerifyProcess runs Verify again and again while another process
// appends to the store: no check finds damage, every write of the child
// is acknowledged and in the store afterwards.
func TestVerifyProcess(t *testing.T) {
	proc.Skip(t)
	path, cfg := newVerifyStore(t, true)
	const n = 200
	p := proc.Start(t, proc.Spec{Role: "verify-writer", Args: verifyWriterArgs{Path: path, N: n}, Env: childEnv(childCacheDir(t))})
	acks, done := countAcks(t, p)
	before := acks.Load()
	checks := verifyWhile(t, path, cfg, 3, done)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if acks.Load() != n {
		t.Fatalf("child acknowledged %d writes, want %d", acks.Load(), n)
	}
	if before == n {
		t.Error("the child had finished before Verify ran")
	}
	// Once the child closed: clean, and every write is there.
	if r := verify(t, path, cfg); !r.OK() {
		t.Fatalf("after the child: %+v", r)
	}
	s, err := host.OpenWithConfig(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if evs := allEvents(t, s, "child"); len(evs) != n {
		t.Errorf("%d events of the child, want %d", len(evs), n)
	}
	t.Logf("%d checks while the child wrote", checks)
}

// TestVerifyDamagedFrame flips one byte in the page image of the first
// WAL frame of a store a handle holds open, with later transactions after
// it: Verify names exactly that frame.
func TestVerifyDamagedFrame(t *testing.T) {
	path, cfg := newVerifyStore(t, true)
	s, err := host.OpenWithConfig(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 6 {
		mustAppend(t, s, storeEvent("wal", i, "message", jsonString(incompressible(uint64(7000+i), 900))))
	}
	wal, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int64(binary.BigEndian.Uint32(wal[8:12]))
	frameSize := 24 + pageSize
	if int64(len(wal)) < 32+3*frameSize {
		t.Fatalf("WAL of %d bytes", len(wal))
	}
	// Frame 1 must carry the WAL header's salts and a commit must follow
	// it in a later transaction.
	if string(wal[32+8:32+16]) != string(wal[16:24]) {
		t.Fatal("frame 1 is of an older WAL generation")
	}
	pgno := binary.BigEndian.Uint32(wal[32:36])
	flipByte(t, path+"-wal", 32+24+200)
	r := verify(t, path, cfg)
	if r.OK() || len(r.Damaged) != 1 {
		t.Fatalf("damaged %+v, want frame 1 alone", r.Damaged)
	}
	d := r.Damaged[0]
	if d.Kind != "wal" || d.Frame != 1 || d.Page != pgno || d.Offset != 32 || d.File != path+"-wal" || !errors.Is(d.Err, sqlitevfs.ErrAuth) {
		t.Errorf("damage %+v", d)
	}
	if r.Frames == 0 {
		t.Error("no other frame authenticated")
	}
}

// TestVerifyCrash kills a writing process at random moments with SIGKILL
// and verifies the store it left, as found (WAL and WAL index of the dead
// process, perhaps a torn last frame): never damage, and every
// acknowledged event is there when the store is opened afterwards.
func TestVerifyCrash(t *testing.T) {
	proc.Skip(t)
	path, cfg := newVerifyStore(t, true)
	cacheDir := childCacheDir(t)
	var acked int64
	proc.Loop(t, 6, 3, func(rng *mrand.Rand, i int) {
		p := proc.Start(t, proc.Spec{Role: "verify-writer", Args: verifyWriterArgs{Path: path, N: 100000, Session: fmt.Sprint("crash", i)}, Env: childEnv(cacheDir)})
		acks, done := countAcks(t, p)
		p.KillAfter(time.Duration(rng.IntN(150)) * time.Millisecond)
		<-done
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		acked += acks.Load()
		r := verify(t, path, cfg)
		if !r.OK() {
			t.Fatalf("round %d: store left by a killed writer: damaged %+v, integrity %q", i, r.Damaged, r.Integrity)
		}
		s, err := host.OpenWithConfig(path, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if evs := allEvents(t, s, abi.SessionID(fmt.Sprint("crash", i))); int64(len(evs)) < acks.Load() {
			t.Errorf("round %d: %d events, %d acknowledged", i, len(evs), acks.Load())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d writes acknowledged in all", acked)
}

// verifyHolderArgs are the arguments of the verify-holder child.
type verifyHolderArgs struct {
	Path string
	N    int
}

var _ = proc.Role("verify-holder", verifyHolderChild)

// verifyHolderChild opens the store at Path (under verifyKEK), appends N
// events, one transaction each, prints "ready" and holds the store open
// until it is killed.
func verifyHolderChild() int {
	var a verifyHolderArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	proc.ExitWithParent(time.Minute)
	s, err := host.OpenWithConfig(a.Path, verifyConfig(verifyKEK))
	if err != nil {
		proc.Fail("open: %v", err)
	}
	for i := range a.N {
		env := storeEvent("held", i, "message", jsonString(incompressible(uint64(1<<31|i), 300)))
		if _, err := s.Append(context.Background(), env); err != nil {
			proc.Fail("append %d: %v", i, err)
		}
	}
	fmt.Println("ready")
	select {}
}

// TestVerifyDamagedLastCommitLive flips one byte in the page image of the
// last frame of the WAL, the commit frame of its last transaction, while
// another process holds the store open: its WAL index says the frame is
// committed and readers read it, so it is damage, not a torn tail. Verify
// names exactly that frame.
func TestVerifyDamagedLastCommitLive(t *testing.T) {
	proc.Skip(t)
	path, cfg := newVerifyStore(t, true)
	p := proc.Start(t, proc.Spec{Role: "verify-holder", Args: verifyHolderArgs{Path: path, N: 40}, Env: childEnv(childCacheDir(t))})
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Lines(func(line string) {
			if line == "ready" {
				close(ready)
			}
		})
	}()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("child ended before it was ready: %v", p.Wait())
	}
	defer func() {
		p.Kill()
		<-done
		if err := p.Wait(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := os.Stat(path + "-shm"); err != nil {
		t.Fatalf("no WAL index beside a live writer: %v", err)
	}
	if r := verify(t, path, cfg); !r.OK() {
		t.Fatalf("before the damage: damaged %+v, integrity %q", r.Damaged, r.Integrity)
	}
	wal, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int64(binary.BigEndian.Uint32(wal[8:12]))
	frameSize := 24 + pageSize
	// The last frame of the log's current generation.
	last := int64(0)
	for i := int64(1); 32+i*frameSize <= int64(len(wal)); i++ {
		off := 32 + (i-1)*frameSize
		if string(wal[off+8:off+16]) == string(wal[16:24]) {
			last = i
		}
	}
	off := 32 + (last-1)*frameSize
	if last == 0 || binary.BigEndian.Uint32(wal[off+4:off+8]) == 0 {
		t.Fatalf("WAL of %d bytes: last frame %d is no commit frame", len(wal), last)
	}
	pgno := binary.BigEndian.Uint32(wal[off : off+4])
	flipByte(t, path+"-wal", off+24+pageSize/2)
	r := verify(t, path, cfg)
	if r.OK() || len(r.Damaged) != 1 {
		t.Fatalf("damaged %+v, integrity %q; want frame %d alone", r.Damaged, r.Integrity, last)
	}
	d := r.Damaged[0]
	if d.Kind != "wal" || d.Frame != last || d.Page != pgno || d.Offset != off || d.File != path+"-wal" ||
		!errors.Is(d.Err, sqlitevfs.ErrAuth) || !strings.Contains(d.Reason, fmt.Sprintf("(frame %d)", last)) {
		t.Errorf("damage %+v, want frame %d (page %d at %d)", d, last, pgno, off)
	}
	if total := (int64(len(wal)) - 32) / frameSize; r.Frames+r.Uncommitted+r.Stale+1 != total {
		t.Errorf("frames %d, uncommitted %d, stale %d and 1 damaged: want the WAL's %d in all", r.Frames, r.Uncommitted, r.Stale, total)
	}
}

// verifyCyclerArgs are the arguments of the verify-cycler child.
type verifyCyclerArgs struct {
	Path string
	For  time.Duration
}

var _ = proc.Role("verify-cycler", verifyCyclerChild)

// verifyCyclerChild opens the store at Path (under verifyKEK), appends 60
// events of 3 KB, on every third round applies retention (which truncates
// the WAL) and closes the store, again and again for For, printing
// "round <i>" after each close.
func verifyCyclerChild() int {
	var a verifyCyclerArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	proc.ExitWithParent(time.Minute)
	ctx := context.Background()
	until := time.Now().Add(a.For)
	for round := 0; time.Now().Before(until); round++ {
		s, err := host.OpenWithConfig(a.Path, verifyConfig(verifyKEK))
		if err != nil {
			proc.Fail("open %d: %v", round, err)
		}
		for i := range 60 {
			env := storeEvent(abi.SessionID(fmt.Sprintf("c%d", i%7)), round*60+i, "message", jsonString(incompressible(uint64(2<<30|round*60+i), 3000)))
			if _, err := s.Append(ctx, env); err != nil {
				proc.Fail("append %d/%d: %v", round, i, err)
			}
		}
		if round%3 == 2 {
			if _, err := s.ApplyRetention(ctx, time.Hour); err != nil {
				proc.Fail("retention %d: %v", round, err)
			}
		}
		if err := s.Close(); err != nil {
			proc.Fail("close %d: %v", round, err)
		}
		fmt.Printf("round %d\n", round)
	}
	return 0
}

// TestVerifyWhileOpenedAndClosed runs Verify again and again while
// another process opens the store, appends, sometimes applies retention
// and closes it, in a loop: the WAL and its index come and go and the
// database is checkpointed into under Verify. No check of the sound store
// reports damage, an integrity problem or an error.
func TestVerifyWhileOpenedAndClosed(t *testing.T) {
	proc.Skip(t)
	path, cfg := newVerifyStore(t, true)
	d := 12 * time.Second
	if testing.Short() {
		d = 3 * time.Second
	}
	p := proc.Start(t, proc.Spec{Role: "verify-cycler", Args: verifyCyclerArgs{Path: path, For: d}, Env: childEnv(childCacheDir(t))})
	var rounds atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Lines(func(string) { rounds.Add(1) })
	}()
	checks, bad := 0, 0
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		r, err := host.Verify(context.Background(), path, cfg, nil)
		checks++
		switch {
		case err != nil:
			bad++
			t.Errorf("Verify %d: %v", checks, err)
		case !r.OK():
			bad++
			t.Errorf("Verify %d of a sound store: damaged %+v, integrity %.300q", checks, r.Damaged, r.Integrity)
		}
		if bad >= 5 {
			break
		}
	}
	<-done
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if rounds.Load() == 0 {
		t.Fatal("the child closed the store no time while Verify ran")
	}
	if r := verify(t, path, cfg); !r.OK() {
		t.Fatalf("after the child: %+v", r)
	}
	t.Logf("%d checks while the child opened and closed the store %d times", checks, rounds.Load())
}

// countAcks counts the lines (acknowledged writes) child p prints, and
// returns once it has printed the first; done closes when p's output ends.
func countAcks(t *testing.T, p *proc.Proc) (acks *atomic.Int64, done chan struct{}) {
	t.Helper()
	acks = new(atomic.Int64)
	first := make(chan struct{})
	done = make(chan struct{})
	go func() {
		defer close(done)
		p.Lines(func(string) {
			if acks.Add(1) == 1 {
				close(first)
			}
		})
	}()
	select {
	case <-first:
	case <-done:
		t.Fatalf("child ended before its first write: %v", p.Wait())
	}
	return acks, done
}
