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
