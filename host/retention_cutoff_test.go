package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/internal/zdict"
)

// The retention cutoff tests run retention in one Store while another
// Store on the file holds samples, not yet trained, of the payloads that
// retention drops. Before the cutoff was recorded in the database, only
// the Store that ran retention forgot its samples: the other one later
// trained a dictionary on the dropped payloads and inserted it, and their
// text was back in the file.

// markedLines returns n synthetic transcript lines (host.SynthLines) with
// marker planted twice in each, so that a dictionary trained on them
// holds it.
func markedLines(seed uint64, n int, marker []byte) [][]byte {
	lines := host.SynthLines(seed, n)
	for i, l := range lines {
		s := strings.Replace(string(l), `"userType":"external"`, `"userType":"`+string(marker)+`"`, 1)
		s = strings.Replace(s, `"gitBranch":"main"`, `"gitBranch":"`+string(marker)+`"`, 1)
		lines[i] = []byte(s)
	}
	return lines
}

// cutoffOldLines is how many marked lines the sampling Store appends
// before retention: fewer than a training needs (host.SetDictTraining).
const cutoffOldLines = 60

// appendAt appends payloads p to sess, dated ts (now if zero).
func appendAt(s *host.Store, sess abi.SessionID, ts time.Time, ps [][]byte) error {
	for i, p := range ps {
		if _, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: i, Kind: abi.KindAssistantMessage, TS: ts, Payload: json.RawMessage(p)}); err != nil {
			return err
		}
	}
	return nil
}

// trainFresh appends current lines to s, session "cutoff-new", until it
// encodes with a dictionary (trainings refused for older samples
// included). It returns the error of the last refused training, if any.
func trainFresh(s *host.Store) (refused error, err error) {
	lines := host.SynthLines(77, 2400)
	for i := 0; i < len(lines); i += 100 {
		if err := appendAt(s, "cutoff-new", time.Time{}, lines[i:i+100]); err != nil {
			return refused, err
		}
		ok, werr := host.WaitDict(s)
		if werr != nil {
			refused = werr
		}
		if ok {
			return refused, nil
		}
	}
	return refused, errors.New("no dictionary after 2400 current lines")
}

// checkNoOldDict fails t if s's file holds a dictionary trained on samples
// older than cutoff, or if the recorded retention cutoff is below it.
func checkNoOldDict(t *testing.T, s *host.Store, cutoff time.Time) {
	t.Helper()
	stored, ok, err := host.StoredCutoff(s)
	if err != nil || !ok || stored < cutoff.UnixNano() {
		t.Errorf("recorded retention cutoff %d (present %v, %v), want at least %d", stored, ok, err, cutoff.UnixNano())
	}
	oldest, err := host.DictOldest(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(oldest) == 0 {
		t.Fatal("no dictionary stored: the test proves nothing")
	}
	for _, o := range oldest {
		if o < cutoff.UnixNano() {
			t.Errorf("a dictionary trained on samples from %v, before the retention cutoff %v, was inserted", time.Unix(0, o), cutoff)
		}
	}
}

// checkNoMarker fails t if marker is in any file under dir.
func checkNoMarker(t *testing.T, marker []byte, dir string) {
	t.Helper()
	hits, scanned := storefiles.Scan(t, marker, dir)
	if len(scanned) == 0 {
		t.Fatal("no file scanned")
	}
	for _, h := range hits {
		t.Errorf("dropped payload text found: %s", h)
	}
}

// TestRetentionCutoffOtherStore: Store A samples marked payloads dated
// two hours ago, too few to train; Store B, on the same file in the same
// process, applies a one-hour retention, which drops them; A then appends
// current payloads until it trains. No dictionary trained on samples
// older than B's cutoff is ever inserted (no retention runs after B's, so
// none could have been inserted and deleted again), and once both Stores
// closed no file holds the marker.
func TestRetentionCutoffOtherStore(t *testing.T) {
	ctx := context.Background()
	path := tempStorePath(t)
	marker := storefiles.NewMarker()
	a, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	host.SetDictTraining(a)
	b, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	if err := appendAt(a, "cutoff-old", time.Now().Add(-2*time.Hour), markedLines(76, cutoffOldLines, marker)); err != nil {
		t.Fatal(err)
	}
	if ok, _ := host.WaitDict(a); ok {
		t.Fatal("A trained on the old lines alone: the test proves nothing")
	}
	cutoff := time.Now().Add(-time.Hour)
	n, err := b.ApplyRetention(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != cutoffOldLines {
		t.Fatalf("retention dropped %d payloads, want %d", n, cutoffOldLines)
	}
	refused, err := trainFresh(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("refused training: %v", refused)
	checkNoOldDict(t, a, cutoff)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoMarker(t, marker, filepath.Dir(path))
	if !errors.Is(refused, zdict.ErrExpired) {
		t.Errorf("A's first training was not refused (%v): it did not hold the dropped samples", refused)
	}
}

// cutoffArgs are the arguments of the cutoff-sample child.
type cutoffArgs struct {
	Path   string
	Marker string
}

var _ = proc.Role("cutoff-sample", cutoffSampleChild)

// cutoffSampleChild is Store A of TestRetentionCutoffOtherProcess: it
// appends the marked old lines, creates Path.sampled, waits for Path.go
// (the parent's retention committed), then trains on current lines and
// closes.
func cutoffSampleChild() int {
	proc.ExitWithParent(2 * time.Minute)
	var a cutoffArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.Open(a.Path)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	host.SetDictTraining(s)
	if err := appendAt(s, "cutoff-old", time.Now().Add(-2*time.Hour), markedLines(76, cutoffOldLines, []byte(a.Marker))); err != nil {
		proc.Fail("append old lines: %v", err)
	}
	if ok, _ := host.WaitDict(s); ok {
		proc.Fail("trained on the old lines alone")
	}
	if err := os.WriteFile(a.Path+".sampled", nil, 0o600); err != nil {
		proc.Fail("%v", err)
	}
	for {
		if _, err := os.Stat(a.Path + ".go"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	refused, err := trainFresh(s)
	if err != nil {
		proc.Fail("%v", err)
	}
	os.Stdout.WriteString("refused training: " + errString(refused) + "\n")
	if err := s.Close(); err != nil {
		proc.Fail("close: %v", err)
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

// TestRetentionCutoffOtherProcess is TestRetentionCutoffOtherStore with
// Store A in a child process: the two Stores share nothing but the file.
func TestRetentionCutoffOtherProcess(t *testing.T) {
	proc.Skip(t)
	ctx := context.Background()
	path := tempStorePath(t)
	marker := storefiles.NewMarker()
	b, err := host.Open(path) // creates the store before the child opens it
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	child := proc.Start(t, proc.Spec{Role: "cutoff-sample", Args: cutoffArgs{Path: path, Marker: string(marker)}, Env: childEnv(childCacheDir(t))})
	var out strings.Builder
	outDone := make(chan struct{})
	go func() {
		child.Lines(func(l string) { out.WriteString(l + "\n") })
		close(outDone)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(path + ".sampled"); err == nil {
			break
		}
		select {
		case <-outDone:
			t.Fatalf("the child ended before sampling: %v", child.Wait())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			child.Kill()
			<-outDone
			t.Fatalf("the child did not sample within 2 minutes: %v", child.Wait())
		}
	}
	cutoff := time.Now().Add(-time.Hour)
	n, err := b.ApplyRetention(ctx, time.Hour)
	if err != nil {
		child.Kill()
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".go", nil, 0o600); err != nil {
		child.Kill()
		t.Fatal(err)
	}
	<-outDone // stdout is read to its end before Wait
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, child.Stderr())
	}
	t.Logf("child: %s", strings.TrimSpace(out.String()))
	if !strings.Contains(out.String(), zdict.ErrExpired.Error()) {
		t.Errorf("the child's first training was not refused: it did not hold the dropped samples")
	}
	if n != cutoffOldLines {
		t.Fatalf("retention dropped %d payloads, want %d", n, cutoffOldLines)
	}
	checkNoOldDict(t, b, cutoff)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoMarker(t, marker, filepath.Dir(path))
}
