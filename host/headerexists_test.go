package host_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// swapInPlaintext replaces the database of the encrypted file at enc (its
// -wal and -shm removed, its <enc>.dek kept) with a copy of the plaintext
// database plain, as a restore of the wrong backup or an attacker would.
func swapInPlaintext(t *testing.T, plain, enc string) {
	t.Helper()
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, suf := range []string{"-wal", "-shm"} {
		os.Remove(enc + suf)
	}
	if err := os.WriteFile(enc, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyring.HeaderPath(enc)); err != nil {
		t.Fatalf("the header is gone: %v", err)
	}
}

// dirDigest returns the content of every file in dir, lock files excluded.
func dirDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".lock" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

// TestOpenRefusesPlaintextBesideHeader: a plaintext database with a DEK
// header beside it is refused by every open, with or without a key, with
// keyring.ErrHeaderExists, and no file changes; the same for the ledger.
func TestOpenRefusesPlaintextBesideHeader(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	enc := filepath.Join(dir, "enc", "sessions.db")
	plain := filepath.Join(dir, "plain", "sessions.db")
	s, err := host.OpenWithKEK(enc, encKEK)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, storeEvent("sess", 0, "message", `{"text":"sealed"}`))
	s.Close()
	p, err := host.Open(plain)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, p, storeEvent("sess", 0, "message", `{"text":"clear"}`))
	p.Close()
	swapInPlaintext(t, plain, enc)

	encLedger := filepath.Join(dir, "enc", "costs.db")
	plainLedger := filepath.Join(dir, "plain", "costs.db")
	l, err := host.OpenCostLedgerWithConfig(encLedger, host.NewConfig().WithKEKSource(keyring.RawKEK(encKEK)))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	pl, err := host.OpenCostLedger(plainLedger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.RecordEntry(ctx, host.LedgerEntry{Session: "sess", Provider: "p", Model: "m", Cost: abi.NanoUSD(7)}); err != nil {
		t.Fatal(err)
	}
	pl.Close()
	swapInPlaintext(t, plainLedger, encLedger)

	before := dirDigest(t, filepath.Dir(enc))
	opens := map[string]func() error{
		"Open": func() error { return closeStore(host.Open(enc)) },
		"OpenWithKEK": func() error {
			return closeStore(host.OpenWithKEK(enc, encKEK))
		},
		"OpenEncrypted": func() error {
			return closeStore(host.OpenEncrypted(enc, host.EncryptionAtRest, storeTestKey))
		},
		"OpenWithConfig": func() error { return closeStore(host.OpenWithConfig(enc, host.NewConfig())) },
		"OpenCostLedger": func() error {
			l, err := host.OpenCostLedger(encLedger)
			if err == nil {
				l.Close()
			}
			return err
		},
		"OpenCostLedgerWithConfig/KEK": func() error {
			l, err := host.OpenCostLedgerWithConfig(encLedger, host.NewConfig().WithKEKSource(keyring.RawKEK(encKEK)))
			if err == nil {
				l.Close()
			}
			return err
		},
		"Verify": func() error {
			_, err := host.Verify(ctx, enc, host.NewConfig(), nil)
			return err
		},
	}
	for name, open := range opens {
		err := open()
		if !errors.Is(err, keyring.ErrHeaderExists) {
			t.Errorf("%s: %v, want keyring.ErrHeaderExists", name, err)
		} else if !bytes.Contains([]byte(err.Error()), []byte("nothing was changed")) {
			t.Errorf("%s: the message does not say that nothing was changed: %v", name, err)
		}
	}
	after := dirDigest(t, filepath.Dir(enc))
	if len(after) != len(before) {
		t.Fatalf("files changed: %d before, %d after", len(before), len(after))
	}
	for name, b := range before {
		if after[name] != b {
			t.Errorf("%s changed", name)
		}
	}
}

// TestOpenPlaintextBesideNextHeader: an Encrypt interrupted before its
// commit point leaves <path>.dek.next, not <path>.dek, beside the
// plaintext store; it is no replaced database, and Open opens the store.
func TestOpenPlaintextBesideNextHeader(t *testing.T) {
	path := tempStorePath(t)
	c := encFill(t, path, false)
	if err := host.EncryptStoppedAt(path, keyring.RawKEK(encKEK), "before-rename"); !errors.Is(err, host.ErrRekeyStopped) {
		t.Fatalf("stopped Encrypt: %v", err)
	}
	if _, err := os.Stat(path + ".dek.next"); err != nil {
		t.Fatalf("no next header: %v", err)
	}
	s, err := host.Open(path)
	if err != nil {
		t.Fatalf("Open after an interrupted Encrypt: %v", err)
	}
	c.check(t, s)
	s.Close()
}

func closeStore(s *host.Store, err error) error {
	if err == nil {
		s.Close()
	}
	return err
}
