package jsonl_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/jsonl"
)

// acking is a Destination that prints "ack <n>" after the n-th record
// its store acknowledged. It is not a BatchDestination: Import writes
// into it record by record.
type acking struct {
	jsonl.Destination
	n int
	w *bufio.Writer
}

func (a *acking) ack(err error) error {
	if err == nil {
		a.n++
		fmt.Fprintf(a.w, "ack %d\n", a.n)
		a.w.Flush()
	}
	return err
}

func (a *acking) Append(ctx context.Context, e abi.EventEnvelope) (uint64, error) {
	id, err := a.Destination.Append(ctx, e)
	return id, a.ack(err)
}

func (a *acking) RecordToolIntent(ctx context.Context, in abi.ToolIntent) error {
	return a.ack(a.Destination.RecordToolIntent(ctx, in))
}

func (a *acking) RecordToolOutcome(ctx context.Context, o abi.ToolOutcome) error {
	return a.ack(a.Destination.RecordToolOutcome(ctx, o))
}

func (a *acking) RecordAttempt(ctx context.Context, at abi.ProviderAttempt) (int64, error) {
	id, err := a.Destination.RecordAttempt(ctx, at)
	return id, a.ack(err)
}

func (a *acking) Pin(ctx context.Context, s abi.SessionID) error {
	return a.ack(a.Destination.Pin(ctx, s))
}

type importArgs struct{ Path, File string }

var _ = proc.Role("jsonl-import", func() int {
	proc.ExitWithParent(time.Minute)
	var a importArgs
	if err := proc.Args(&a); err != nil {
		proc.Fail("%v", err)
	}
	s, err := host.OpenEncrypted(a.Path, host.EncryptionAtRest, testKey)
	if err != nil {
		proc.Fail("open: %v", err)
	}
	f, err := os.Open(a.File)
	if err != nil {
		proc.Fail("%v", err)
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "start")
	w.Flush()
	if _, err := jsonl.Import(context.Background(), &acking{Destination: s, w: w}, f); err != nil {
		proc.Fail("import: %v", err)
	}
	fmt.Fprintln(w, "done")
	w.Flush()
	s.Close()
	return 0
})

// TestImportCrash kills an importing process at random moments: the
// store it leaves holds a prefix of the file's records, each whole, at
// least as long as the records acknowledged, so its export is the file
// cut after that many records.
func TestImportCrash(t *testing.T) {
	proc.Skip(t)
	file := bigSession(t, "crash", 200)
	lines := strings.SplitAfter(string(file), "\n")
	lines = lines[:len(lines)-1] // after the last "\n"
	src := filepath.Join(t.TempDir(), "crash.jsonl")
	if err := os.WriteFile(src, file, 0o600); err != nil {
		t.Fatal(err)
	}
	kills := 0
	proc.Loop(t, 20, 6, func(rng *rand.Rand, round int) {
		path := filepath.Join(t.TempDir(), "sessions.db")
		p := proc.Start(t, proc.Spec{Role: "jsonl-import", Args: importArgs{Path: path, File: src}})
		acked, started := 0, make(chan struct{})
		delay := time.Duration(rng.Int64N(int64(400 * time.Millisecond)))
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			<-started
			p.KillAfter(delay)
		}()
		once := false
		p.Lines(func(l string) {
			if l == "start" && !once {
				once = true
				close(started)
			}
			if n, ok := strings.CutPrefix(l, "ack "); ok {
				acked, _ = strconv.Atoi(n)
			}
		})
		if !once {
			close(started)
		}
		<-killed // Kill and Wait must not run at once
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if !p.ExitedByItself() {
			kills++
		}
		s := openStore(t, path)
		got := export(t, s)
		s.Close()
		n := strings.Count(string(got), "\n") - 1 // records, without the header
		if n < acked || n > len(lines)-1 {
			t.Fatalf("round %d: %d records stored, %d acknowledged, %d in the file", round, n, acked, len(lines)-1)
		}
		if want := strings.Join(lines[:n+1], ""); !bytes.Equal(got, []byte(want)) {
			t.Fatalf("round %d: the store's export is not the file's first %d records:\n%s", round, n, got)
		}
	})
	t.Logf("%d of the rounds killed the import before it ended", kills)
}
