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
	"github.com/gofastr/store/internal/testkit/proc"
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
		// These are compressed with the trained dictionary.
		for i, l := range host.SynthLines(72, 100) {
			add("transcript", 400+i, string(l))
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

// TestEncryptInUse checks that Encrypt refuses with keyring.ErrInUse, and
// changes nothing, while a plaintext Store is open on the store in this
// process or in another one (the Store holds the store lock shared), and
// that the open Store keeps working.
func TestEncryptInUse(t *testing.T) {
	path := tempStorePath(t)
	c := encFill(t, path, false)
	src := keyring.RawKEK(encKEK)

	s, err := host.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Encrypt(path, src); !errors.Is(err, keyring.ErrInUse) {
		t.Fatalf("Encrypt with a Store open in this process: %v, want ErrInUse", err)
	}
	for _, suf := range []string{".dek", ".dek.next", ".rekey"} {
		if _, err := os.Stat(path + suf); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused Encrypt left %s: %v", filepath.Base(path+suf), err)
		}
	}
	c.check(t, s)
	mustAppend(t, s, storeEvent("secret", 99, abi.KindUserMessage, `{"still":"writable"}`))
	c.events["secret"] = append(c.events["secret"], `{"still":"writable"}`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	proc.Skip(t)
	p := proc.Start(t, proc.Spec{Role: "encrypt-hold", Args: encChildArgs{Path: path}, Env: childEnv(childCacheDir(t))})
	lines := make(chan string, 16)
	go func() {
		p.Lines(func(l string) { lines <- l })
		close(lines)
	}()
	select {
	case l := <-lines:
		if l != "open" {
			t.Fatalf("child: %q (%v)", l, p.Wait())
		}
	case <-time.After(time.Minute):
		t.Fatal("the child did not open the store within a minute")
	}
	// The child's open Store owns -wal and -shm; the database file is
	// what must not change.
	before := storefiles.Digest(t, path)
	if err := host.Encrypt(path, src); !errors.Is(err, keyring.ErrInUse) {
		t.Fatalf("Encrypt with a Store open in another process: %v, want ErrInUse", err)
	}
	if storefiles.Digest(t, path) != before {
		t.Error("a refused Encrypt changed the database")
	}
	for _, suf := range []string{".dek", ".dek.next", ".rekey"} {
		if _, err := os.Stat(path + suf); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused Encrypt left %s: %v", filepath.Base(path+suf), err)
		}
	}
	p.Kill()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	// With every handle gone, it converts.
	if err := host.Encrypt(path, src); err != nil {
		t.Fatal(err)
	}
	s = encOpenKEK(t, path)
	defer s.Close()
	c.check(t, s)
}

// encChildArgs are the arguments of the encrypt-hold and encrypt-crash
// children.
type encChildArgs struct{ Path string }

var (
	// encrypt-hold opens the plaintext store, says "open" and holds it
	// until killed.
	_ = proc.Role("encrypt-hold", func() int {
		proc.ExitWithParent(5 * time.Minute)
		var a encChildArgs
		if err := proc.Args(&a); err != nil {
			proc.Fail("%v", err)
		}
		s, err := host.Open(a.Path)
		if err != nil {
			proc.Fail("open: %v", err)
		}
		defer s.Close()
		fmt.Println("open")
		select {}
	})
	// encrypt-crash converts the store with encKEK and says "encrypted";
	// the parent kills it at a random moment.
	_ = proc.Role("encrypt-crash", func() int {
		proc.ExitWithParent(5 * time.Minute)
		var a encChildArgs
		if err := proc.Args(&a); err != nil {
			proc.Fail("%v", err)
		}
		fmt.Println("start")
		if err := host.Encrypt(a.Path, keyring.RawKEK(encKEK)); err != nil {
			proc.Fail("encrypt: %v", err)
		}
		fmt.Println("encrypted")
		return 0
	})
)

// encState checks that the store at path is exactly one of the plaintext
// store with all of c, and no file of an encryption beside it, or the
// encrypted store with all of c and its header, after recover has run the
// keyring's recovery. Before recovery, plain Open must see the plaintext
// store or refuse the encrypted one. It returns whether the store is
// encrypted.
func encState(t *testing.T, path string, c encContent, recover func()) (encrypted bool) {
	t.Helper()
	switch kind, err := sqlitevfs.Detect(path); {
	case err != nil:
		t.Fatal(err)
	case kind == sqlitevfs.FilePlaintext:
		s, err := host.Open(path)
		if err != nil {
			t.Fatalf("Open of the plaintext store before recovery: %v", err)
		}
		c.check(t, s)
		s.Close()
	case kind == sqlitevfs.FileEncrypted:
		if _, err := host.Open(path); !errors.Is(err, host.ErrEncryptedStore) {
			t.Fatalf("Open of the encrypted store: %v, want ErrEncryptedStore", err)
		}
	default:
		t.Fatalf("the store is neither plaintext nor encrypted: %v", kind)
	}
	recover()
	kind, err := sqlitevfs.Detect(path)
	if err != nil {
		t.Fatal(err)
	}
	switch kind {
	case sqlitevfs.FilePlaintext:
		for _, suf := range []string{".dek", ".dek.next", ".rekey"} {
			if _, err := os.Stat(path + suf); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("plaintext store after recovery has %s: %v", filepath.Base(path+suf), err)
			}
		}
		s, err := host.Open(path)
		if err != nil {
			t.Fatalf("Open of the plaintext store: %v", err)
		}
		defer s.Close()
		c.check(t, s)
		return false
	case sqlitevfs.FileEncrypted:
		for _, suf := range []string{".dek.next", ".rekey"} {
			if _, err := os.Stat(path + suf); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("encrypted store after recovery has %s: %v", filepath.Base(path+suf), err)
			}
		}
		s := encOpenKEK(t, path)
		defer s.Close()
		c.check(t, s)
		return true
	}
	t.Fatalf("after recovery the store is neither plaintext nor encrypted: %v", kind)
	return false
}

// encRecoveries are the calls that run the keyring's recovery, and what
// each may return on a plaintext or an encrypted store.
var encRecoveries = []struct {
	name string
	run  func(path string) error
	ok   func(err error, encrypted bool) bool
}{
	{"OpenWithKEK", func(path string) error {
		s, err := host.OpenWithKEK(path, encKEK)
		if err == nil {
			s.Close()
		}
		return err
	}, func(err error, enc bool) bool {
		return enc && err == nil || !enc && errors.Is(err, host.ErrPlaintextStore)
	}},
	{"LoadOrCreateDEKWith", func(path string) error {
		dek, _, err := keyring.LoadOrCreateDEKWith(path, keyring.RawKEK(encKEK), nil)
		clear(dek)
		return err
	}, func(err error, enc bool) bool {
		return enc && err == nil || !enc && errors.Is(err, keyring.ErrNoHeader)
	}},
	{"Encrypt", func(path string) error {
		return host.Encrypt(path, keyring.RawKEK(encKEK))
	}, func(err error, enc bool) bool {
		// On a plaintext store it converts, which encState sees as
		// encrypted afterwards: both are fine here.
		return err == nil || enc && errors.Is(err, host.ErrEncryptedStore)
	}},
	{"Rekey", func(path string) error {
		return host.Rekey(path, keyring.RawKEK(encKEK))
	}, func(err error, enc bool) bool {
		return enc && err == nil || !enc && errors.Is(err, host.ErrPlaintextStore)
	}},
}

// TestEncryptInterrupted stops the conversion at each stage, as if the
// process had died there, and checks what each recovering call makes of
// it: before the commit point (the rename of the copy) the plaintext store
// with every row and no leftovers, after it the encrypted store with every
// row and its header. Plain Open sees the plaintext store, or
// ErrEncryptedStore, before any recovery.
func TestEncryptInterrupted(t *testing.T) {
	for _, stage := range []struct {
		name      string
		encrypted bool
		after     func(t *testing.T, path string) // turns the stopped run into the state of another stage
	}{
		{"before-rename", false, nil},
		// Killed while VACUUM INTO wrote the copy.
		{"copying", false, func(t *testing.T, path string) {
			if err := os.Truncate(path+".rekey", 5000); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path+".rekey-journal", []byte("partial"), 0o600)
		}},
		// Killed after the next header was written, before the copy.
		{"next-written", false, func(t *testing.T, path string) {
			if err := os.Remove(path + ".rekey"); err != nil {
				t.Fatal(err)
			}
		}},
		{"renamed", true, nil},
	} {
		for _, rec := range encRecoveries {
			t.Run(stage.name+"/"+rec.name, func(t *testing.T) {
				path := tempStorePath(t)
				c := encFill(t, path, false)
				stop := stage.name
				if stage.after != nil {
					stop = "before-rename"
				}
				if err := host.EncryptStoppedAt(path, keyring.RawKEK(encKEK), stop); !errors.Is(err, host.ErrRekeyStopped) {
					t.Fatalf("stopped Encrypt: %v", err)
				}
				if stage.after != nil {
					stage.after(t, path)
				}
				if _, err := os.Stat(path + ".dek.next"); err != nil {
					t.Fatalf("the stopped run left no next header: %v", err)
				}
				if _, err := os.Stat(path + ".dek"); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("the stopped run installed the header: %v", err)
				}
				var err error
				enc := encState(t, path, c, func() { err = rec.run(path) })
				if !rec.ok(err, stage.encrypted) {
					t.Fatalf("%s after a run stopped at %s: %v", rec.name, stage.name, err)
				}
				if want := stage.encrypted || rec.name == "Encrypt"; enc != want {
					t.Fatalf("encrypted after recovery: %v, want %v", enc, want)
				}
			})
		}
	}
}

// TestEncryptCrash SIGKILLs a process at random moments while it converts
// a plaintext store. After every kill the store must be exactly one of
// the plaintext store with all its data (and, once recovered, nothing of
// the conversion beside it) or the encrypted store with all its data and
// its header. An encrypted result is replaced by a fresh plaintext copy
// for the next round.
func TestEncryptCrash(t *testing.T) {
	proc.Skip(t)
	dir := t.TempDir()
	template := filepath.Join(dir, "template", "sessions.db")
	c := encFill(t, template, true)
	path := filepath.Join(dir, "store", "sessions.db")
	cacheDir := childCacheDir(t)
	env := childEnv(cacheDir)

	// One child run to its end measures how long a conversion takes,
	// start-up included (full), and from its "start" line to its
	// "encrypted" line (conv). Most rounds kill a child at a random moment
	// of its conversion, timed from its "start" line, so that a loaded
	// machine, whose start-up times vary, still kills children while
	// they convert; a quarter kill at any moment of the whole run.
	storefiles.Copy(t, template, path)
	start := time.Now()
	cal := proc.Start(t, proc.Spec{Role: "encrypt-crash", Args: encChildArgs{Path: path}, Env: env})
	var convStart time.Time
	var conv time.Duration
	cal.Lines(func(l string) {
		switch l {
		case "start":
			convStart = time.Now()
		case "encrypted":
			conv = time.Since(convStart)
		}
	})
	if err := cal.Wait(); err != nil || conv == 0 {
		t.Fatalf("the calibration child: %v (conversion %v)", err, conv)
	}
	full := time.Since(start)
	t.Logf("a child converts the store in %v, %v of it after its start line", full, conv)
	encState(t, path, c, func() {})

	var plain, encrypted, started, completed int
	rounds := proc.Rounds(t, 40, 8)
	rng := proc.Rand(t, 0)
	round := 0
	// Until a child was killed while converting, rounds go on, up to 4×
	// as many.
	for ; round < rounds || started == completed && round < 4*rounds; round++ {
		if kind, _ := sqlitevfs.Detect(path); kind != sqlitevfs.FilePlaintext {
			reset(t, template, path)
		}
		p := proc.Start(t, proc.Spec{Role: "encrypt-crash", Args: encChildArgs{Path: path}, Env: env})
		done := make(chan int, 1)
		startLine := make(chan struct{})
		go func() {
			ok := 0
			p.Lines(func(l string) {
				switch l {
				case "start":
					ok = max(ok, 1)
					close(startLine)
				case "encrypted":
					ok = 2
				}
			})
			if ok == 0 {
				close(startLine)
			}
			done <- ok
		}()
		if rng.IntN(4) == 0 {
			p.KillAfter(time.Duration(rng.Int64N(int64(full + full/3))))
		} else {
			<-startLine
			p.KillAfter(time.Duration(rng.Int64N(int64(conv + conv/5))))
		}
		switch <-done {
		case 2:
			completed++
			started++
		case 1:
			started++
		}
		if err := p.Wait(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		rec := encRecoveries[rng.IntN(len(encRecoveries))]
		var err error
		enc := encState(t, path, c, func() { err = rec.run(path) })
		if err != nil && !errors.Is(err, host.ErrPlaintextStore) && !errors.Is(err, keyring.ErrNoHeader) && !errors.Is(err, host.ErrEncryptedStore) {
			t.Fatalf("round %d: %s: %v", round, rec.name, err)
		}
		if enc {
			encrypted++
		} else {
			plain++
		}
	}
	t.Logf("%d rounds (set %s to change)", round, proc.EnvRounds)
	t.Logf("after the kills: %d plaintext, %d encrypted (%d children started converting, %d completed)", plain, encrypted, started, completed)
	if started == completed {
		t.Error("no child was killed while it converted: the kills came too early or too late to test anything")
	}
}

// reset replaces the store at path, and whatever a conversion left beside
// it, by a copy of the plaintext store at template.
func reset(t *testing.T, template, path string) {
	t.Helper()
	for _, suf := range []string{".dek.next", ".rekey", ".rekey-wal", ".rekey-shm", ".rekey-journal"} {
		os.Remove(path + suf)
	}
	storefiles.Copy(t, template, path)
}

// TestEncryptRacesOpen starts a plaintext Open while Encrypt holds the
// plaintext database locked: the Open must fail with ErrEncryptedStore (it
// waits for SQLite's lock, then finds the encrypted file), and the converted store must keep
// all its data with no plaintext left beside it.
func TestEncryptRacesOpen(t *testing.T) {
	path := tempStorePath(t)
	c := encFill(t, path, false)
	opened := make(chan error, 1)
	err := host.EncryptPaused(path, keyring.RawKEK(encKEK), func() {
		go func() {
			s, err := host.Open(path)
			if err == nil {
				s.Close()
			}
			opened <- err
		}()
		time.Sleep(300 * time.Millisecond) // the Open reaches SQLite's lock
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-opened; !errors.Is(err, host.ErrEncryptedStore) {
		t.Fatalf("a plaintext Open during Encrypt: %v, want ErrEncryptedStore", err)
	}
	if hits, _ := storefiles.Scan(t, c.marker, filepath.Dir(path)); len(hits) > 0 {
		t.Fatalf("plaintext left after Encrypt: %v", hits)
	}
	s := encOpenKEK(t, path)
	defer s.Close()
	c.check(t, s)
}

// encFillArgs are the arguments of the encrypt-fill child.
type encFillArgs struct {
	Path   string
	Marker string
}

// encrypt-fill appends events carrying a marker to a plaintext store,
// says "done" and waits to be killed, so that its writes stay in the WAL.
var _ = proc.Role("encrypt-fill", func() int {
	proc.ExitWithParent(5 * time.Minute)
	var a encFillArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.Open(a.Path)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	for i := range 50 {
		_, err := s.Append(context.Background(), abi.EventEnvelope{Session: "wal", Turn: i, Kind: abi.KindAssistantMessage,
			Payload: json.RawMessage(fmt.Sprintf(`{"note":%q,"i":%d}`, a.Marker, i))})
		if err != nil {
			proc.Fail("append: %v", err)
		}
	}
	fmt.Println("done")
	select {}
})

// TestEncryptAfterCrash converts a plaintext store whose writer was
// killed: its events are only in the WAL, which Encrypt must carry over
// and then remove.
func TestEncryptAfterCrash(t *testing.T) {
	proc.Skip(t)
	path := tempStorePath(t)
	marker := storefiles.NewMarker()
	p := proc.Start(t, proc.Spec{Role: "encrypt-fill", Args: encFillArgs{Path: path, Marker: string(marker)}, Env: childEnv(childCacheDir(t))})
	done := make(chan bool, 1)
	go p.Lines(func(l string) { done <- l == "done" })
	select {
	case ok := <-done:
		if !ok {
			t.Fatalf("child: %v", p.Wait())
		}
	case <-time.After(time.Minute):
		t.Fatal("the child did not fill the store within a minute")
	}
	p.Kill()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := countInStoreFiles(t, path, marker)[filepath.Base(path)+"-wal"]; n == 0 {
		t.Fatal("the events are not in the WAL: the test proves nothing")
	}
	if err := host.Encrypt(path, keyring.RawKEK(encKEK)); err != nil {
		t.Fatal(err)
	}
	wantEncFiles(t, path, "", ".dek")
	if hits, _ := storefiles.Scan(t, marker, filepath.Dir(path)); len(hits) > 0 {
		t.Fatalf("plaintext left after Encrypt: %v", hits)
	}
	s := encOpenKEK(t, path)
	defer s.Close()
	if evs := allEvents(t, s, "wal"); len(evs) != 50 {
		t.Fatalf("%d events after Encrypt, want 50", len(evs))
	}
}
