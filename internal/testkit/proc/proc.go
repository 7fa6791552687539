// Package proc runs a package's tests in child processes: the test binary
// re-executed in a named role, killed at a chosen or random moment, and
// checked from the parent. It serves the crash loops (SIGKILL a writer,
// reopen, check that every acknowledged write survived) and the
// multi-process tests (several processes on one store). Only this module's
// tests use it.
//
// # Protocol
//
// A child is this test binary started with -test.run=^$ and:
//
//	GOFASTR_TEST_CHILD=<role>        the role to run
//	GOFASTR_TEST_CHILD_ARGS=<json>   the role's parameters (Args decodes them)
//
// The package registers its roles and dispatches from an init function,
// before the testing framework starts, so a child runs only its role:
//
//	var _ = proc.Role("crash-append", crashAppendChild)
//
//	func init() { proc.Dispatch() }
//
// A child can also run one test function instead of a role (Spec.Test),
// when its body needs a *testing.T. The same function is parent and
// child:
//
//	func TestX(t *testing.T) {
//		if proc.InTest(t) {
//			// the child's work
//			return
//		}
//		out, err := proc.Run(t, proc.Spec{Test: t.Name()})
//		...
//	}
//
// Role names must therefore not start with "Test".
//
// A role function returns the process's exit status. It must not call
// testing functions (testing.Short and the like are not initialized in a
// child); pass what it needs in the arguments. A child reports a failure
// with Fail ("FAIL: <role>: ..." on stderr, status 3); Proc.Wait and Run
// return the child's stderr with any failure.
//
// # Variables
//
// These variables are the same for every crash loop and multi-process test
// in the module:
//
//	GOFASTR_TEST_SEED=<uint64>     replays the random choices (kill delays,
//	                               orders) of a run; every test that draws
//	                               them logs its seed, and again on failure
//	GOFASTR_CRASH_ROUNDS=<n>       the number of rounds of every crash loop,
//	                               and the length of the timed
//	                               multi-process tests (make crash-long
//	                               sets 500); by default each test picks a
//	                               count, smaller with -short
//
// # Adopting it
//
// A test that starts its own children with exec.Command(os.Args[0], ...)
// and role variables converts in three steps: move the child's body into a
// function registered with Role (reading its parameters with Args), start
// it with Start or Run (a Spec with the role, the arguments and any extra
// environment), and take delays from Rand and round counts from Rounds, or
// drive the whole loop with Loop. A package registers roles from any
// number of test files but calls Dispatch from one init function; a
// TestMain of its own can stay, since init runs first.
package proc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The environment variables of the protocol.
const (
	EnvChild  = "GOFASTR_TEST_CHILD"
	EnvArgs   = "GOFASTR_TEST_CHILD_ARGS"
	EnvSeed   = "GOFASTR_TEST_SEED"
	EnvRounds = "GOFASTR_CRASH_ROUNDS"
)

// FailStatus is the exit status of a child that called Fail.
const FailStatus = 3

// ErrNoArgs is returned by Args in a process that is not a child.
var ErrNoArgs = errors.New("proc: no child arguments (not a child process)")

var (
	rolesMu sync.Mutex
	roles   = map[string]func() int{}
)

// Role registers f as the body of the named role and returns true (so that
// it can initialize a package-level variable). Registering a name twice
// panics: it is a programming error in the test package.
func Role(name string, f func() int) bool {
	rolesMu.Lock()
	defer rolesMu.Unlock()
	if _, dup := roles[name]; dup || name == "" || strings.HasPrefix(name, "Test") {
		panic("proc: role " + name + " registered twice, empty or starting with Test")
	}
	roles[name] = f
	return true
}

// Dispatch runs the role named by GOFASTR_TEST_CHILD, if any, and exits
// with its status. A role that is not registered exits with status 2. In a
// parent process it returns at once. Call it from an init function of the
// test package, after the roles are registered.
func Dispatch() {
	name := os.Getenv(EnvChild)
	if name == "" || strings.HasPrefix(name, "Test") {
		return // a parent, or a child that runs a test function
	}
	rolesMu.Lock()
	f := roles[name]
	rolesMu.Unlock()
	if f == nil {
		fmt.Fprintf(os.Stderr, "proc: unknown role %q\n", name)
		os.Exit(2)
	}
	os.Exit(f())
}

// IsChild reports whether this process runs as a child.
func IsChild() bool { return os.Getenv(EnvChild) != "" }

// InTest reports whether this process is a child started to run the test
// t (Spec.Test).
func InTest(t testing.TB) bool { return os.Getenv(EnvChild) == t.Name() }

// Args decodes the child's JSON arguments into v.
func Args(v any) error {
	s, ok := os.LookupEnv(EnvArgs)
	if !ok {
		return ErrNoArgs
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("proc: decode %s: %w", EnvArgs, err)
	}
	return nil
}

// Fail prints "FAIL: <role>: <message>" to stderr and ends the child with
// FailStatus.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+os.Getenv(EnvChild)+": "+format+"\n", args...)
	os.Exit(FailStatus)
}

// ExitWithParent ends the child when its parent goes away (its stdin, a
// pipe from Start, closes) or after limit, so that a child of a failed or
// interrupted test does not run on. Call it at the start of a role that
// runs until it is killed.
func ExitWithParent(limit time.Duration) {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(FailStatus)
	}()
	time.AfterFunc(limit, func() { Fail("not killed after %v", limit) })
}

// Spec describes a child process.
type Spec struct {
	Role string   // a role registered with Role
	Test string   // instead of Role: the test function the child runs
	Args any      // encoded as JSON into GOFASTR_TEST_CHILD_ARGS; nil for none
	Env  []string // extra "KEY=value" entries
}

// Proc is a running child.
type Proc struct {
	Role string // the role, or the test function

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr lockedBuffer

	killOnce sync.Once
	killed   bool
	waitOnce sync.Once
	waitErr  error
}

// Supported reports whether this platform can start test children, and
// why not.
func Supported() (bool, string) {
	switch runtime.GOOS {
	case "js", "wasip1", "ios", "android":
		return false, "cannot start child processes on " + runtime.GOOS
	}
	return true, ""
}

// Skip skips tb, saying why, where children cannot be started.
func Skip(tb testing.TB) {
	tb.Helper()
	if ok, why := Supported(); !ok {
		tb.Skip("skipping: " + why)
	}
}

func command(s Spec) (cmd *exec.Cmd, name string, err error) {
	args := "null"
	if s.Args != nil {
		b, err := json.Marshal(s.Args)
		if err != nil {
			return nil, "", fmt.Errorf("proc: encode the arguments of %s: %w", s.Role, err)
		}
		args = string(b)
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	name, run := s.Role, "^$"
	if s.Test != "" {
		name, run = s.Test, "^"+s.Test+"$"
	}
	argv := []string{"-test.run=" + run, "-test.count=1"}
	if s.Test != "" {
		argv = append(argv, "-test.v")
		if testing.Short() {
			argv = append(argv, "-test.short")
		}
	}
	cmd = exec.Command(exe, argv...)
	env := make([]string, 0, len(os.Environ())+len(s.Env)+2)
	for _, e := range os.Environ() {
		// A grandchild never inherits its parent's role.
		if strings.HasPrefix(e, EnvChild+"=") || strings.HasPrefix(e, EnvArgs+"=") {
			continue
		}
		env = append(env, e)
	}
	cmd.Env = append(append(env, EnvChild+"="+name, EnvArgs+"="+args), s.Env...)
	return cmd, name, nil
}

// Start starts a child. Its stdout is read with Lines or Stdout, its
// stderr is collected (Stderr). The child is killed when the test ends if
// it still runs.
func Start(tb testing.TB, s Spec) *Proc {
	tb.Helper()
	cmd, name, err := command(s)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proc{Role: name, cmd: cmd}
	cmd.Stderr = &p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if p.stdout, err = cmd.StdoutPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start child %s: %v", name, err)
	}
	tb.Cleanup(func() {
		p.Kill()
		p.Wait()
	})
	return p
}

// Stdout returns the child's standard output. Read it before Wait.
func (p *Proc) Stdout() io.Reader { return p.stdout }

// Lines reads the child's stdout until it closes and calls f with every
// complete line, without its newline. A last line without a newline was
// cut by a kill and is dropped.
func (p *Proc) Lines(f func(line string)) { ReadLines(p.stdout, f) }

// ReadLines is Lines for any reader.
func ReadLines(r io.Reader, f func(line string)) {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		f(strings.TrimSuffix(line, "\n"))
	}
}

// Stderr returns what the child wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Kill kills the child at once: SIGKILL on Unix, TerminateProcess on
// Windows. The child gets no chance to clean up. Killing a child that has
// already exited does nothing.
func (p *Proc) Kill() {
	p.killOnce.Do(func() {
		if err := p.cmd.Process.Kill(); err == nil {
			p.killed = true
		}
	})
}

// KillAfter sleeps for d, then kills the child.
func (p *Proc) KillAfter(d time.Duration) {
	time.Sleep(d)
	p.Kill()
}

// Wait closes the child's stdin, waits for it to exit and returns nil if
// it exited with status 0 or was killed by Kill and reported no failure
// (Fail) and no data race on stderr; else an error with its stderr. Read
// stdout to its end before Wait.
func (p *Proc) Wait() error {
	p.waitOnce.Do(func() {
		p.stdin.Close()
		err := p.cmd.Wait()
		stderr := p.stderr.String()
		switch {
		case err != nil && !(p.killed && p.endedByKill()):
			p.waitErr = fmt.Errorf("child %s: %v\nstderr:\n%s", p.Role, err, stderr)
		case strings.Contains(stderr, "FAIL: "+p.Role+":"), strings.Contains(stderr, "WARNING: DATA RACE"):
			// Reported just before the kill, or by a child that exited 0.
			p.waitErr = fmt.Errorf("child %s reported a failure:\n%s", p.Role, stderr)
		}
	})
	return p.waitErr
}

// endedByKill reports whether the exit status is Kill's: a signal on
// Unix, TerminateProcess's status 1 on Windows.
func (p *Proc) endedByKill() bool {
	st := p.cmd.ProcessState
	if st == nil {
		return false
	}
	if runtime.GOOS == "windows" {
		return st.ExitCode() == 1
	}
	return !st.Exited()
}

// ExitedByItself reports, after Wait, whether the child exited on its own
// rather than by Kill.
func (p *Proc) ExitedByItself() bool {
	return p.cmd.ProcessState != nil && p.cmd.ProcessState.Exited()
}

// ExitCode returns the child's exit status after Wait, -1 if a signal
// ended it.
func (p *Proc) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Run runs a child to its end and returns its stdout and an error that
// carries its stderr if it failed.
func Run(tb testing.TB, s Spec) (stdout string, err error) {
	tb.Helper()
	p := Start(tb, s)
	var out strings.Builder
	io.Copy(&out, p.stdout)
	return out.String(), p.Wait()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
