package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/testkit/storefiles"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// The tests of Encrypt: a plaintext store converted in place, with the
// keyring's rekey protocol and the SQLite re-encrypter of Rekey. The
// keyring's own tests (encrypt_test.go there) check the protocol's
// plaintext branch with a stand-in re-encrypter.

// encKEK is the KEK of the converted stores in these tests; a test
// constant, not a secret.
var encKEK = bytes.Repeat([]byte{0x3c}, keyring.KEKSize)

// encContent is what a store filled by encFill holds.
type encContent struct {
	marker  []byte
	events  map[abi.SessionID][]string // payloads in ID order
	pinned  []abi.SessionID
	orphans map[abi.SessionID][]string // call IDs of intents without an outcome
	dicts   bool                       // a trained dictionary compresses payloads
}

// encFill creates a plaintext store at path: dictionary-compressed
// transcript lines, short payloads and tool arguments carrying a marker
// (stored uncompressed, so that it can be found in the plaintext files),
// a tool intent with an outcome and one without, and a pinned session.
func encFill(t testing.TB, path string, dicts bool) encContent {
	t.Helper()
	s, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := encContent{
		marker:  storefiles.NewMarker(),
		events:  map[abi.SessionID][]string{},
		orphans: map[abi.SessionID][]string{},
	}
	add := func(sess abi.SessionID, turn int, payload string) {
		mustAppend(t, s, storeEvent(sess, turn, abi.KindAssistantMessage, payload))
		c.events[sess] = append(c.events[sess], payload)
	}
	if dicts {
		host.SetDictTraining(s)
		for i, l := range host.SynthLines(71, 400) {
			add("transcript", i, string(l))
		}
		ok, err := host.WaitDict(s)
		if !ok {
			t.Fatalf("no dictionary trained: %v", err)
		}
		c.dicts = true
	}
	for i := range 20 {
		add("secret", i, fmt.Sprintf(`{"note":%q,"i":%d}`, c.marker, i))
	}
	for i := range 3 {
		in := abi.ToolIntent{Session: "secret", Turn: 30 + i, CallID: fmt.Sprint("call-", i), Tool: "grep",
			ArgsHash: "00", Args: json.RawMessage(fmt.Sprintf(`{"q":%q}`, c.marker)), StartedAt: time.Now()}
		if err := s.RecordToolIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "secret", CallID: "call-0", Status: abi.StatusOK,
		Result: json.RawMessage(`{"ok":true}`), EndedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c.orphans["secret"] = []string{"call-1", "call-2"}
	if err := s.Pin(ctx, "secret"); err != nil {
		t.Fatal(err)
	}
	c.pinned = []abi.SessionID{"secret"}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

// check fails t unless s holds exactly c.
func (c encContent) check(t testing.TB, s *host.Store) {
	t.Helper()
	ctx := context.Background()
	for sess, want := range c.events {
		evs := allEvents(t, s, sess)
		if len(evs) != len(want) {
			t.Fatalf("session %s: %d events, want %d", sess, len(evs), len(want))
		}
		for i, ev := range evs {
			if string(ev.Payload) != want[i] {
				t.Fatalf("session %s event %d: payload %.80q, want %.80q", sess, i, ev.Payload, want[i])
			}
		}
		if ps := findSession(t, s, sess); ps.Events != len(want) {
			t.Fatalf("session %s: summary counts %d events, want %d", sess, ps.Events, len(want))
		}
	}
	pinned, err := s.Pinned(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pinned, c.pinned) {
		t.Fatalf("pinned %v, want %v", pinned, c.pinned)
	}
	for sess, want := range c.orphans {
		orphans, err := s.OrphanIntents(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range orphans {
			got = append(got, in.CallID)
			if !bytes.Contains(in.Args, c.marker) {
				t.Fatalf("orphan %s lost its arguments: %s", in.CallID, in.Args)
			}
		}
		if slices.Sort(got); !slices.Equal(got, want) {
			t.Fatalf("orphan intents %v, want %v", got, want)
		}
	}
	if c.dicts {
		if n, err := host.StoredDicts(s); err != nil || n == 0 {
			t.Fatalf("stored dictionaries: %d, %v", n, err)
		}
	}
}

// encOpenKEK opens the converted store at path with encKEK.
func encOpenKEK(t testing.TB, path string) *host.Store {
	t.Helper()
	s, err := host.OpenWithKEK(path, encKEK)
	if err != nil {
		t.Fatalf("OpenWithKEK: %v", err)
	}
	return s
}

// encFiles returns the names of the store's non-lock files in its
// directory.
func encFiles(t testing.TB, path string) []string {
	t.Helper()
	var names []string
	for name := range storefiles.Take(t, filepath.Dir(path)) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// wantEncFiles fails t unless the non-lock files beside path are exactly
// path with the given suffixes.
func wantEncFiles(t testing.TB, path string, suffixes ...string) {
	t.Helper()
	var want []string
	for _, s := range suffixes {
		want = append(want, filepath.Base(path)+s)
	}
	slices.Sort(want)
	if got := encFiles(t, path); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}

func TestEncrypt(t *testing.T) {
	path := tempStorePath(t)
	c := encFill(t, path, true)
	dir := filepath.Dir(path)
	// The scan can find the marker: it is in the plaintext store.
	if hits, _ := storefiles.Scan(t, c.marker, dir); len(hits) == 0 {
		t.Fatal("the marker is not in the plaintext store: the scan below proves nothing")
	}

	if err := host.Encrypt(path, keyring.RawKEK(encKEK)); err != nil {
		t.Fatal(err)
	}
	wantEncFiles(t, path, "", ".dek")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database after Encrypt: %v, %v", fi, err)
	}
	if hits, scanned := storefiles.Scan(t, c.marker, dir); len(hits) > 0 {
		t.Fatalf("plaintext left after Encrypt: %v (scanned %v)", hits, scanned)
	}
	if kind, err := sqlitevfs.Detect(path); err != nil || kind != sqlitevfs.FileEncrypted {
		t.Fatalf("Detect after Encrypt: %v, %v", kind, err)
	}

	// A reader of the old plaintext store is refused.
	if _, err := host.Open(path); !errors.Is(err, host.ErrEncryptedStore) {
		t.Fatalf("Open of the converted store: %v, want ErrEncryptedStore", err)
	}
	// A second Encrypt is refused and changes nothing.
	before := storefiles.Take(t, dir)
	if err := host.Encrypt(path, keyring.RawKEK(encKEK)); !errors.Is(err, host.ErrEncryptedStore) {
		t.Fatalf("Encrypt of the converted store: %v, want ErrEncryptedStore", err)
	}
	storefiles.Unchanged(t, dir, before)

	s := encOpenKEK(t, path)
	c.check(t, s)
	mustAppend(t, s, storeEvent("after", 1, abi.KindUserMessage, `{"text":"written encrypted"}`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = encOpenKEK(t, path)
	defer s.Close()
	c.check(t, s)
	if evs := allEvents(t, s, "after"); len(evs) != 1 {
		t.Fatalf("events written after the conversion: %d, want 1", len(evs))
	}
	if hits, scanned := storefiles.Scan(t, c.marker, dir); len(hits) > 0 {
		t.Fatalf("plaintext in the files of the open encrypted store: %v (scanned %v)", hits, scanned)
	}
	// The data key is new and wrapped under the KEK; the store rekeys.
	s.Close()
	if err := host.Rekey(path, keyring.RawKEK(encKEK)); err != nil {
		t.Fatalf("Rekey after Encrypt: %v", err)
	}
}

// TestEncryptRefuses checks the refusals: each leaves the files as they
// were.
func TestEncryptRefuses(t *testing.T) {
	src := keyring.RawKEK(encKEK)
	t.Run("arguments", func(t *testing.T) {
		if err := host.Encrypt("", src); !errors.Is(err, host.ErrInvalidArgument) {
			t.Fatalf("empty path: %v", err)
		}
		if err := host.Encrypt(tempStorePath(t), nil); !errors.Is(err, host.ErrInvalidArgument) {
			t.Fatalf("no KEK source: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		path := tempStorePath(t)
		if err := host.Encrypt(path, src); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("missing store: %v, want fs.ErrNotExist", err)
		}
		if names := encFiles(t, path); len(names) != 0 {
			t.Fatalf("a refused Encrypt created %v", names)
		}
		if err := host.Encrypt(filepath.Join(t.TempDir(), "no", "such", "dir.db"), src); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("missing directory: %v, want fs.ErrNotExist", err)
		}
	})
	refused := func(t *testing.T, path string, want error) {
		t.Helper()
		dir := filepath.Dir(path)
		before := storefiles.Take(t, dir)
		if err := host.Encrypt(path, src); !errors.Is(err, want) {
			t.Fatalf("Encrypt: %v, want %v", err, want)
		}
		storefiles.Unchanged(t, dir, before)
	}
	t.Run("encrypted", func(t *testing.T) {
		path := tempStorePath(t)
		s, err := host.OpenWithKEK(path, encKEK)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, storeEvent("s", 1, abi.KindUserMessage, `{"a":1}`))
		// Refused as encrypted even while the store is open.
		refused(t, path, host.ErrEncryptedStore)
		s.Close()
		refused(t, path, host.ErrEncryptedStore)
		// A store encrypted with a raw data key (no header) too.
		path = tempStorePath(t)
		s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		refused(t, path, host.ErrEncryptedStore)
	})
	t.Run("not SQLite", func(t *testing.T) {
		path := tempStorePath(t)
		if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 400), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, path, host.ErrNotStore)
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, path, host.ErrNotStore)
	})
	t.Run("other SQLite", func(t *testing.T) {
		path := tempStorePath(t)
		c, err := engine.Open(path, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Exec("CREATE TABLE t (x); INSERT INTO t VALUES ('other application')"); err != nil {
			t.Fatal(err)
		}
		c.Close()
		refused(t, path, host.ErrNotStore)
	})
	t.Run("newer schema", func(t *testing.T) {
		path := tempStorePath(t)
		encFill(t, path, false)
		c, err := engine.Open(path, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Exec("PRAGMA user_version=1000000"); err != nil {
			t.Fatal(err)
		}
		c.Close()
		refused(t, path, host.ErrNewerSchema)
	})
	t.Run("header exists", func(t *testing.T) {
		path := tempStorePath(t)
		encFill(t, path, false)
		if err := os.WriteFile(path+".dek", []byte("some other store's header"), 0o600); err != nil {
			t.Fatal(err)
		}
		refused(t, path, keyring.ErrHeaderExists)
	})
	t.Run("wrong KEK source", func(t *testing.T) {
		path := tempStorePath(t)
		encFill(t, path, false)
		dir := filepath.Dir(path)
		before := storefiles.Take(t, dir)
		if err := host.Encrypt(path, badSource{}); !errors.Is(err, errBadSource) {
			t.Fatalf("Encrypt with a failing KEK source: %v", err)
		}
		storefiles.Unchanged(t, dir, before)
	})
}

// badSource is a KEK source that cannot produce a key.
type badSource struct{}

var errBadSource = errors.New("test KEK source fails")

func (badSource) Name() string                                { return "bad" }
func (badSource) KEK(*keyring.KDFParams) ([]byte, error)      { return nil, errBadSource }
func (badSource) NewKEK() ([]byte, *keyring.KDFParams, error) { return nil, nil, errBadSource }
