package host

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRetentionCutoffRecorded: the recorded retention cutoff only goes up,
// and a Store that opens a file with one does not sample older content.
func TestRetentionCutoffRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	if _, ok, err := StoredCutoff(s); ok || err != nil {
		t.Fatalf("a new store has a retention cutoff (%v)", err)
	}
	high, low := time.Unix(1000, 0), time.Unix(1, 0)
	retire(t, s, high)
	retire(t, s, low)
	if c, ok, err := StoredCutoff(s); !ok || err != nil || c != high.UnixNano() {
		t.Fatalf("recorded cutoff %d (present %v, %v), want %d: it must not go down", c, ok, err, high.UnixNano())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openDictStore(t, path)
	lines := synthLines(31, 20)
	appendLinesAt(t, s, "old", low, lines[:10])
	if n := s.codec.z.Sampled(); n != 0 {
		t.Errorf("%d samples of content older than the recorded cutoff", n)
	}
	appendLinesAt(t, s, "new", high, lines[10:])
	if n := s.codec.z.Sampled(); n != 10 {
		t.Errorf("%d samples of content no older than the recorded cutoff, want 10", n)
	}
}
