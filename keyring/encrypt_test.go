package keyring_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gofastr/store/keyring"
)

// These tests check the plaintext branch of the rekey protocol,
// EncryptWith, with a stand-in for a plaintext SQLite database: SQLite's
// 16-byte header followed by the content in the clear. Package host runs
// the same protocol with SQLite (host.Encrypt).

// fakePlainMagic is the header of a plaintext SQLite database.
const fakePlainMagic = "SQLite format 3\x00"

// writePlain creates the fake plaintext database at db holding content.
func writePlain(t testing.TB, db string, content []byte) {
	t.Helper()
	if err := os.WriteFile(db, append([]byte(fakePlainMagic), content...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readPlain returns the content of the fake plaintext database at path.
func readPlain(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(fakePlainMagic)) {
		return nil, errors.New("fake plaintext database: no SQLite header")
	}
	return data[len(fakePlainMagic):], nil
}

// plainReencrypter is a keyring.Reencrypter for fake plaintext databases:
// with a nil oldDEK it seals the content under the new DEK, with the
// failure modes of fakeReencrypter. It records the oldDEK it was given.
type plainReencrypter struct {
	fakeReencrypter
	calls  int
	gotOld []byte
}

func (p *plainReencrypter) Reencrypt(src, dst string, oldDEK, newDEK []byte) (keyring.Swap, error) {
	p.calls++
	p.gotOld = oldDEK
	if oldDEK != nil {
		return nil, fmt.Errorf("plain re-encrypter: got an old DEK for %s", src)
	}
	if p.inUse {
		return nil, fmt.Errorf("%w: fake database held by another connection", keyring.ErrInUse)
	}
	content, err := readPlain(src)
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if p.failCopy {
		out.Write([]byte("partial"))
		out.Close()
		return nil, errFakeCopy
	}
	_, err = out.Write(sealFake(newDEK, content))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if p.nilSwap {
		return nil, nil
	}
	return fakeSwap{&p.fakeReencrypter}, nil
}

// encrypt converts db with the raw KEK kek and a plain re-encrypter.
func encrypt(db string, kek []byte) error {
	return keyring.EncryptWith(db, keyring.RawKEK(kek), &plainReencrypter{})
}

// wantPlain fails unless db is the fake plaintext database holding
// content, with no other data file beside it.
func wantPlain(t *testing.T, db string, content []byte) {
	t.Helper()
	got, err := readPlain(db)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("plaintext database: %q, %v; want %q", got, err, content)
	}
	wantFiles(t, db, "")
}

// wantEncrypted fails unless db is sealed under the DEK its header gives
// for kek and holds content, with its header and nothing else.
func wantEncrypted(t *testing.T, db string, kek, content []byte) {
	t.Helper()
	wantFiles(t, db, "", ".dek")
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatalf("load DEK: %v", err)
	}
	got, err := openFake(db, dek)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("encrypted database: %q, %v; want %q", got, err, content)
	}
}

func TestEncryptWith(t *testing.T) {
	db, kek := newDB(t), newKEK()
	content := joinRows(rekeyRows(20))
	writePlain(t, db, content)
	r := &plainReencrypter{}
	if err := keyring.EncryptWith(db, keyring.RawKEK(kek), r); err != nil {
		t.Fatal(err)
	}
	if r.calls != 1 || r.gotOld != nil {
		t.Fatalf("re-encrypter called %d times, old DEK %v; want once with nil", r.calls, r.gotOld)
	}
	wantEncrypted(t, db, kek, content)
	for _, name := range []string{"", ".dek"} {
		if fi, err := os.Stat(db + name); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after EncryptWith: %v, %v", filepath.Base(db+name), fi, err)
		}
	}

	// Again: refused, nothing changed, the re-encrypter not called.
	before := snapshot(t, filepath.Dir(db))
	r = &plainReencrypter{}
	wantErr(t, keyring.EncryptWith(db, keyring.RawKEK(kek), r), keyring.ErrAlreadyEncrypted)
	assertUnchanged(t, filepath.Dir(db), before)
	if r.calls != 0 {
		t.Fatal("EncryptWith of an encrypted database called the re-encrypter")
	}
	// The converted store rekeys.
	if err := rekey(db, kek); err != nil {
		t.Fatal(err)
	}
	wantEncrypted(t, db, kek, content)
}

// TestEncryptWithRefuses checks every refusal: each changes no data file.
func TestEncryptWithRefuses(t *testing.T) {
	content := []byte("plaintext rows")
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, db string, kek []byte)
		r     *plainReencrypter
		want  error
	}{
		{"missing", func(t *testing.T, db string, kek []byte) {}, nil, fs.ErrNotExist},
		{"empty", func(t *testing.T, db string, kek []byte) {
			os.WriteFile(db, nil, 0o600)
		}, nil, keyring.ErrNotPlaintext},
		{"not SQLite", func(t *testing.T, db string, kek []byte) {
			os.WriteFile(db, []byte("neither plaintext SQLite nor encrypted"), 0o600)
		}, nil, keyring.ErrNotPlaintext},
		{"short", func(t *testing.T, db string, kek []byte) {
			os.WriteFile(db, []byte("SQLite"), 0o600)
		}, nil, keyring.ErrNotPlaintext},
		{"encrypted", func(t *testing.T, db string, kek []byte) {
			fillStore(t, db, kek, rekeyRows(3))
		}, nil, keyring.ErrAlreadyEncrypted},
		{"encrypted, no header", func(t *testing.T, db string, kek []byte) {
			writeDB(t, db, newKEK())
		}, nil, keyring.ErrAlreadyEncrypted},
		{"header exists", func(t *testing.T, db string, kek []byte) {
			writePlain(t, db, content)
			other := newDB(t)
			if _, _, err := keyring.LoadOrCreateDEK(other, kek); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(keyring.HeaderPath(other))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(keyring.HeaderPath(db), b, 0o600)
		}, nil, keyring.ErrHeaderExists},
		{"in use", func(t *testing.T, db string, kek []byte) {
			writePlain(t, db, content)
		}, &plainReencrypter{fakeReencrypter: fakeReencrypter{inUse: true}}, keyring.ErrInUse},
		{"copy fails", func(t *testing.T, db string, kek []byte) {
			writePlain(t, db, content)
		}, &plainReencrypter{fakeReencrypter: fakeReencrypter{failCopy: true}}, errFakeCopy},
		{"no swap", func(t *testing.T, db string, kek []byte) {
			writePlain(t, db, content)
		}, &plainReencrypter{fakeReencrypter: fakeReencrypter{nilSwap: true}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, kek := newDB(t), newKEK()
			c.setup(t, db, kek)
			before := snapshot(t, filepath.Dir(db))
			r := c.r
			if r == nil {
				r = &plainReencrypter{}
			}
			err := keyring.EncryptWith(db, keyring.RawKEK(kek), r)
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err=%v, want %v", err, c.want)
			}
			assertUnchanged(t, filepath.Dir(db), before)
			if c.r == nil && r.calls != 0 {
				t.Fatal("a refused EncryptWith called the re-encrypter")
			}
		})
	}

	// No re-encrypter, and a store lock held elsewhere.
	db, kek := newDB(t), newKEK()
	writePlain(t, db, content)
	before := snapshot(t, filepath.Dir(db))
	wantErr(t, keyring.EncryptWith(db, keyring.RawKEK(kek), nil), keyring.ErrNoReencrypter)
	lock, err := keyring.LockStore(db)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, encrypt(db, kek), keyring.ErrInUse)
	lock.Close()
	assertUnchanged(t, filepath.Dir(db), before)
	wantPlain(t, db, content)
}

// TestEncryptWithInterrupted stops a conversion at each stage, as if the
// process had died there, and checks what each recovering operation
// makes of it: before the rename of the copy (the commit point) the
// plaintext database with nothing beside it, after it the encrypted
// database with its header.
func TestEncryptWithInterrupted(t *testing.T) {
	stages := []struct {
		stage     string
		files     []string // left behind
		encrypted bool     // recovery finishes the conversion
	}{
		{"next-written", []string{"", ".dek.next"}, false},
		{"before-rename", []string{"", ".dek.next", ".rekey"}, false},
		{"renamed", []string{"", ".dek.next"}, true},
	}
	recoveries := []struct {
		name string
		// run recovers and reports whether the database was converted
		// by it (EncryptWith on a rolled-back conversion).
		run func(t *testing.T, db string, kek []byte, encrypted bool) bool
	}{
		{"LoadOrCreateDEK", func(t *testing.T, db string, kek []byte, encrypted bool) bool {
			_, _, err := keyring.LoadOrCreateDEK(db, kek)
			if encrypted {
				wantErr(t, err, nil)
			} else {
				wantErr(t, err, keyring.ErrNoHeader)
			}
			return false
		}},
		{"RecoverWith", func(t *testing.T, db string, kek []byte, encrypted bool) bool {
			wantErr(t, keyring.RecoverWith(db, keyring.RawKEK(kek)), nil)
			return false
		}},
		{"EncryptWith", func(t *testing.T, db string, kek []byte, encrypted bool) bool {
			err := encrypt(db, kek)
			if encrypted {
				wantErr(t, err, keyring.ErrAlreadyEncrypted)
				return false
			}
			wantErr(t, err, nil)
			return true
		}},
		{"RekeyWith", func(t *testing.T, db string, kek []byte, encrypted bool) bool {
			err := rekey(db, kek)
			if encrypted {
				wantErr(t, err, nil)
			} else {
				wantErr(t, err, fs.ErrNotExist) // no header: nothing to rekey
			}
			return false
		}},
	}
	for _, s := range stages {
		for _, r := range recoveries {
			t.Run(s.stage+"/"+r.name, func(t *testing.T) {
				db, kek := newDB(t), newKEK()
				content := joinRows(rekeyRows(5))
				writePlain(t, db, content)
				restore := keyring.StopRekeyAt(s.stage)
				err := encrypt(db, kek)
				restore()
				wantErr(t, err, keyring.ErrSimulatedCrash)
				wantFiles(t, db, s.files...)
				if _, err := readPlain(db); (err == nil) == s.encrypted {
					t.Fatalf("database plaintext after the stop: %v, want %v", err == nil, !s.encrypted)
				}
				converted := r.run(t, db, kek, s.encrypted)
				if s.encrypted || converted {
					wantEncrypted(t, db, kek, content)
				} else {
					wantPlain(t, db, content)
				}
			})
		}
	}
}

// TestEncryptWithRollbackNeedsNoKEK checks that an interrupted conversion
// that did not reach its commit point is rolled back whatever the KEK: the
// database is still plaintext. One that did needs the KEK that opens
// <db>.dek.next, and a wrong one changes nothing.
func TestEncryptWithRollbackNeedsNoKEK(t *testing.T) {
	content := []byte("rows")
	db, kek := newDB(t), newKEK()
	writePlain(t, db, content)
	restore := keyring.StopRekeyAt("before-rename")
	wantErr(t, encrypt(db, kek), keyring.ErrSimulatedCrash)
	restore()
	wantErr(t, keyring.RecoverWith(db, keyring.RawKEK(newKEK())), nil)
	wantPlain(t, db, content)

	db = newDB(t)
	writePlain(t, db, content)
	restore = keyring.StopRekeyAt("renamed")
	wantErr(t, encrypt(db, kek), keyring.ErrSimulatedCrash)
	restore()
	before := snapshot(t, filepath.Dir(db))
	wantErr(t, keyring.RecoverWith(db, keyring.RawKEK(newKEK())), keyring.ErrWrongKEK)
	wantErr(t, encrypt(db, newKEK()), keyring.ErrWrongKEK)
	assertUnchanged(t, filepath.Dir(db), before)
	wantErr(t, keyring.RecoverWith(db, keyring.RawKEK(kek)), nil)
	wantEncrypted(t, db, kek, content)
	// With nothing to recover, RecoverWith changes nothing.
	before = snapshot(t, filepath.Dir(db))
	wantErr(t, keyring.RecoverWith(db, keyring.RawKEK(kek)), nil)
	assertUnchanged(t, filepath.Dir(db), before)
}

// TestEncryptWithCommitFails checks a Swap that fails before or after the
// rename: before, the next recovery rolls the conversion back; after, it
// finishes it.
func TestEncryptWithCommitFails(t *testing.T) {
	errCommit := errors.New("commit failed")
	for _, c := range []struct {
		name      string
		r         fakeReencrypter
		encrypted bool
	}{
		{"before rename", fakeReencrypter{commitErr: errCommit}, false},
		{"without rename", fakeReencrypter{noRename: true}, false},
		{"after rename", fakeReencrypter{afterErr: errCommit}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, kek := newDB(t), newKEK()
			content := []byte("rows")
			writePlain(t, db, content)
			if err := keyring.EncryptWith(db, keyring.RawKEK(kek), &plainReencrypter{fakeReencrypter: c.r}); err == nil {
				t.Fatal("EncryptWith succeeded")
			}
			wantErr(t, keyring.RecoverWith(db, keyring.RawKEK(kek)), nil)
			if c.encrypted {
				wantEncrypted(t, db, kek, content)
			} else {
				wantPlain(t, db, content)
			}
		})
	}
}
