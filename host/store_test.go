package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// storeOpeners opens a store at path in each mode, with the fixed test key.
var storeOpeners = []struct {
	name string
	open func(path string) (*host.Store, error)
}{
	{"plaintext", host.Open},
	{"encrypted", func(path string) (*host.Store, error) {
		return host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	}},
}

func TestOpenReopenKeepsEvents(t *testing.T) {
	for _, o := range storeOpeners {
		t.Run(o.name, func(t *testing.T) {
			path := tempStorePath(t)
			s, err := o.open(path)
			if err != nil {
				t.Fatal(err)
			}
			id := mustAppend(t, s, storeEvent("s1", 1, abi.KindUserMessage, `{"text":"hello"}`))
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			s, err = o.open(path)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.Close()
			evs := allEvents(t, s, "s1")
			if len(evs) != 1 || evs[0].ID != id || string(evs[0].Payload) != `{"text":"hello"}` {
				t.Fatalf("after reopen EventsSince = %+v, want one event id %d with the payload", evs, id)
			}
			// The next ID continues after the old ones.
			if id2 := mustAppend(t, s, storeEvent("s1", 2, abi.KindSystem, `{}`)); id2 <= id {
				t.Fatalf("ID after reopen = %d, want > %d", id2, id)
			}
		})
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	for _, o := range storeOpeners {
		t.Run(o.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "a", "b", "sessions.db")
			s, err := o.open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			mustAppend(t, s, storeEvent("s1", 1, abi.KindSystem, `{"x":1}`))

			checkMode(t, filepath.Join(root, "a"), 0o700)
			checkMode(t, filepath.Join(root, "a", "b"), 0o700)
			// While the store is open and has written, the WAL and its
			// index exist next to the database.
			for _, suf := range []string{"", "-wal", "-shm"} {
				checkMode(t, path+suf, 0o600)
			}
		})
	}
}

func TestOpenWithKEKCreatesPrivateHeader(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "x", "sessions.db")
	s, err := host.OpenWithKEK(path, bytes.Repeat([]byte{7}, keyring.KEKSize))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMode(t, filepath.Dir(path), 0o700)
	checkMode(t, keyring.HeaderPath(path), 0o600)
}

// checkMode reports an error unless path exists with permissions want.
func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("stat %s: %v", filepath.Base(path), err)
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

func TestCloseIdempotent(t *testing.T) {
	s, _ := openEncStore(t)
	mustAppend(t, s, storeEvent("s1", 1, abi.KindSystem, `{}`))
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.CloseEncrypted(); err != nil {
		t.Fatalf("CloseEncrypted after Close: %v", err)
	}
}

func TestCloseEncrypted(t *testing.T) {
	path := tempStorePath(t)
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, storeEvent("s1", 1, abi.KindSystem, `{"n":1}`))
	if err := s.CloseEncrypted(); err != nil {
		t.Fatalf("CloseEncrypted: %v", err)
	}
	if _, err := s.ListPastSessions(context.Background(), 0); !errors.Is(err, host.ErrClosed) {
		t.Fatalf("ListPastSessions after CloseEncrypted: %v, want ErrClosed", err)
	}
	// No plaintext sidecar: only the database (the WAL is removed on a
	// clean close, and -shm may stay) and the empty keyring lock file.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "sessions.db", "sessions.db-shm", "sessions.db-wal":
		case "sessions.db.lock":
			if fi, err := e.Info(); err != nil || fi.Size() != 0 {
				t.Errorf("lock file %s is not empty: %v", e.Name(), err)
			}
		default:
			t.Errorf("unexpected file %s next to the store", e.Name())
		}
	}
}

func TestMethodsAfterClose(t *testing.T) {
	s, path := openEncStore(t)
	mustAppend(t, s, storeEvent("s1", 1, abi.KindUserMessage, `{"text":"hi"}`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"AppendEvent": func() error { return s.AppendEvent(ctx, storeEvent("s1", 2, abi.KindSystem, `{}`)) },
		"Append": func() error {
			_, err := s.Append(ctx, storeEvent("s2", 1, abi.KindSystem, `{}`))
			return err
		},
		"EventsSince": func() error { _, err := s.EventsSince(ctx, "s1", 0, 0); return err },
		"ListPastSessions": func() error {
			_, err := s.ListPastSessions(ctx, 10)
			return err
		},
		"RecordToolIntent": func() error {
			return s.RecordToolIntent(ctx, abi.ToolIntent{Session: "s1", CallID: "c1", Tool: "bash"})
		},
		"RecordToolOutcome": func() error {
			return s.RecordToolOutcome(ctx, abi.ToolOutcome{Session: "s1", CallID: "c1", Status: abi.StatusOK})
		},
		"OrphanIntents":  func() error { _, err := s.OrphanIntents(ctx, ""); return err },
		"Pin":            func() error { return s.Pin(ctx, "s1") },
		"Unpin":          func() error { return s.Unpin(ctx, "s1") },
		"Pinned":         func() error { _, err := s.Pinned(ctx); return err },
		"ApplyRetention": func() error { _, err := s.ApplyRetention(ctx, time.Hour); return err },
		"DropMetadata":   func() error { _, err := s.DropMetadata(ctx, time.Hour, nil); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, host.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}

	// Nothing was written by the calls above.
	s2, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := len(allEvents(t, s2, "s1")); got != 1 {
		t.Errorf("events of s1 after reopen = %d, want 1", got)
	}
	if got := len(allEvents(t, s2, "s2")); got != 0 {
		t.Errorf("events of s2 after reopen = %d, want 0", got)
	}
	if pins, err := s2.Pinned(ctx); err != nil || len(pins) != 0 {
		t.Errorf("Pinned after reopen = %v, %v; want none", pins, err)
	}
	if orphans, err := s2.OrphanIntents(ctx, ""); err != nil || len(orphans) != 0 {
		t.Errorf("OrphanIntents after reopen = %v, %v; want none", orphans, err)
	}
}

func TestSnapshotPath(t *testing.T) {
	s, path := openPlainStore(t)
	if got := s.SnapshotPath(); got != path {
		t.Fatalf("SnapshotPath() = %q, want %q", got, path)
	}
	s.Close()
	if got := s.SnapshotPath(); got != path {
		t.Fatalf("SnapshotPath() after Close = %q, want %q", got, path)
	}
}

func TestDefaultPath(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	if got, want := host.DefaultPath(), filepath.Join(state, "gofastr", "sessions.db"); got != want {
		t.Errorf("DefaultPath() with XDG_STATE_HOME=%s = %q, want %q", state, got, want)
	}

	// The XDG spec says relative paths are invalid and must be ignored.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "relative/state")
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		if got, want := host.DefaultPath(), filepath.Join(home, ".local", "state", "gofastr", "sessions.db"); got != want {
			t.Errorf("DefaultPath() with relative XDG_STATE_HOME = %q, want %q", got, want)
		}
	}
	t.Setenv("XDG_STATE_HOME", "")
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		if got, want := host.DefaultPath(), filepath.Join(home, ".local", "state", "gofastr", "sessions.db"); got != want {
			t.Errorf("DefaultPath() without XDG_STATE_HOME = %q, want %q", got, want)
		}
	}
}

func TestOpenBadArguments(t *testing.T) {
	path := tempStorePath(t)
	tests := []struct {
		name string
		open func() (*host.Store, error)
	}{
		{"empty path", func() (*host.Store, error) { return host.Open("") }},
		{"short key", func() (*host.Store, error) {
			return host.OpenEncrypted(path, host.EncryptionAtRest, make([]byte, 16))
		}},
		{"nil key", func() (*host.Store, error) { return host.OpenEncrypted(path, host.EncryptionAtRest, nil) }},
		{"unknown mode", func() (*host.Store, error) { return host.OpenEncrypted(path, host.EncryptionMode(42), storeTestKey) }},
	}
	for _, tt := range tests {
		s, err := tt.open()
		if !errors.Is(err, host.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", tt.name, err)
		}
		if s != nil {
			t.Errorf("%s: got a store with an error", tt.name)
			s.Close()
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed open created %s (stat: %v)", path, err)
	}
}

// closedStoreWith creates a store at path with one event and closes it.
func closedStoreWith(t *testing.T, path string, key []byte) {
	t.Helper()
	var s *host.Store
	var err error
	if key == nil {
		s, err = host.Open(path)
	} else {
		s, err = host.OpenEncrypted(path, host.EncryptionAtRest, key)
	}
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, storeEvent("s1", 1, abi.KindUserMessage, `{"text":"precious"}`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenEncryptedWrongKey(t *testing.T) {
	path := tempStorePath(t)
	closedStoreWith(t, path, storeTestKey)
	before := fileDigest(t, path)

	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, otherTestKey)
	if err == nil {
		s.Close()
		t.Fatal("OpenEncrypted with the wrong key succeeded")
	}
	if !errors.Is(err, sqlitevfs.ErrWrongKey) {
		t.Fatalf("OpenEncrypted with the wrong key: %v, want an error wrapping sqlitevfs.ErrWrongKey", err)
	}
	if after := fileDigest(t, path); after != before {
		t.Fatal("opening with the wrong key changed the database file")
	}

	// The right key still opens it.
	s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatalf("OpenEncrypted with the right key after a wrong one: %v", err)
	}
	defer s.Close()
	if got := len(allEvents(t, s, "s1")); got != 1 {
		t.Fatalf("events = %d, want 1", got)
	}
}

func TestOpenEncryptedOnPlaintextStore(t *testing.T) {
	path := tempStorePath(t)
	closedStoreWith(t, path, nil)
	before := fileDigest(t, path)

	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err == nil {
		s.Close()
		t.Fatal("OpenEncrypted on a plaintext store succeeded")
	}
	if !errors.Is(err, sqlitevfs.ErrNotEncrypted) {
		t.Fatalf("OpenEncrypted on a plaintext store: %v, want an error wrapping sqlitevfs.ErrNotEncrypted", err)
	}
	if after := fileDigest(t, path); after != before {
		t.Fatal("OpenEncrypted changed the plaintext store")
	}
}

func TestOpenPlaintextOnEncryptedStore(t *testing.T) {
	path := tempStorePath(t)
	closedStoreWith(t, path, storeTestKey)
	before := fileDigest(t, path)

	s, err := host.Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open (plaintext) on an encrypted store succeeded")
	}
	if after := fileDigest(t, path); after != before {
		t.Fatal("Open (plaintext) changed the encrypted store")
	}
}

// createForeignDB creates an SQLite database that is not a session store,
// with one table and one row, through the engine.
func createForeignDB(t *testing.T, path string, o engine.Options) {
	t.Helper()
	c, err := engine.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me')`); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNotStore(t *testing.T) {
	t.Run("plaintext", func(t *testing.T) {
		path := tempStorePath(t)
		createForeignDB(t, path, engine.Options{})
		s, err := host.Open(path)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, host.ErrNotStore) {
			t.Fatalf("Open on a foreign SQLite file: %v, want ErrNotStore", err)
		}
	})
	t.Run("encrypted", func(t *testing.T) {
		path := tempStorePath(t)
		k, err := engine.RegisterKey(storeTestKey)
		if err != nil {
			t.Fatal(err)
		}
		createForeignDB(t, path, engine.Options{VFS: k.Name, Encrypted: true})
		k.Close()
		s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, host.ErrNotStore) {
			t.Fatalf("OpenEncrypted on a foreign encrypted SQLite file: %v, want ErrNotStore", err)
		}
	})
}

// TestOpenNotStoreLeavesFileUnchanged opens a foreign SQLite database that
// uses a rollback journal, as most SQLite files do: the store must refuse
// it without converting it to WAL mode or otherwise writing to it.
func TestOpenNotStoreLeavesFileUnchanged(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			path := tempStorePath(t)
			createForeignDB(t, path, engine.Options{JournalMode: mode})
			before := fileDigest(t, path)
			s, err := host.Open(path)
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, host.ErrNotStore) {
				t.Fatalf("Open: %v, want ErrNotStore", err)
			}
			if after := fileDigest(t, path); after != before {
				t.Fatalf("Open on a foreign %s-mode database changed the file", mode)
			}
		})
	}
}

func TestOpenNewerSchema(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprint("encrypted=", encrypted), func(t *testing.T) {
			path := tempStorePath(t)
			var key []byte
			o := engine.Options{}
			if encrypted {
				key = storeTestKey
				k, err := engine.RegisterKey(key)
				if err != nil {
					t.Fatal(err)
				}
				defer k.Close()
				o = engine.Options{VFS: k.Name, Encrypted: true}
			}
			closedStoreWith(t, path, key)

			c, err := engine.Open(path, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Exec(fmt.Sprintf("PRAGMA user_version=%d", host.SchemaVersion+1)); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			before := fileDigest(t, path)

			var s *host.Store
			if encrypted {
				s, err = host.OpenEncrypted(path, host.EncryptionAtRest, key)
			} else {
				s, err = host.Open(path)
			}
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, host.ErrNewerSchema) {
				t.Fatalf("open a store of schema %d: %v, want ErrNewerSchema", host.SchemaVersion+1, err)
			}
			if after := fileDigest(t, path); after != before {
				t.Fatal("opening a newer-schema store changed the file")
			}
		})
	}
}

func TestOpenSetsSchemaVersion(t *testing.T) {
	path := tempStorePath(t)
	closedStoreWith(t, path, nil)
	c, err := engine.Open(path, engine.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, _, err := c.Prepare("PRAGMA user_version")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.Step() {
		t.Fatal(st.Err())
	}
	if got, want := st.ColumnInt(0), host.SchemaVersion; got != want || want < 1 {
		t.Fatalf("user_version = %d, want SchemaVersion %d (>= 1)", got, want)
	}
}

func TestOpenGarbage(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"random pages", []byte(incompressible(1, 8192))},
		{"short text", []byte("hello, not a database\n")},
		{"sqlite magic then garbage", append([]byte("SQLite format 3\x00"), []byte(incompressible(2, 4080))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, o := range storeOpeners {
				path := tempStorePath(t)
				if err := os.WriteFile(path, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := o.open(path)
				if err == nil {
					s.Close()
					t.Errorf("%s open of %s succeeded", o.name, tt.name)
					continue
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tt.data) {
					t.Errorf("%s open of %s changed the file", o.name, tt.name)
				}
			}
		})
	}
}

func TestOpenWithKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	kek := bytes.Repeat([]byte{0x42}, keyring.KEKSize)
	s, err := host.OpenWithKEK(path, kek)
	if err != nil {
		t.Fatal(err)
	}
	id := mustAppend(t, s, storeEvent("s1", 1, abi.KindUserMessage, `{"text":"kek"}`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyring.HeaderPath(path)); err != nil {
		t.Fatalf("DEK header: %v", err)
	}
	// The data key is not the KEK: the file does not open with the KEK as
	// a data key.
	if s, err := host.OpenEncrypted(path, host.EncryptionAtRest, kek); err == nil {
		s.Close()
		t.Fatal("the store opened with the KEK used as data key")
	}

	s, err = host.OpenWithKEK(path, kek)
	if err != nil {
		t.Fatalf("reopen with the KEK: %v", err)
	}
	evs := allEvents(t, s, "s1")
	s.Close()
	if len(evs) != 1 || evs[0].ID != id || string(evs[0].Payload) != `{"text":"kek"}` {
		t.Fatalf("events after reopen = %+v", evs)
	}

	before := fileDigest(t, path)
	if s, err := host.OpenWithKEK(path, bytes.Repeat([]byte{0x43}, keyring.KEKSize)); !errors.Is(err, keyring.ErrWrongKEK) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("OpenWithKEK with the wrong KEK: %v, want ErrWrongKEK", err)
	}
	if s, err := host.OpenWithKEK(path, []byte("short")); !errors.Is(err, keyring.ErrInvalidKEK) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("OpenWithKEK with a short KEK: %v, want ErrInvalidKEK", err)
	}
	if after := fileDigest(t, path); after != before {
		t.Fatal("a failed OpenWithKEK changed the database")
	}

	// Without the header, an existing store cannot get a new data key.
	if err := os.Remove(keyring.HeaderPath(path)); err != nil {
		t.Fatal(err)
	}
	if s, err := host.OpenWithKEK(path, kek); !errors.Is(err, keyring.ErrNoHeader) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("OpenWithKEK without the DEK header: %v, want ErrNoHeader", err)
	}
}

// TestReopenKeepsFilesPrivate reopens a store whose -shm file is gone, as
// after copying or restoring only the database file: the files the store
// recreates must still be 0600.
func TestReopenKeepsFilesPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	for _, o := range storeOpeners {
		t.Run(o.name, func(t *testing.T) {
			path := tempStorePath(t)
			s, err := o.open(path)
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, storeEvent("s1", 1, abi.KindSystem, `{}`))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for _, suf := range []string{"-wal", "-shm"} {
				if err := os.Remove(path + suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
			}
			if s, err = o.open(path); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			mustAppend(t, s, storeEvent("s1", 2, abi.KindSystem, `{}`))
			if _, err := s.EventsSince(context.Background(), "s1", 0, 0); err != nil {
				t.Fatal(err)
			}
			for _, suf := range []string{"", "-wal", "-shm"} {
				checkMode(t, path+suf, 0o600)
			}
		})
	}
}

// TestCloseDuringReads closes an encrypted store while reads are in
// flight. Each read must return its result or ErrClosed. The scenario runs
// in a child process because a failure can be a process-wide panic.
func TestCloseDuringReads(t *testing.T) {
	if isTestChild(t.Name()) {
		closeDuringReads(t)
		return
	}
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs subprocesses")
	}
	out, err := runTestChild(t, t.Name())
	if err != nil {
		if len(out) > 4000 {
			out = out[:4000] + "\n[…]"
		}
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func closeDuringReads(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		s, err := host.OpenEncrypted(tempStorePath(t), host.EncryptionAtRest, storeTestKey)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, storeEvent("s", 1, abi.KindUserMessage, `{"text":"x"}`))
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					var err error
					if (g+i)%2 == 0 {
						_, err = s.EventsSince(context.Background(), "s", 0, 0)
					} else {
						_, err = s.ListPastSessions(context.Background(), 10)
					}
					if err != nil {
						if !errors.Is(err, host.ErrClosed) {
							t.Errorf("round %d: read racing Close: %v, want ErrClosed", round, err)
						}
						return
					}
				}
			}()
		}
		for i := range 10 {
			mustAppend(t, s, storeEvent("s", i+2, abi.KindSystem, `{}`))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}
