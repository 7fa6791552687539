package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

// Event IDs come from the database, not from the Store: every Store on a
// file, in this process or another, hands out strictly increasing IDs and
// never one twice, and a reader tailing with EventsSince(since = the last
// ID it saw) sees every event exactly once.

// idSessions are the sessions the ID tests append to: crash-0 is shared
// by every appender, crash-1.. belong to one appender each (the sessions
// verifyStoreKey checks).
func idSessions() []abi.SessionID {
	out := make([]abi.SessionID, crashWriters)
	for i := range out {
		out[i] = abi.SessionID(fmt.Sprint("crash-", i))
	}
	return out
}

// tailer follows idSessions of a store with EventsSince, each from the
// last ID it saw there, and records what it sees.
type tailer struct {
	s    *host.Store
	last map[abi.SessionID]uint64
	seen map[uint64][]abi.EventEnvelope // by ID: more than one is an error
	errs []string
}

func newTailer(s *host.Store) *tailer {
	return &tailer{s: s, last: make(map[abi.SessionID]uint64), seen: make(map[uint64][]abi.EventEnvelope)}
}

// poll reads every session once.
func (tl *tailer) poll() error {
	for _, sess := range idSessions() {
		evs, err := tl.s.EventsSince(context.Background(), sess, tl.last[sess], 0)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.ID <= tl.last[sess] {
				tl.errs = append(tl.errs, fmt.Sprintf("%s: event %d after %d", sess, e.ID, tl.last[sess]))
			}
			tl.last[sess] = e.ID
			tl.seen[e.ID] = append(tl.seen[e.ID], e)
		}
	}
	return nil
}

// run polls until stop is closed, then once more, and reports a failure
// to read on errc.
func (tl *tailer) run(stop <-chan struct{}, errc chan<- error) {
	for {
		var final bool
		select {
		case <-stop:
			final = true
		default:
		}
		if err := tl.poll(); err != nil {
			errc <- err
			return
		}
		if final {
			errc <- nil
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// check fails t unless the acknowledged IDs are distinct and the tailer
// saw each of them exactly once, with its session and payload, and
// nothing else.
func (tl *tailer) check(t *testing.T, acks []crashAck) {
	t.Helper()
	for _, e := range tl.errs {
		t.Error(e)
	}
	checkDistinctAcks(t, acks)
	missed, twice, wrong := 0, 0, 0
	for _, a := range acks {
		evs := tl.seen[a.id]
		switch {
		case len(evs) == 0:
			if missed++; missed <= 5 {
				t.Errorf("the tailing reader missed acknowledged event %d (%s)", a.id, a.sess)
			}
		case len(evs) > 1:
			if twice++; twice <= 5 {
				t.Errorf("the tailing reader saw event %d %d times", a.id, len(evs))
			}
		case evs[0].Session != a.sess || string(evs[0].Payload) != a.payload:
			if wrong++; wrong <= 5 {
				t.Errorf("event %d = %s %s, acknowledged as %s %s", a.id, evs[0].Session, evs[0].Payload, a.sess, a.payload)
			}
		}
	}
	if missed+twice+wrong > 0 {
		t.Errorf("of %d acknowledged events, the tailing reader missed %d, saw %d more than once, %d with another session or payload", len(acks), missed, twice, wrong)
	}
	if len(tl.seen) != len(acks) {
		t.Errorf("the tailing reader saw %d distinct IDs, %d appends were acknowledged", len(tl.seen), len(acks))
	}
}

// checkDistinctAcks fails t if two acknowledged appends have the same ID.
func checkDistinctAcks(t *testing.T, acks []crashAck) {
	t.Helper()
	by := make(map[uint64]crashAck, len(acks))
	dups := 0
	for _, a := range acks {
		if b, ok := by[a.id]; ok {
			if dups++; dups <= 5 {
				t.Errorf("ID %d acknowledged twice: %s %s and %s %s", a.id, b.sess, b.payload, a.sess, a.payload)
			}
		}
		by[a.id] = a
	}
	if dups > 5 {
		t.Errorf("%d IDs acknowledged more than once", dups)
	}
}

// ackPIDs returns the number of processes with acknowledged appends
// (payloads start with {"pid":N,).
func ackPIDs(acks []crashAck) int {
	pids := make(map[string]bool)
	for _, a := range acks {
		var pid int
		if _, err := fmt.Sscanf(a.payload, `{"pid":%d,`, &pid); err == nil {
			pids[fmt.Sprint(pid)] = true
		}
	}
	return len(pids)
}

// idsArgs are the arguments of the ids child.
type idsArgs struct {
	Mode  string // "plain" (host.Open) or "kek" (host.OpenWithKEK)
	N     int    // the child's own session is crash-N
	Path  string // the store
	Until int64  // append until then (Unix nanoseconds)
}

var _ = proc.Role("ids", idsChild)

// idsChild keeps one Store open for the whole run and appends small
// payloads (never sampled for a dictionary) as fast as it can, alternately
// to the session all such children share, crash-0, and to its own,
// crash-N, printing "ack ID SESSION PAYLOAD" for each.
func idsChild() int {
	var a idsArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	var s *host.Store
	var err error
	if a.Mode == "plain" {
		s, err = host.Open(a.Path)
	} else {
		err = withEitherKEK(func(kek []byte) (err error) {
			s, err = host.OpenWithKEK(a.Path, kek)
			return err
		})
	}
	if err != nil {
		proc.Fail("open: %v", err)
	}
	for i := 0; time.Now().Before(time.Unix(0, a.Until)); i++ {
		sess := abi.SessionID("crash-0")
		if i%2 == 1 {
			sess = abi.SessionID(fmt.Sprint("crash-", a.N))
		}
		payload := fmt.Sprintf(`{"pid":%d,"i":%d}`, os.Getpid(), i)
		id, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: i, Kind: abi.KindAssistantMessage, Payload: json.RawMessage(payload)})
		if err != nil {
			proc.Fail("append: %v", err)
		}
		os.Stdout.WriteString(fmt.Sprintf("ack %d %s %s\n", id, sess, payload))
	}
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
}

// runIDChildren runs n ids children (crash-1..crash-n) in mode on path,
// each appending for d; if kill is non-zero, all are killed after kill
// instead. It returns the acknowledged appends and fails the test if a
// child fails.
func runIDChildren(t *testing.T, mode string, n int, path, cacheDir string, d, kill time.Duration) []crashAck {
	t.Helper()
	until := time.Now().Add(d).UnixNano()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var acks []crashAck
	procs := make([]*proc.Proc, n)
	for i := range procs {
		p := proc.Start(t, proc.Spec{Role: "ids", Args: idsArgs{Mode: mode, N: i + 1, Path: path, Until: until}, Env: childEnv(cacheDir)})
		procs[i] = p
		wg.Go(func() {
			readAcks(p.Stdout(), func(a crashAck, line string, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("ids child %d: bad output %q", i+1, line)
					return
				}
				acks = append(acks, a)
			})
		})
	}
	if kill > 0 {
		time.Sleep(kill)
		for _, p := range procs {
			p.Kill()
		}
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Error(err)
		}
	}
	return acks
}

// TestIDsProcesses runs three processes that append to one store, each
// with one Store open for the whole run, while this process tails the
// store with EventsSince: every acknowledged ID is distinct, and the
// reader sees each acknowledged event exactly once, in increasing ID
// order. Plaintext (Open) and encrypted (OpenWithKEK).
func TestIDsProcesses(t *testing.T) {
	proc.Skip(t)
	for _, mode := range []string{"plain", "kek"} {
		t.Run(mode, func(t *testing.T) {
			var path, cacheDir string
			open := func() (*host.Store, error) { return host.OpenWithKEK(path, raceKEK1) }
			if mode == "kek" {
				path, cacheDir = newRaceStore(t) // under raceKEK1
			} else {
				path, cacheDir = tempStorePath(t), childCacheDir(t)
				open = func() (*host.Store, error) { return host.Open(path) }
			}
			s, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const procs = 3
			// 2 s (5 s without -short) of appends.
			d := time.Duration(crashRounds(t, 50, 20)) * 100 * time.Millisecond

			tl := newTailer(s)
			stop, errc := make(chan struct{}), make(chan error, 1)
			go tl.run(stop, errc)
			var acks []crashAck
			// A slow machine may need another period before two children
			// append at the same time; at most three.
			concurrent := false
			for period := 0; period < 3 && !concurrent && !t.Failed(); period++ {
				got := runIDChildren(t, mode, procs, path, cacheDir, d, 0)
				acks = append(acks, got...)
				concurrent = ackPIDs(got) >= 2
			}
			close(stop)
			if err := <-errc; err != nil {
				t.Fatalf("tailing reader: %v", err)
			}
			tl.check(t, acks)
			t.Logf("%d acknowledged appends from %d processes", len(acks), ackPIDs(acks))
			if !concurrent {
				t.Fatal("no two processes appended at the same time: the test proved nothing")
			}
			if mode == "kek" && !t.Failed() {
				s.Close()
				verifyRaceStore(t, path, acks, 0)
			}
		})
	}
}

// TestIDsProcessesCrash runs two appending processes and SIGKILLs both at
// a random moment, round after round; after each round every acknowledged
// ID is distinct and its event is in the store.
func TestIDsProcessesCrash(t *testing.T) {
	proc.Skip(t)
	rounds := crashRounds(t, 12, 4)
	t.Logf("%d rounds", rounds)
	rng := proc.Rand(t, 0)
	path, cacheDir := newRaceStore(t)
	var acks []crashAck
	round := 0
	// Until both children have appended (they start slowly under -race on
	// a loaded machine) rounds go on, up to 4× as many, each giving the
	// children half a second more before the kill.
	for ; round < rounds || ackPIDs(acks) < 2 && round < 4*rounds; round++ {
		kill := time.Duration(200+rng.IntN(600)) * time.Millisecond
		if ackPIDs(acks) < 2 {
			kill += time.Duration(round) * 500 * time.Millisecond
		}
		got := runIDChildren(t, "kek", 2, path, cacheDir, time.Minute, kill)
		acks = append(acks, got...)
		checkDistinctAcks(t, acks)
		verifyRaceStore(t, path, acks, round)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d acknowledged appends from %d processes survived %d rounds of kills", len(acks), ackPIDs(acks), round)
	if ackPIDs(acks) < 2 {
		t.Fatal("fewer than two processes appended: the test proved nothing")
	}
}

// TestIDsTwoHandles appends through two Stores on one file in one
// process: first alternately, where each ID must be above the one before
// whichever Store handed it out, then concurrently while a third Store
// tails the file.
func TestIDsTwoHandles(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "encrypted"}[enc], func(t *testing.T) {
			path := tempStorePath(t)
			open := func() *host.Store {
				t.Helper()
				var s *host.Store
				var err error
				if enc {
					s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
				} else {
					s, err = host.Open(path)
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			handles := []*host.Store{open(), open()}
			tl := newTailer(open())

			var acks []crashAck
			var last uint64
			for i := range 20 {
				sess := abi.SessionID(fmt.Sprint("crash-", i%2))
				payload := fmt.Sprintf(`{"pid":0,"i":%d}`, i)
				id, err := handles[i%2].Append(context.Background(), storeEvent(sess, i, abi.KindAssistantMessage, payload))
				if err != nil {
					t.Fatalf("append %d on store %d: %v", i, i%2, err)
				}
				if id <= last {
					t.Fatalf("append %d on store %d: ID %d after %d", i, i%2, id, last)
				}
				last = id
				acks = append(acks, crashAck{id: id, sess: sess, payload: payload})
			}

			stop, errc := make(chan struct{}), make(chan error, 1)
			go tl.run(stop, errc)
			var mu sync.Mutex
			var wg sync.WaitGroup
			const perHandle, perWriter = 4, 100
			for h, s := range handles {
				for w := range perHandle {
					wg.Go(func() {
						var prev uint64
						for i := range perWriter {
							sess := abi.SessionID(fmt.Sprint("crash-", (1+h)*(i%2)))
							payload := fmt.Sprintf(`{"pid":%d,"w":%d,"i":%d}`, 1+h, w, i)
							id, err := s.Append(context.Background(), storeEvent(sess, i, abi.KindAssistantMessage, payload))
							if err != nil {
								t.Errorf("store %d: %v", h, err)
								return
							}
							if id <= prev {
								t.Errorf("store %d writer %d: ID %d after %d", h, w, id, prev)
							}
							prev = id
							mu.Lock()
							acks = append(acks, crashAck{id: id, sess: sess, payload: payload})
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			close(stop)
			if err := <-errc; err != nil {
				t.Fatalf("tailing reader: %v", err)
			}
			tl.check(t, acks)
		})
	}
}
