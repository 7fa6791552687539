package keyring_test

import (
	"bytes"
	"testing"

	"github.com/gofastr/store/keyring"
)

func TestPassphraseKEK(t *testing.T) {
	db := newDB(t)
	src := fastPassphrase("correct horse")
	dek, _, err := keyring.LoadOrCreateDEKWith(db, src)
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
	if h.Metadata != "kek=passphrase" {
		t.Errorf("meta=%q", h.Metadata)
	}

	// Opening uses the header's parameters, whatever the source's are.
	got, _, err := keyring.LoadOrCreateDEKWith(db, keyring.NewPassphraseKEK([]byte("correct horse")))
	if err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("reopen: err=%v, same DEK %v", err, bytes.Equal(got, dek))
	}
	_, _, err = keyring.LoadOrCreateDEKWith(db, fastPassphrase("correct horsE"))
	wantErr(t, err, keyring.ErrWrongKEK)
	_, _, err = keyring.LoadOrCreateDEKWith(db, keyring.NewPassphraseKEK(nil))
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

func TestSetParamsPanics(t *testing.T) {
	tests := []struct {
		time, mem uint32
		threads   uint8
	}{
		{0, 64, 1},
		{17, 64, 1},
		{1, 7, 1},
		{1, 31, 4},
		{1, 64, 0},
		{1, 1<<20 + 1, 1},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetParams(%d, %d, %d) did not panic", tt.time, tt.mem, tt.threads)
				}
			}()
			keyring.NewPassphraseKEK([]byte("p")).SetParams(tt.time, tt.mem, tt.threads)
		}()
	}
	keyring.NewPassphraseKEK([]byte("p")).SetParams(16, 1<<20, 255) // the limits themselves are fine
}
