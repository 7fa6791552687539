package host

import "github.com/gofastr/store/keyring"

// EncryptStoppedAt runs Encrypt's conversion but stops at stage, leaving
// the files as a process killed there would: "before-rename" (the copy
// <path>.rekey and the header <path>.dek.next are written, the plaintext
// database's -wal, -shm and -journal removed, the copy not renamed) or
// "renamed" (the encrypted copy has replaced the database; the header is
// not installed). It returns an error wrapping ErrRekeyStopped.
func EncryptStoppedAt(path string, src keyring.KEKSource, stage string) error {
	return keyring.EncryptWith(path, src, stopReencrypter{stage})
}

// EncryptPaused runs Encrypt but calls paused inside the commit, while the
// plaintext database is exclusively locked and its copy not yet renamed
// over it; the conversion goes on when paused returns.
func EncryptPaused(path string, src keyring.KEKSource, paused func()) error {
	return keyring.EncryptWith(path, src, pauseReencrypter{paused})
}

type pauseReencrypter struct{ paused func() }

func (r pauseReencrypter) Reencrypt(src, dst string, oldDEK, newDEK []byte) (keyring.Swap, error) {
	s, err := reencrypter{}.Reencrypt(src, dst, oldDEK, newDEK)
	if err != nil {
		return nil, err
	}
	return pauseSwap{s, r.paused}, nil
}

type pauseSwap struct {
	keyring.Swap
	paused func()
}

func (s pauseSwap) Commit(rename func() error) error {
	return s.Swap.Commit(func() error {
		s.paused()
		return rename()
	})
}
