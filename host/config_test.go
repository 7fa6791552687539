package host_test

import (
	"bytes"
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
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/keyring"
)

// TestConfigImmutable: a With method leaves its receiver as it was.
func TestConfigImmutable(t *testing.T) {
	base := host.NewConfig().WithMaxPayloadSize(100)
	_ = base.WithMaxPayloadSize(10)
	_ = base.WithReaders(0) // invalid: must not poison base
	s, err := host.OpenWithConfig(tempStorePath(t), base)
	if err != nil {
		t.Fatalf("base config after derived ones: %v", err)
	}
	defer s.Close()
	if _, err := s.Append(context.Background(), storeEvent("s", 1, "user_message", `"`+strings.Repeat("x", 50)+`"`)); err != nil {
		t.Fatalf("a 52-byte payload under a limit of 100: %v", err)
	}
	if _, err := s.Append(context.Background(), storeEvent("s", 1, "user_message", `"`+strings.Repeat("x", 99)+`"`)); !errors.Is(err, host.ErrPayloadTooLarge) {
		t.Fatalf("a 101-byte payload under a limit of 100: %v", err)
	}
}

// TestConfigInvalid: a bad value fails OpenWithConfig with
// ErrInvalidArgument naming the option, and creates nothing.
func TestConfigInvalid(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "sessions.db")
	for _, c := range []struct {
		option string
		cfg    host.Config
	}{
		{"WithKEKSource", host.NewConfig().WithKEKSource(nil)},
		{"WithKey", host.NewConfig().WithKey(make([]byte, 16))},
		{"WithKey", host.NewConfig().WithKey(nil)},
		{"WithRedactors", host.NewConfig().WithRedactors(host.DefaultRedactor{}, nil)},
		{"WithReaders", host.NewConfig().WithReaders(0)},
		{"WithReaders", host.NewConfig().WithReaders(-3)},
		{"WithReaders", host.NewConfig().WithReaders(host.MaxReaders + 1)},
		{"WithReaders", host.NewConfig().WithReaders(1 << 40)},
		{"WithKey", host.NewConfig().WithKey(make([]byte, 32))},
		{"WithKEKSource", host.NewConfig().WithKEKSource((*keyring.PassphraseKEK)(nil))},
		{"WithBusyTimeout", host.NewConfig().WithBusyTimeout(0)},
		{"WithBusyTimeout", host.NewConfig().WithBusyTimeout(2 * time.Hour)},
		{"WithClock", host.NewConfig().WithClock(nil)},
		{"WithMaxPayloadSize", host.NewConfig().WithMaxPayloadSize(0)},
		{"WithMaxPayloadSize", host.NewConfig().WithMaxPayloadSize(host.MaxPayloadSize + 1)},
		{"WithCacheDir", host.NewConfig().WithCacheDir("")},
		{"WithKEKSource and WithKey", host.NewConfig().WithKEKSource(keyring.RawKEK(raceKEK1)).WithKey(storeTestKey)},
		// The first bad value is the one reported.
		{"WithReaders", host.NewConfig().WithReaders(0).WithClock(nil)},
	} {
		s, err := host.OpenWithConfig(path, c.cfg)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, host.ErrInvalidArgument) || !strings.Contains(err.Error(), c.option) {
			t.Errorf("%s: %v, want ErrInvalidArgument naming %s", c.option, err, c.option)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("invalid configurations created %d entries", len(entries))
	}
}

// TestConfigKeyOwnership: the Store keeps its own copy of a key given with
// WithKey; the caller may clear its slice once OpenWithConfig returns.
func TestConfigKeyOwnership(t *testing.T) {
	path := tempStorePath(t)
	key := bytes.Clone(storeTestKey)
	s, err := host.OpenWithConfig(path, host.NewConfig().WithKey(key))
	if err != nil {
		t.Fatal(err)
	}
	clear(key)
	for i := range 50 { // enough to write and read pages after the clear
		mustAppend(t, s, storeEvent("s", i, "user_message", `{"text":"after the clear"}`))
	}
	if n := len(allEvents(t, s, "s")); n != 50 {
		t.Fatalf("%d of 50 events read back", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatalf("reopen with the original key: %v", err)
	}
	defer s.Close()
	if n := len(allEvents(t, s, "s")); n != 50 {
		t.Fatalf("%d of 50 events after reopening", n)
	}

	// The Config holds its own copy: reused after the caller cleared its
	// slice, it still opens (and creates) stores under the original key,
	// never under a zeroed one.
	key = bytes.Clone(storeTestKey)
	cfg := host.NewConfig().WithKey(key)
	clear(key)
	other := tempStorePath(t)
	s2, err := host.OpenWithConfig(other, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s2, storeEvent("s", 0, "user_message", `{"text":"second store"}`))
	s2.Close()
	s2, err = host.OpenEncrypted(other, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		t.Fatalf("a store created from the reused Config does not open with the original key: %v", err)
	}
	s2.Close()
}

// TestConfigClearedKEK: a Config over keyring.RawKEK(k) whose k the caller
// cleared creates no store under an all-zero KEK.
func TestConfigClearedKEK(t *testing.T) {
	kek := bytes.Clone(raceKEK1)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(kek))
	clear(kek)
	path := tempStorePath(t)
	s, err := host.OpenWithConfig(path, cfg)
	if err == nil {
		s.Close()
		t.Fatal("a store was created under an all-zero KEK")
	}
	if !errors.Is(err, keyring.ErrInvalidKEK) {
		t.Fatalf("cleared KEK: %v, want keyring.ErrInvalidKEK", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the database was created: %v", err)
	}
}

// TestBusy: a write that waits longer than the busy timeout for another
// connection's write lock fails with ErrBusy and writes nothing; once the
// lock is released, writes go through.
func TestBusy(t *testing.T) {
	path := tempStorePath(t)
	s, err := host.OpenWithConfig(path, host.NewConfig().WithBusyTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppend(t, s, storeEvent("s", 0, "user_message", `{"text":"before"}`))
	other, err := engine.Open(path, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Exec("BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(context.Background(), storeEvent("s", 1, "user_message", `{"text":"while locked"}`))
	if !errors.Is(err, host.ErrBusy) {
		t.Fatalf("append while another connection holds the write lock: %v, want ErrBusy", err)
	}
	if err := other.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, storeEvent("s", 2, "user_message", `{"text":"after"}`))
	if n := len(allEvents(t, s, "s")); n != 2 {
		t.Fatalf("%d events, want 2 (the refused append wrote nothing)", n)
	}
}

// TestConfigKEKSource opens with a source from keyring.Resolve; the same
// store opens with OpenWithKEK and the same KEK.
func TestConfigKEKSource(t *testing.T) {
	path := tempStorePath(t)
	src, err := keyring.Resolve(keyring.Sources{Key: raceKEK1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := host.OpenWithConfig(path, host.NewConfig().WithKEKSource(src))
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, storeEvent("s", 1, "user_message", `{"text":"x"}`))
	s.Close()
	s, err = host.OpenWithKEK(path, raceKEK1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(allEvents(t, s, "s")); n != 1 {
		t.Fatalf("%d of 1 event through OpenWithKEK", n)
	}
	if _, err := host.Open(path); !errors.Is(err, host.ErrEncryptedStore) {
		t.Fatalf("plaintext open of the store: %v, want ErrEncryptedStore", err)
	}
}

// TestConfigClock: the clock gives the time of events, intents and
// outcomes without one, and the base of retention's cutoff.
func TestConfigClock(t *testing.T) {
	now := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	s, err := host.OpenWithConfig(tempStorePath(t), host.NewConfig().WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	mustAppend(t, s, storeEvent("s", 1, "user_message", `{"text":"now"}`))
	old := storeEvent("s", 2, "user_message", `{"text":"old"}`)
	old.TS = now.Add(-2 * time.Hour)
	mustAppend(t, s, old)
	if err := s.RecordToolIntent(ctx, abi.ToolIntent{Session: "s", CallID: "c", Tool: "ls"}); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, s, "s")
	if len(evs) != 2 || !evs[0].TS.Equal(now) {
		t.Fatalf("events %v, want the first at the clock's %v", evs, now)
	}
	orphans, err := s.OrphanIntents(ctx, "s")
	if err != nil || len(orphans) != 1 || !orphans[0].StartedAt.Equal(now) {
		t.Fatalf("intent %v (%v), want it started at %v", orphans, err, now)
	}
	// Cutoff now-1h by the clock: drops the old event only. By the real
	// time, both are decades old.
	n, err := s.ApplyRetention(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("ApplyRetention(1h) by the clock dropped %d payloads (%v), want 1", n, err)
	}
	evs = allEvents(t, s, "s")
	if evs[0].Payload == nil || evs[1].Payload != nil {
		t.Fatalf("after retention: payloads %s and %s, want the first kept", evs[0].Payload, evs[1].Payload)
	}
}

// TestConfigRedactors: WithRedactors replaces the default redactor; with
// none, nothing is redacted. Store.Redactors shows the configured ones.
func TestConfigRedactors(t *testing.T) {
	secret := fakeOpenAIKey(7)
	payload := json.RawMessage(`{"text":"key ` + secret + ` BLUEBIRD"}`)
	for _, c := range []struct {
		name     string
		cfg      host.Config
		has, not []string
	}{
		{"default", host.NewConfig(), []string{"BLUEBIRD"}, []string{secret}},
		{"none", host.NewConfig().WithRedactors(), []string{secret, "BLUEBIRD"}, nil},
		{"custom", host.NewConfig().WithRedactors(replaceRedactor{"BLUEBIRD", "[codename]"}), []string{secret, "[codename]"}, []string{"BLUEBIRD"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := host.OpenWithConfig(tempStorePath(t), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			mustAppend(t, s, abi.EventEnvelope{Session: "s", Kind: abi.KindUserMessage, Payload: payload})
			got := string(allEvents(t, s, "s")[0].Payload)
			for _, w := range c.has {
				if !strings.Contains(got, w) {
					t.Errorf("stored %s, want it to contain %q", got, w)
				}
			}
			for _, w := range c.not {
				if strings.Contains(got, w) {
					t.Errorf("stored %s, want %q redacted", got, w)
				}
			}
		})
	}
}

// TestConfigReaders: a store with one idle read connection serves
// concurrent reads.
func TestConfigReaders(t *testing.T) {
	s, err := host.OpenWithConfig(tempStorePath(t), host.NewConfig().WithReaders(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppend(t, s, storeEvent("s", 1, "user_message", `{"text":"x"}`))
	errc := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := s.EventsSince(context.Background(), "s", 0, 0)
			errc <- err
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestConfigCacheDir: the compiled module's cache directory is the
// process's, set once: the one in use is accepted, another refused.
func TestConfigCacheDir(t *testing.T) {
	openPlainStore(t) // sets SQLite up
	if engine.CompilationCache() == nil {
		t.Skip("SQLite runs without a compilation cache here (GOFASTR_CACHE_DIR=off or no cache directory): nothing to compare")
	}
	s, err := host.OpenWithConfig(tempStorePath(t), host.NewConfig().WithCacheDir(engine.CacheDir()))
	if err != nil {
		t.Fatalf("the cache directory in use: %v", err)
	}
	s.Close()
	s, err = host.OpenWithConfig(tempStorePath(t), host.NewConfig().WithCacheDir(t.TempDir()))
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, host.ErrInvalidArgument) || !strings.Contains(err.Error(), "WithCacheDir") {
		t.Fatalf("another cache directory: %v, want ErrInvalidArgument naming WithCacheDir", err)
	}
	// The same directory spelled with a trailing separator is the same.
	s, err = host.OpenWithConfig(tempStorePath(t), host.NewConfig().WithCacheDir(engine.CacheDir()+string(filepath.Separator)))
	if err != nil {
		t.Fatalf("the cache directory in use, with a trailing separator: %v", err)
	}
	s.Close()
}
