package host

import (
	"errors"

	"github.com/gofastr/store/keyring"
)

// ErrRekeyStopped is what RekeyStoppedAt returns where it stops a rekey.
var ErrRekeyStopped = errors.New("host test: rekey stopped")

// RekeyStoppedAt runs Rekey's SQLite re-encryption under keyring.RekeyWith
// but stops at stage, leaving the files as a process killed there would:
// "before-rename" (the copy <path>.rekey and the header <path>.dek.next
// are written, the old database's -wal, -shm and -journal removed, the
// copy not renamed) or "renamed" (the copy has replaced the database; the
// header is not installed). It returns an error wrapping ErrRekeyStopped.
func RekeyStoppedAt(path string, src keyring.KEKSource, stage string) error {
	return keyring.RekeyWith(path, src, stopReencrypter{stage})
}

type stopReencrypter struct{ stage string }

func (r stopReencrypter) Reencrypt(src, dst string, oldDEK, newDEK []byte) (keyring.Swap, error) {
	s, err := reencrypter{}.Reencrypt(src, dst, oldDEK, newDEK)
	if err != nil {
		return nil, err
	}
	return stopSwap{s, r.stage}, nil
}

type stopSwap struct {
	keyring.Swap
	stage string
}

func (s stopSwap) Commit(rename func() error) error {
	return s.Swap.Commit(func() error {
		if s.stage != "renamed" {
			return ErrRekeyStopped
		}
		if err := rename(); err != nil {
			return err
		}
		return ErrRekeyStopped
	})
}
