package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofastr/store/keyring"
	"github.com/gofastr/store/sqlitevfs"
)

// Exit statuses; see the package doc.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitAuth        = 3
	exitInterrupted = 130
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitErr carries an exit status chosen by a command (verify reports
// damage with exitAuth) with the message to print, if any.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitErr) Unwrap() error { return e.err }

// authErrors are the errors that mean a wrong key or tampered data.
var authErrors = []error{
	keyring.ErrWrongKEK,
	keyring.ErrCorruptHeader,
	keyring.ErrDEKMismatch,
	keyring.ErrForeignDEK,
	keyring.ErrWrongIdentity,
	keyring.ErrHeaderExists, // a plaintext database beside an encrypted store's header
	sqlitevfs.ErrWrongKey,
	sqlitevfs.ErrAuth,
	sqlitevfs.ErrWALDamaged,
}

// exitCode maps an error returned by a command to the process's exit status.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	for _, target := range authErrors {
		if errors.Is(err, target) {
			return exitAuth
		}
	}
	if errors.Is(err, context.Canceled) {
		return exitInterrupted
	}
	return exitError
}
