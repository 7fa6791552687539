package keyring_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gofastr/store/internal/pagecrypt"
	"github.com/gofastr/store/keyring"
)

// The keyring tests use a stand-in for an encrypted database, so that they
// need no SQLite (package host tests the SQLite re-encrypter): the plaintext
// prefix of a real database (magic, key check of the DEK, 8 zero bytes),
// then the content encrypted with AES-CTR under the DEK. Like a real
// database, it tells by its key check which DEK it is sealed under, and
// reads as garbage under another.

// sealFake returns the fake database file holding content under dek.
func sealFake(dek, content []byte) []byte {
	c, err := pagecrypt.New(dek)
	if err != nil {
		panic(err)
	}
	out := make([]byte, pagecrypt.FilePrefixSize+len(content))
	c.PutFileHeader(out)
	block, err := aes.NewCipher(dek)
	if err != nil {
		panic(err)
	}
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out[pagecrypt.FilePrefixSize:], content)
	return out
}

// openFake returns the content of the fake database at path, which must be
// sealed under dek.
func openFake(path string, dek []byte) ([]byte, error) {
	uses, err := pagecrypt.FileUsesKey(path, dek)
	if err != nil {
		return nil, err
	}
	if !uses {
		return nil, errFakeWrongKey
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, err
	}
	content := data[pagecrypt.FilePrefixSize:]
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(content, content)
	return content, nil
}

var errFakeWrongKey = errors.New("fake database: wrong key")

// fakeReencrypter is a keyring.Reencrypter for fake databases: it copies
// the content to the new file under the new DEK.
type fakeReencrypter struct {
	inUse     bool          // report the database in use
	delay     time.Duration // take this long to copy, to widen race windows
	failCopy  bool          // fail after creating the copy
	commitErr error         // Commit fails with it before calling rename
	afterErr  error         // Commit fails with it after rename succeeded
	noRename  bool          // Commit returns nil without calling rename
	nilSwap   bool          // return no Swap and no error
}

var errFakeCopy = errors.New("fake re-encrypter: copy failed")

func (f *fakeReencrypter) Reencrypt(src, dst string, oldDEK, newDEK []byte) (keyring.Swap, error) {
	if f.inUse {
		return nil, fmt.Errorf("%w: fake database held by another connection", keyring.ErrInUse)
	}
	content, err := openFake(src, oldDEK)
	if err != nil {
		return nil, err
	}
	time.Sleep(f.delay)
	out, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if f.failCopy {
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
	if f.nilSwap {
		return nil, nil
	}
	return fakeSwap{f}, nil
}

type fakeSwap struct{ f *fakeReencrypter }

func (s fakeSwap) Commit(rename func() error) error {
	switch {
	case s.f.commitErr != nil:
		return s.f.commitErr
	case s.f.noRename:
		return nil
	}
	if err := rename(); err != nil {
		return err
	}
	return s.f.afterErr
}

// rekey rekeys db with the raw KEK kek and a fake re-encrypter.
func rekey(db string, kek []byte) error {
	return keyring.RekeyWith(db, keyring.RawKEK(kek), &fakeReencrypter{})
}

// rekeyRows is the content every rekey test checks.
func rekeyRows(n int) []string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf("row %d %s", i, bytes.Repeat([]byte{byte('a' + i%26)}, 700))
	}
	return rows
}

func joinRows(rows []string) []byte {
	var b bytes.Buffer
	for _, r := range rows {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// fillStore creates a store under kek whose fake database holds rows.
func fillStore(t testing.TB, db string, kek []byte, rows []string) {
	t.Helper()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, sealFake(dek, joinRows(rows)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkStore opens the store with the DEK the header gives for kek, checks
// that the database is sealed under it and holds rows, and returns the DEK.
func checkStore(t testing.TB, db string, kek []byte, rows []string) []byte {
	t.Helper()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatalf("load DEK: %v", err)
	}
	got, err := openFake(db, dek)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	if !bytes.Equal(got, joinRows(rows)) {
		t.Fatal("the database does not hold the rows it was filled with")
	}
	return dek
}

// writeDB creates the fake database at db, sealed under dek, so that it
// has a key check to test DEKs against.
func writeDB(t *testing.T, db string, dek []byte) {
	t.Helper()
	if err := os.WriteFile(db, sealFake(dek, []byte("x")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkTable opens the database written by writeDB with the DEK the header
// gives for kek and reads its content.
func checkTable(t *testing.T, db string, kek []byte) {
	t.Helper()
	dek, _, err := keyring.LoadOrCreateDEK(db, kek)
	if err != nil {
		t.Fatal(err)
	}
	got, err := openFake(db, dek)
	if err != nil || string(got) != "x" {
		t.Fatalf("database content %q, %v; want %q", got, err, "x")
	}
}
