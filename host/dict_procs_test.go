package host_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
)

// The dictionary tests run two Stores on one file in separate processes,
// which share nothing but the file (see the dictionary protocol in
// dicts.go). Before it, a Store read only the dictionaries that existed
// when it opened ("payload needs a compression dictionary this store does
// not have"), and a retirement in one process deleted a dictionary the
// other still encoded new rows with, and skipped the rows it could not
// decode: acknowledged events became unreadable for good.

// dictArgs are the arguments of the dict-train and dict-append children.
type dictArgs struct {
	Path string        // the store the child works on
	For  time.Duration // how long dict-append appends after its dictionary is ready
}

var (
	_ = proc.Role("dict-train", func() int { return dictChild("train") })
	_ = proc.Role("dict-append", func() int { return dictChild("append") })
)

// runDictChild runs a dictionary child to its end and returns its stdout.
func runDictChild(t *testing.T, role, path string, d time.Duration) (string, error) {
	return proc.Run(t, proc.Spec{Role: "dict-" + role, Args: dictArgs{Path: path, For: d}, Env: childEnv(childCacheDir(t))})
}

// TestDictOtherProcessTrained: a Store stays open while another process
// trains a dictionary and appends with it; the first Store reads every
// one of those events without reopening.
func TestDictOtherProcessTrained(t *testing.T) {
	proc.Skip(t)
	path := tempStorePath(t)
	a, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// A reader connection and the codec exist before the dictionary.
	if evs := allEvents(t, a, "dict-b"); len(evs) != 0 {
		t.Fatalf("%d events in a new store", len(evs))
	}
	out, err := runDictChild(t, "train", path, 0)
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if n, err := host.StoredDicts(a); err != nil || n == 0 {
		t.Fatalf("the child stored %d dictionaries (%v): the test proves nothing", n, err)
	}
	lines := host.SynthLines(91, 400)
	evs := allEvents(t, a, "dict-b")
	if len(evs) != len(lines) {
		t.Fatalf("%d events, want %d", len(evs), len(lines))
	}
	for i, e := range evs {
		if string(e.Payload) != string(lines[i]) {
			t.Fatalf("event %d (ID %d): payload changed:\n got %.80s\nwant %.80s", i, e.ID, e.Payload, lines[i])
		}
	}
}

// TestDictRetireOtherProcess: a child process appends in-window events
// with its dictionary, trained on out-of-window events, while this
// process, which opened the store before the dictionary existed, applies
// retention over and over, which retires that dictionary. Afterwards a
// fresh Store reads every acknowledged event with its payload.
func TestDictRetireOtherProcess(t *testing.T) {
	proc.Skip(t)
	path := tempStorePath(t)
	b, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// 1.5 s of appends after the dictionary (4 s without -short).
	d := time.Duration(crashRounds(t, 40, 15)) * 100 * time.Millisecond
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := runDictChild(t, "append", path, d)
		done <- result{out, err}
	}()

	var res result
	retentions, waited := 0, false
	deadline := time.Now().Add(2 * time.Minute)
loop:
	for {
		select {
		case res = <-done:
			break loop
		case <-time.After(100 * time.Millisecond):
		}
		if !waited {
			// The child creates path.ready once it encodes with its
			// dictionary.
			if _, err := os.Stat(path + ".ready"); err != nil {
				if time.Now().After(deadline) {
					t.Fatal("no dictionary after 2 minutes")
				}
				continue
			}
			waited = true
			if n, err := host.StoredDicts(b); err != nil || n == 0 {
				t.Fatalf("%d dictionaries stored (%v)", n, err)
			}
		}
		// The purge after the commit may find the other process busy
		// ("after commit: database is locked"); whether retention
		// committed is checked on dict-old below.
		if _, err := b.ApplyRetention(context.Background(), 24*time.Hour); err != nil {
			t.Logf("apply retention: %v", err)
		}
		retentions++
		time.Sleep(time.Duration(100+retentions*50) * time.Millisecond)
	}
	if res.err != nil {
		t.Fatalf("child: %v\n%s", res.err, res.out)
	}
	var acks []crashAck
	readAcks(strings.NewReader(res.out), func(a crashAck, line string, err error) {
		if err != nil {
			t.Errorf("bad child output %q", line)
		}
		acks = append(acks, a)
	})
	if len(acks) == 0 || retentions == 0 {
		t.Fatalf("%d acknowledged appends, %d retentions: the test proves nothing\n%s", len(acks), retentions, res.out)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	c, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dropped := 0
	for _, e := range allEvents(t, c, "dict-old") {
		if e.Payload == nil {
			dropped++
		}
	}
	if dropped == 0 {
		t.Fatal("retention dropped no payload of dict-old: the test proves nothing")
	}
	got := make(map[uint64]string)
	evs, readErr := c.EventsSince(context.Background(), "dict-new", 0, 0)
	for _, e := range evs {
		got[e.ID] = string(e.Payload)
	}
	bad := 0
	for _, a := range acks {
		if p, ok := got[a.id]; !ok || p != a.payload {
			bad++
		}
	}
	t.Logf("%d acknowledged in-window appends, %d retentions, %d old payloads dropped", len(acks), retentions, dropped)
	if readErr != nil {
		t.Fatalf("a fresh Store cannot read the %d acknowledged in-window events: %v", len(acks), readErr)
	}
	if bad > 0 {
		t.Fatalf("%d of %d acknowledged in-window events missing or changed", bad, len(acks))
	}
}

// dictChild is a child of the dictionary tests. "train" appends 400
// synthetic lines (session dict-b), with a dictionary after the first
// 300. "append" trains a dictionary on 300 lines two days old (session
// dict-old), then appends current lines to dict-new for dictArgs.For,
// printing "ack ID SESSION PAYLOAD" for each. An error ends the child
// with "FAIL: ..." and status 3.
func dictChild(role string) int {
	var a dictArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	path, d := a.Path, a.For
	fail := proc.Fail
	s, err := host.Open(path)
	if err != nil {
		fail("open: %v", err)
	}
	host.SetDictTraining(s)
	appendAt := func(sess abi.SessionID, i int, ts time.Time, p []byte) uint64 {
		id, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: i, Kind: abi.KindAssistantMessage, TS: ts, Payload: json.RawMessage(p)})
		if err != nil {
			fail("append %d: %v", i, err)
		}
		return id
	}
	switch role {
	case "train":
		lines := host.SynthLines(91, 400)
		for i, l := range lines[:300] {
			appendAt("dict-b", i, time.Time{}, l)
		}
		if ok, err := host.WaitDict(s); !ok {
			fail("no dictionary: %v", err)
		}
		for i, l := range lines[300:] {
			appendAt("dict-b", 300+i, time.Time{}, l)
		}
	case "append":
		old := time.Now().Add(-48 * time.Hour)
		lines := host.SynthLines(92, 1000)
		for i, l := range lines[:300] {
			appendAt("dict-old", i, old.Add(time.Duration(i)*time.Millisecond), l)
		}
		if ok, err := host.WaitDict(s); !ok {
			fail("no dictionary: %v", err)
		}
		if err := os.WriteFile(path+".ready", nil, 0o600); err != nil {
			fail("%v", err)
		}
		until := time.Now().Add(d)
		for i := 0; time.Now().Before(until); i++ {
			l := lines[300+i%700]
			id := appendAt("dict-new", i, time.Time{}, l)
			os.Stdout.WriteString("ack " + strconv.FormatUint(id, 10) + " dict-new " + string(l) + "\n")
		}
	default:
		fail("unknown role")
	}
	if err := s.Close(); err != nil {
		fail("close: %v", err)
	}
	return 0
}
