// Command wirebench measures the guest ABI's wire encodings inside a
// WebAssembly guest. It is built with GOOS=wasip1 GOARCH=wasm and run by
// the sandbox package's BenchmarkWireWasm, and uses nothing but WASI:
// arguments, stdin and stdout.
//
// Usage: wirebench <format>/<type>[/<op>] <n>, with format binary or json,
// type EventBatch or ModelStep, and op both (the default), decode or
// encode. Stdin holds the binary encodings of an abi.EventBatch and an
// abi.ModelStep, each preceded by its length as a uvarint. The program
// decodes the value of the given type once (and, for json, encodes it
// with encoding/json once); then, n times, it decodes the encoded form and
// encodes the result again (both), or only decodes it (decode), or only
// encodes the value (encode). It prints a line with the size of the
// encoding and a CRC-32 of the last encoding made, which must equal the
// input. The setup is the same for every n, so the difference between
// the run times of two counts, divided by the difference of the counts,
// is the cost of one operation.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gofastr/store/abi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wirebench:", err)
		os.Exit(1)
	}
}

// value is what both wire types implement.
type value interface {
	AppendBinary([]byte) ([]byte, error)
	UnmarshalBinary([]byte) error
}

func run() error {
	if len(os.Args) != 3 {
		return fmt.Errorf("usage: wirebench <binary|json>/<EventBatch|ModelStep>[/<both|decode|encode>] <n>")
	}
	mode := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		return fmt.Errorf("bad count %q", os.Args[2])
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	batchBin, rest, err := cut(in)
	if err != nil {
		return err
	}
	stepBin, rest, err := cut(rest)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("stdin: bad framing")
	}

	parts := strings.Split(mode, "/")
	if len(parts) == 2 {
		parts = append(parts, "both")
	}
	if len(parts) != 3 {
		return fmt.Errorf("unknown mode %q", mode)
	}
	format, typ, op := parts[0], parts[1], parts[2]
	var enc []byte
	var newValue func() value
	switch typ {
	case "EventBatch":
		enc, newValue = batchBin, func() value { return new(abi.EventBatch) }
	case "ModelStep":
		enc, newValue = stepBin, func() value { return new(abi.ModelStep) }
	default:
		return fmt.Errorf("unknown type %q", typ)
	}
	var decode func([]byte, value) error
	var encode func([]byte, value) ([]byte, error)
	switch format {
	case "binary":
		decode = func(b []byte, v value) error { return v.UnmarshalBinary(b) }
		encode = func(b []byte, v value) ([]byte, error) { return v.AppendBinary(b[:0]) }
	case "json":
		decode = func(b []byte, v value) error { return json.Unmarshal(b, v) }
		encode = func(_ []byte, v value) ([]byte, error) { return json.Marshal(v) }
		v := newValue()
		if err := v.UnmarshalBinary(enc); err != nil {
			return err
		}
		if enc, err = json.Marshal(v); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown format %q", format)
	}

	var out []byte
	switch op {
	case "both": // decode, then encode the result
		for range n {
			v := newValue()
			if err := decode(enc, v); err != nil {
				return err
			}
			if out, err = encode(out, v); err != nil {
				return err
			}
		}
	case "decode":
		var v value
		for range n {
			v = newValue()
			if err := decode(enc, v); err != nil {
				return err
			}
		}
		if out, err = encode(out, v); err != nil {
			return err
		}
	case "encode":
		v := newValue()
		if err := decode(enc, v); err != nil {
			return err
		}
		for range n {
			if out, err = encode(out, v); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown operation %q", op)
	}
	if !bytes.Equal(out, enc) {
		return fmt.Errorf("%s: re-encoding differs from the input", mode)
	}
	fmt.Printf("%s n=%d bytes=%d crc32=%08x\n", mode, n, len(out), crc32.ChecksumIEEE(out))
	return nil
}

// cut splits a uvarint-length-prefixed block off b.
func cut(b []byte) (block, rest []byte, err error) {
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("stdin: bad length prefix")
	}
	return b[k : k+int(l)], b[k+int(l):], nil
}
