package host_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
)

// crashWriters is the number of appending goroutines in the child.
const crashWriters = 4

// crashChildArgs are the arguments of the crash-append child.
type crashChildArgs struct {
	Path string // the store
}

var _ = proc.Role("crash-append", crashAppendChild)

// crashAck is one acknowledged append as reported by the child.
type crashAck struct {
	id      uint64
	sess    abi.SessionID
	payload string
}

// TestCrashAppend kills a process that appends from several goroutines at
// random moments with SIGKILL and checks, after each kill, that every
// append the child saw succeed is in the store with its exact payload and
// that the database passes integrity_check.
func TestCrashAppend(t *testing.T) {
	proc.Skip(t)
	path := tempStorePath(t)

	// Create the store here, which also sets up the engine, so that the
	// children can share its compilation cache.
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cacheDir := childCacheDir(t)
	t.Logf("cache %s", cacheDir)

	var acks []crashAck
	rounds := proc.Loop(t, 30, 5, func(rng *rand.Rand, round int) {
		got, exited := runCrashChild(t, path, cacheDir, rng, round)
		acks = append(acks, got...)
		if exited != "" {
			t.Fatalf("round %d: child exited on its own: %s", round, exited)
		}
		verifyCrashStore(t, path, acks, round)
	})
	if len(acks) == 0 {
		t.Fatal("no append was acknowledged in any round: the test proved nothing")
	}
	t.Logf("%d acknowledged appends survived %d kills", len(acks), rounds)
}

// runCrashChild starts a child, kills it at a random moment and returns the
// appends it acknowledged. exited is non-empty if the child ended by
// itself.
func runCrashChild(t *testing.T, path, cacheDir string, rng *rand.Rand, round int) (acks []crashAck, exited string) {
	t.Helper()
	p := proc.Start(t, proc.Spec{Role: "crash-append", Args: crashChildArgs{Path: path}, Env: childEnv(cacheDir)})

	firstAck := make(chan struct{})
	readDone := make(chan struct{})
	var mu sync.Mutex
	var bad []string
	go func() {
		defer close(readDone)
		first := true
		readAcks(p.Stdout(), func(a crashAck, line string, err error) {
			mu.Lock()
			if err != nil {
				bad = append(bad, line)
			} else {
				acks = append(acks, a)
			}
			mu.Unlock()
			if first && err == nil {
				first = false
				close(firstAck)
			}
		})
	}()

	// Most rounds kill while appends are flowing; some kill early, while
	// the child opens (and recovers) the store.
	if round%6 == 5 {
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
	} else {
		select {
		case <-firstAck:
			time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
		case <-readDone:
		case <-time.After(2 * time.Minute):
			t.Errorf("round %d: child acknowledged nothing in 2 minutes", round)
		}
	}
	select {
	case <-readDone:
		exited = "stdout closed before the kill; stderr: " + p.Stderr()
	default:
	}
	p.Kill()
	<-readDone
	if err := p.Wait(); err != nil && exited == "" {
		exited = err.Error()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bad {
		t.Errorf("round %d: bad child output %q", round, b)
	}
	return acks, exited
}

// readAcks reads a child's stdout until EOF and calls f for every line of
// the form "ack ID SESSION PAYLOAD" (err set if it is malformed). Other
// lines are test framework output. A last line without a newline was cut
// by a kill and is not an acknowledgement.
func readAcks(r io.Reader, f func(a crashAck, line string, err error)) {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err != io.EOF {
				f(crashAck{}, "read: "+err.Error(), err)
			}
			return
		}
		rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "ack ")
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, " ", 3)
		id, err := strconv.ParseUint(parts[0], 10, 64)
		if err == nil && len(parts) != 3 {
			err = fmt.Errorf("short ack line")
		}
		if err != nil {
			f(crashAck{}, line, err)
			continue
		}
		f(crashAck{id: id, sess: abi.SessionID(parts[1]), payload: parts[2]}, line, nil)
	}
}

// verifyCrashStore checks that every acknowledged append is in the store
// and that the file is sound.
func verifyCrashStore(t *testing.T, path string, acks []crashAck, round int) {
	t.Helper()
	verifyStoreKey(t, path, storeTestKey, acks, round)
}

// verifyStoreKey is verifyCrashStore for a store sealed under key.
func verifyStoreKey(t *testing.T, path string, key []byte, acks []crashAck, round int) {
	t.Helper()
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, key)
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	defer s.Close()
	stored := make(map[uint64]abi.EventEnvelope)
	counts := make(map[abi.SessionID]int)
	for w := range crashWriters {
		sess := abi.SessionID(fmt.Sprint("crash-", w))
		evs := allEvents(t, s, sess)
		for i, e := range evs {
			if i > 0 && e.ID <= evs[i-1].ID {
				t.Errorf("round %d: %s IDs not increasing: %d then %d", round, sess, evs[i-1].ID, e.ID)
			}
			if !json.Valid(e.Payload) {
				t.Errorf("round %d: event %d has an invalid payload %q", round, e.ID, e.Payload)
			}
			stored[e.ID] = e
		}
		counts[sess] = len(evs)
	}
	for _, a := range acks {
		e, ok := stored[a.id]
		switch {
		case !ok:
			t.Errorf("round %d: acknowledged event %d (%s) lost", round, a.id, a.sess)
		case e.Session != a.sess || string(e.Payload) != a.payload:
			t.Errorf("round %d: event %d = %s %.80s, acknowledged as %s %.80s", round, a.id, e.Session, e.Payload, a.sess, a.payload)
		}
	}
	// Summaries agree with the rows, even for appends cut by the kill.
	for sess, n := range counts {
		if n == 0 {
			continue
		}
		if ps := findSession(t, s, sess); ps.Events != n {
			t.Errorf("round %d: %s summary says %d events, %d stored", round, sess, ps.Events, n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("round %d: close: %v", round, err)
	}
	checkIntegrity(t, path, key)
}

// checkIntegrity runs PRAGMA integrity_check on an encrypted store.
func checkIntegrity(t *testing.T, path string, key []byte) {
	t.Helper()
	k, err := engine.RegisterKey(key)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	c, err := engine.Open(path, engine.Options{VFS: k.Name, Encrypted: true})
	if err != nil {
		t.Fatalf("integrity check: open: %v", err)
	}
	defer c.Close()
	st, _, err := c.Prepare("PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var res []string
	for st.Step() {
		res = append(res, st.ColumnText(0))
	}
	if err := st.Err(); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if len(res) != 1 || res[0] != "ok" {
		t.Fatalf("integrity_check = %q, want ok", res)
	}
}

// crashAppendChild is the child process of TestCrashAppend. It appends
// until killed, printing "ack ID SESSION PAYLOAD" for each append that
// returned nil.
func crashAppendChild() int {
	proc.ExitWithParent(5 * time.Minute)
	var args crashChildArgs
	if err := proc.Args(&args); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenEncrypted(args.Path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	var mu sync.Mutex
	pid := os.Getpid()
	for w := range crashWriters {
		go func() {
			sess := abi.SessionID(fmt.Sprint("crash-", w))
			for i := 0; ; i++ {
				var payload string
				if i%5 == 0 {
					// Compressible and large enough to be stored compressed.
					payload = fmt.Sprintf(`{"pid":%d,"w":%d,"i":%d,"text":%q}`, pid, w, i, strings.Repeat("all work and no play ", 60))
				} else {
					payload = fmt.Sprintf(`{"pid":%d,"w":%d,"i":%d,"r":"%s"}`, pid, w, i, incompressible(uint64(pid*1000+w*100+i), 20+i%80))
				}
				id, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: i, Kind: abi.KindAssistantMessage, Payload: json.RawMessage(payload)})
				if err != nil {
					proc.Fail("append: %v", err)
				}
				line := fmt.Sprintf("ack %d %s %s\n", id, sess, payload)
				mu.Lock()
				os.Stdout.WriteString(line) // one write: the line is whole or absent
				mu.Unlock()
			}
		}()
	}
	select {} // until killed
}

// crashRounds returns the number of kill rounds (proc.Rounds):
// $GOFASTR_CRASH_ROUNDS if set, else n, or short in -short mode.
func crashRounds(t *testing.T, n, short int) int {
	t.Helper()
	return proc.Rounds(t, n, short)
}
