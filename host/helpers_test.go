package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/internal/testkit/storefiles"
)

// storeTestKey is the fixed data key of the encrypted stores in these
// tests. It is a test constant, not a secret.
var storeTestKey = bytes.Repeat([]byte{0x5a}, 32)

// otherTestKey is a second valid key, for wrong-key tests.
var otherTestKey = bytes.Repeat([]byte{0xa5}, 32)

// storeFileSuffixes are the files SQLite keeps next to a database.
var storeFileSuffixes = []string{"", "-wal", "-shm", "-journal"}

// tempStorePath returns a store path in a fresh temporary directory.
func tempStorePath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "sessions.db")
}

// openPlainStore opens a plaintext store at a fresh path and closes it when
// the test ends.
func openPlainStore(tb testing.TB) (*host.Store, string) {
	tb.Helper()
	path := tempStorePath(tb)
	s, err := host.Open(path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

// openEncStore opens an encrypted store (storeTestKey) at a fresh path and
// closes it when the test ends.
func openEncStore(tb testing.TB) (*host.Store, string) {
	tb.Helper()
	path := tempStorePath(tb)
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		tb.Fatalf("OpenEncrypted(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

// storeEvent builds an event with a JSON payload.
func storeEvent(sess abi.SessionID, turn int, kind, payload string) abi.EventEnvelope {
	var p json.RawMessage
	if payload != "" {
		p = json.RawMessage(payload)
	}
	return abi.EventEnvelope{Session: sess, Turn: turn, Kind: kind, Payload: p}
}

// mustAppend appends env and returns its ID.
func mustAppend(tb testing.TB, s *host.Store, env abi.EventEnvelope) uint64 {
	tb.Helper()
	id, err := s.Append(context.Background(), env)
	if err != nil {
		tb.Fatalf("Append(%s, %s): %v", env.Session, env.Kind, err)
	}
	return id
}

// allEvents returns every event of sess.
func allEvents(tb testing.TB, s *host.Store, sess abi.SessionID) []abi.EventEnvelope {
	tb.Helper()
	evs, err := s.EventsSince(context.Background(), sess, 0, 0)
	if err != nil {
		tb.Fatalf("EventsSince(%s): %v", sess, err)
	}
	return evs
}

// findSession returns the summary of sess, failing if it is not listed.
func findSession(tb testing.TB, s *host.Store, sess abi.SessionID) abi.PastSession {
	tb.Helper()
	ps, ok := lookupSession(tb, s, sess)
	if !ok {
		tb.Fatalf("ListPastSessions: session %q not listed", sess)
	}
	return ps
}

// lookupSession returns the summary of sess and whether it is listed.
func lookupSession(tb testing.TB, s *host.Store, sess abi.SessionID) (abi.PastSession, bool) {
	tb.Helper()
	list, err := s.ListPastSessions(context.Background(), 0)
	if err != nil {
		tb.Fatalf("ListPastSessions: %v", err)
	}
	for _, ps := range list {
		if ps.ID == sess {
			return ps, true
		}
	}
	return abi.PastSession{}, false
}

// fakeOpenAIKey returns a synthetic OpenAI project key (sk-proj- and 56
// random alphanumerics) from a fixed stream: the shape of a real key, not a
// real key.
func fakeOpenAIKey(seed uint64) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, 56)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	// Make sure the body mixes letters and digits whatever the stream gave.
	b[0], b[1] = 'Q', '7'
	return "sk-proj-" + string(b)
}

// incompressible returns n bytes of seeded random letters: JSON-safe and
// far from compressible enough for the store to keep them compressed
// beyond the alphabet's entropy.
func incompressible(seed uint64, n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	r := rand.New(rand.NewPCG(seed, 0xbadc0de))
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// countInStoreFiles returns how many times marker occurs in each file of
// the store at path (storefiles.Count).
func countInStoreFiles(tb testing.TB, path string, marker []byte) map[string]int {
	tb.Helper()
	return storefiles.Count(tb, path, marker)
}

// total sums the counts of countInStoreFiles.
func total(counts map[string]int) int { return storefiles.Total(counts) }

// fileDigest returns the SHA-256 of a file's contents.
func fileDigest(tb testing.TB, path string) [32]byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return sha256.Sum256(data)
}

// oldTS returns a timestamp age ago, rounded to the second so that it reads
// back equal.
func oldTS(age time.Duration) time.Time {
	return time.Now().Add(-age).Truncate(time.Second)
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprint("jsonString: ", err))
	}
	return string(b)
}

// Children of this package's tests are this test binary again, in a role
// registered with proc.Role (see package internal/testkit/proc).
func init() { proc.Dispatch() }

// isTestChild reports whether this process was started by runTestChild to
// run the test named name.
func isTestChild(name string) bool { return os.Getenv(proc.EnvChild) == name }

// runTestChild runs the test named name in a child process (this test
// binary again) and returns its output and exit error (with its stderr),
// so that a panic there fails only the calling test.
func runTestChild(tb testing.TB, name string, env ...string) (string, error) {
	tb.Helper()
	return proc.Run(tb, proc.Spec{Test: name, Env: env})
}

// childCacheDir returns the compilation cache children share: this
// process's, or a fresh directory when it runs uncached.
func childCacheDir(tb testing.TB) string {
	if dir := engine.CacheDir(); dir != "" {
		return dir
	}
	return filepath.Join(tb.TempDir(), "wazero-cache")
}

// childEnv is the environment that makes a child use cacheDir.
func childEnv(cacheDir string) []string { return []string{engine.EnvCacheDir + "=" + cacheDir} }

// raceChildren starts one child per spec, each printing "ack <id>" for
// every write it had acknowledged, and calls write(i) for i = 0, 1, … in
// this process until every child has finished, so that the children's
// writes fall among its own. It fails the test unless every child exited
// cleanly after acknowledging per writes and, with interleaved, wrote
// while this process did (some of its IDs lie between this process's
// first and last). It returns the IDs of each writer, this process first.
func raceChildren(t *testing.T, specs []proc.Spec, per int, interleaved bool, write func(i int) int64) [][]int64 {
	t.Helper()
	ids := make([][]int64, len(specs)+1)
	var wg sync.WaitGroup
	procs := make([]*proc.Proc, len(specs))
	for c, spec := range specs {
		p := proc.Start(t, spec)
		procs[c] = p
		wg.Go(func() {
			p.Lines(func(line string) {
				var id int64
				if _, err := fmt.Sscanf(line, "ack %d", &id); err != nil {
					t.Errorf("child %d: bad line %q", c+1, line)
					return
				}
				ids[c+1] = append(ids[c+1], id)
			})
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for i := 0; ; i++ {
		select {
		case <-done:
		default:
			ids[0] = append(ids[0], write(i))
			continue
		}
		break
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for c, list := range ids[1:] {
		if len(list) != per {
			t.Fatalf("child %d acknowledged %d writes, want %d", c+1, len(list), per)
		}
	}
	if !interleaved {
		return ids
	}
	first, last := ids[0][0], ids[0][len(ids[0])-1]
	for c, list := range ids[1:] {
		if !slices.ContainsFunc(list, func(id int64) bool { return id > first && id < last }) {
			t.Fatalf("child %d wrote nothing while this process did: the test proved nothing", c+1)
		}
	}
	return ids
}
