package proc_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/internal/testkit/proc"
)

func init() { proc.Dispatch() }

type echoArgs struct{ Words []string }

var (
	_ = proc.Role("echo", func() int {
		var a echoArgs
		if err := proc.Args(&a); err != nil {
			proc.Fail("%v", err)
		}
		for _, w := range a.Words {
			fmt.Println(w)
		}
		fmt.Print("cut") // no newline: dropped by Lines
		return 0
	})
	_ = proc.Role("fail", func() int {
		proc.Fail("on purpose")
		return 0
	})
	_ = proc.Role("forever", func() int {
		proc.ExitWithParent(time.Minute)
		fmt.Println("ready")
		select {}
	})
)

func TestRun(t *testing.T) {
	proc.Skip(t)
	p := proc.Start(t, proc.Spec{Role: "echo", Args: echoArgs{Words: []string{"a", "b c"}}})
	var lines []string
	p.Lines(func(l string) { lines = append(lines, l) })
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines, "|"); got != "a|b c" {
		t.Fatalf("lines %q, want a|b c", got)
	}
	if !p.ExitedByItself() || p.ExitCode() != 0 {
		t.Fatalf("exited by itself %v, status %d", p.ExitedByItself(), p.ExitCode())
	}
}

func TestFail(t *testing.T) {
	proc.Skip(t)
	_, err := proc.Run(t, proc.Spec{Role: "fail"})
	if err == nil || !strings.Contains(err.Error(), "FAIL: fail: on purpose") {
		t.Fatalf("Run = %v, want the child's failure", err)
	}
	if _, err := proc.Run(t, proc.Spec{Role: "no-such-role"}); err == nil {
		t.Fatal("an unknown role ran")
	}
}

func TestKill(t *testing.T) {
	proc.Skip(t)
	p := proc.Start(t, proc.Spec{Role: "forever"})
	ready := make(chan string, 1)
	go p.Lines(func(l string) { ready <- l })
	if l := <-ready; l != "ready" {
		t.Fatalf("first line %q", l)
	}
	p.KillAfter(time.Millisecond)
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait after Kill: %v", err)
	}
	if p.ExitedByItself() {
		t.Fatal("the killed child exited by itself")
	}
}

func TestRounds(t *testing.T) {
	t.Setenv(proc.EnvRounds, "7")
	if n := proc.Rounds(t, 100, 10); n != 7 {
		t.Fatalf("Rounds = %d with %s=7", n, proc.EnvRounds)
	}
	t.Setenv(proc.EnvSeed, "42")
	a, b := proc.Rand(t, 1).Uint64(), proc.Rand(t, 1).Uint64()
	if a != b {
		t.Fatalf("%s=42 gave two sequences", proc.EnvSeed)
	}
	if os.Getenv(proc.EnvChild) != "" {
		t.Fatal("the parent runs as a child")
	}
}
