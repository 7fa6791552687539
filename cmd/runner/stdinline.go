package main

import (
	"errors"
	"io"
)

// maxSecretLine bounds a passphrase read from a pipe.
const maxSecretLine = 64 << 10

// readLine reads one line from r, without the line end, a byte at a time,
// so that nothing after the line is consumed: a second secret (the new
// passphrase of "keys rotate") can follow on the next line of the same
// stdin. A last line without a newline is returned with a nil error; an
// empty input is io.EOF.
func readLine(r io.Reader) (string, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			if len(line) >= maxSecretLine {
				return "", errors.New("line too long")
			}
			line = append(line, b[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return "", io.EOF
			}
			break
		}
		if err != nil {
			return "", err
		}
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return string(line), nil
}
