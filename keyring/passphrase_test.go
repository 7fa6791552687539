package keyring_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gofastr/store/keyring"
)

func TestPassphraseKEK(t *testing.T) {
	db := newDB(t)
	src := fastPassphrase("correct horse")
	dek, _, err := keyring.LoadOrCreateDEKWith(db, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := keyring.ReadHeader(db)
	if err != nil {
		t.Fatal(err)
	}
	k := h.KDF
	if k == nil || k.Alg != "argon2id" || len(k.Salt) != 16 || k.Time != 1 || k.Memory != 64 || k.Threads != 1 {
		t.Fatalf("kdf=%+v, want argon2id with a 16-byte salt and t=1 m=64 p=1", k)
	}
	if h.Source() != "passphrase" {
		t.Errorf("meta=%q, want source passphrase", h.Metadata)
	}

	// Opening uses the header's parameters, whatever the source's are.
	got, _, err := keyring.LoadOrCreateDEKWith(db, keyring.NewPassphraseKEK([]byte("correct horse")), nil)
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("reopen: err=%v, same DEK %v", err, bytes.Equal(got, dek))
	}
	_, _, err = keyring.LoadOrCreateDEKWith(db, fastPassphrase("correct horsE"), nil)
	wantErr(t, err, keyring.ErrWrongKEK)
	_, _, err = keyring.LoadOrCreateDEKWith(db, keyring.NewPassphraseKEK(nil), nil)
	wantErr(t, err, keyring.ErrInvalidKEK)
	_, _, err = keyring.LoadOrCreateDEK(db, newKEK())
	wantErr(t, err, keyring.ErrWrongKEK)

	// Every wrap gets a fresh salt, even with the same passphrase.
	if err := keyring.RotateKEKWith(db, src, fastPassphrase("correct horse")); err != nil {
		t.Fatal(err)
	}
	h2, _ := keyring.ReadHeader(db)
	if bytes.Equal(h2.KDF.Salt, k.Salt) {
		t.Error("salt reused across wraps")
	}
}

func TestPassphraseDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("derives a key with 64 MiB of Argon2id")
	}
	kek, kdf, err := keyring.NewPassphraseKEK([]byte("p")).NewKEK()
	if err != nil {
		t.Fatal(err)
	}
	if len(kek) != keyring.KEKSize || kdf.Time != keyring.DefaultArgon2Time ||
		kdf.Memory != keyring.DefaultArgon2MemoryKiB || kdf.Threads != keyring.DefaultArgon2Threads {
		t.Errorf("kdf=%+v, want t=3 m=65536 p=4", kdf)
	}
	if keyring.DefaultArgon2Time != 3 || keyring.DefaultArgon2MemoryKiB != 64*1024 || keyring.DefaultArgon2Threads != 4 {
		t.Error("documented defaults changed")
	}
}

// TestSetParamsFloor checks that SetParams refuses parameters below the
// RFC 9106 / OWASP floor (the original accepted m=8 KiB, t=1) with a typed
// error naming the parameter, and keeps the previous parameters.
func TestSetParamsFloor(t *testing.T) {
	bad := []struct {
		time, mem uint32
		threads   uint8
		param     string
	}{
		{0, 64 * 1024, 1, "time"},
		{17, 64 * 1024, 1, "time"},
		{3, 64 * 1024, 0, "threads"},
		{1, 1<<20 + 1, 1, "memory"},
		{1, 8, 1, "memory"},           // the review's example
		{1, 46*1024 - 1, 1, "memory"}, // one pass needs 46 MiB
		{2, 19*1024 - 1, 1, "memory"}, // two passes need 19 MiB
		{16, 64, 4, "memory"},
	}
	for _, tt := range bad {
		s := keyring.NewPassphraseKEK([]byte("p"))
		err := s.SetParams(tt.time, tt.mem, tt.threads)
		pe, ok := errors.AsType[*keyring.ParamError](err)
		if !ok || !errors.Is(err, keyring.ErrWeakKDF) || pe.Param != tt.param {
			t.Errorf("SetParams(%d, %d, %d) = %v, want a ParamError for %s wrapping ErrWeakKDF", tt.time, tt.mem, tt.threads, err, tt.param)
			continue
		}
		if tm, m, p := s.Params(); tm != keyring.DefaultArgon2Time || m != keyring.DefaultArgon2MemoryKiB || p != keyring.DefaultArgon2Threads {
			t.Errorf("SetParams(%d, %d, %d) failed but changed the parameters to t=%d m=%d p=%d", tt.time, tt.mem, tt.threads, tm, m, p)
		}
	}
	good := []struct {
		time, mem uint32
		threads   uint8
	}{
		{1, 46 * 1024, 1},
		{2, 19 * 1024, 1},
		{3, 64 * 1024, 4},
		{16, 1 << 20, 255}, // the upper limits themselves are fine
	}
	for _, tt := range good {
		if err := keyring.NewPassphraseKEK([]byte("p")).SetParams(tt.time, tt.mem, tt.threads); err != nil {
			t.Errorf("SetParams(%d, %d, %d) = %v", tt.time, tt.mem, tt.threads, err)
		}
	}
}
