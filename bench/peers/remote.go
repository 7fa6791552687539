package peers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// A peer whose SQLite build cannot be linked into the same binary as the
// others (SQLCipher's C symbols and driver name clash with mattn's) runs in
// a child process: Serve on its side, Remote on this one. The protocol is
// one line each way: "run <workload> <round>" and the Result as JSON.

// ErrRemote is returned when the child process fails or answers badly.
var ErrRemote = errors.New("peers: remote peer")

// Serve builds o's read database and answers run requests read from in
// until in ends or says "quit". It first writes "ready <name>".
func Serve(ctx context.Context, o Opener, cfg Config, in io.Reader, out io.Writer) error {
	l, err := NewLocal(ctx, o, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	enc := json.NewEncoder(out)
	fmt.Fprintf(out, "ready %s\n", o.Name)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var w string
		var round int
		if sc.Text() == "quit" {
			return nil
		}
		if _, err := fmt.Sscanf(sc.Text(), "run %s %d", &w, &round); err != nil {
			return fmt.Errorf("%w: bad request %q", ErrRemote, sc.Text())
		}
		r, err := l.Run(ctx, w, round)
		if err != nil {
			r.Err = err.Error()
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Remote is a Bench served by a child process (the binary at path, given
// the configuration as JSON in its -config flag).
type Remote struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
}

// NewRemote starts the child and waits until its read database is built.
func NewRemote(path string, cfg Config) (*Remote, error) {
	c, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "-config", string(c))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &Remote{cmd: cmd, in: in, out: bufio.NewReader(outp)}
	line, err := r.out.ReadString('\n')
	name, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		r.Close()
		return nil, fmt.Errorf("%w: %s did not start (%q, %v)", ErrRemote, path, line, err)
	}
	r.name = name
	return r, nil
}

// Name returns the child's peer name.
func (r *Remote) Name() string { return r.name }

// Run has the child run one workload.
func (r *Remote) Run(_ context.Context, w string, round int) (Result, error) {
	if _, err := fmt.Fprintf(r.in, "run %s %d\n", w, round); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrRemote, err)
	}
	line, err := r.out.ReadBytes('\n')
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrRemote, err)
	}
	var res Result
	if err := json.Unmarshal(line, &res); err != nil {
		return res, fmt.Errorf("%w: %v", ErrRemote, err)
	}
	if res.Err != "" {
		return res, fmt.Errorf("%w: %s", ErrRemote, res.Err)
	}
	return res, nil
}

// Close ends the child.
func (r *Remote) Close() error {
	fmt.Fprintln(r.in, "quit")
	r.in.Close()
	return r.cmd.Wait()
}
