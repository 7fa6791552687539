package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// zstdMagic begins every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// isZstdName reports whether a file name asks for zstd compression.
func isZstdName(name string) bool { return strings.HasSuffix(name, ".zst") }

// output is where a command writes a file it produces: stdout, or a
// temporary file beside the destination that commit renames over it, so
// that the destination is whole or untouched, never half written. A name
// ending in ".zst" is compressed with zstd.
type output struct {
	w    io.Writer
	bw   *bufio.Writer
	zw   *zstd.Encoder
	f    *os.File // nil for stdout
	path string
}

// createOutput starts writing to path, or to stdout when path is "" or
// "-". The temporary file is created with mode 0600: an export holds the
// decrypted sessions.
func (a *app) createOutput(path string) (*output, error) {
	o := &output{path: path}
	var dst io.Writer = a.stdout
	if path != "" && path != "-" {
		f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
		o.f, dst = f, f
	}
	o.bw = bufio.NewWriterSize(dst, 256<<10)
	o.w = o.bw
	if o.f != nil && isZstdName(path) {
		zw, err := zstd.NewWriter(o.bw, zstd.WithEncoderConcurrency(1))
		if err != nil {
			o.abort()
			return nil, err
		}
		o.zw, o.w = zw, zw
	}
	return o, nil
}

// commit finishes the output: it flushes it and, for a file, syncs it and
// renames it into place.
func (o *output) commit() error {
	if o.zw != nil {
		if err := o.zw.Close(); err != nil {
			o.abort()
			return err
		}
	}
	if err := o.bw.Flush(); err != nil {
		o.abort()
		return err
	}
	if o.f == nil {
		return nil
	}
	tmp := o.f.Name()
	if err := o.f.Sync(); err != nil {
		o.abort()
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	if err := o.f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	o.f = nil
	if err := os.Rename(tmp, o.path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(o.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// abort removes the temporary file; the destination stays as it was.
// It is a no-op after commit.
func (o *output) abort() {
	if o.zw != nil {
		o.zw.Close()
		o.zw = nil
	}
	if o.f != nil {
		o.f.Close()
		os.Remove(o.f.Name())
		o.f = nil
	}
}

// input is a file a command reads: a file or stdin, decompressed when it
// is zstd (recognised by its first bytes, whatever its name).
type input struct {
	io.Reader
	name string
	// size is the size of the file as stored (compressed), -1 for stdin.
	size int64
	// read counts the bytes read from the file as stored.
	read   *atomic.Int64
	closer func()
}

// openInput opens name ("-" for stdin) for reading.
func (a *app) openInput(name string) (*input, error) {
	in := &input{name: name, size: -1, read: new(atomic.Int64), closer: func() {}}
	var src io.Reader = a.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if st.IsDir() {
			f.Close()
			return nil, fmt.Errorf("%s: is a directory", name)
		}
		in.size, src, in.closer = st.Size(), f, func() { f.Close() }
	} else {
		in.name = "stdin"
	}
	br := bufio.NewReaderSize(&countingReader{r: src, n: in.read}, 256<<10)
	in.Reader = br
	head, err := br.Peek(len(zstdMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		in.closer()
		return nil, fmt.Errorf("%s: %w", in.name, err)
	}
	if bytes.Equal(head, zstdMagic) {
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			in.closer()
			return nil, fmt.Errorf("%s: %w", in.name, err)
		}
		in.Reader = &zstdErrReader{r: zr, name: in.name}
		c := in.closer
		in.closer = func() { zr.Close(); c() }
	}
	return in, nil
}

func (in *input) close() { in.closer() }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// zstdErrReader names the file in decompression errors.
type zstdErrReader struct {
	r    *zstd.Decoder
	name string
}

func (z *zstdErrReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s: zstd: %w", z.name, err)
	}
	return n, err
}

// showReadProgress shows how much of in has been read, until the
// returned function is called. Nothing is shown when in's size is not
// known or progress is not shown.
func (a *app) showReadProgress(in *input, desc string) (stop func()) {
	if in.size <= 0 {
		return func() {}
	}
	p := a.newProgress(in.size, desc, true)
	if p == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				p.set(in.read.Load(), in.size)
				p.finish()
				return
			case <-t.C:
				p.set(in.read.Load(), in.size)
			}
		}
	}()
	return func() { close(done); <-finished }
}
