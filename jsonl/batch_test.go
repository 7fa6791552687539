package jsonl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/internal/testkit/proc"
	"github.com/gofastr/store/jsonl"
)

// records returns the number of records of an exported file.
func records(file []byte) int { return bytes.Count(file, []byte("\n")) - 1 }

// statTotal is the number of records a Stats counts.
func statTotal(st jsonl.Stats) int {
	return st.Events + st.ToolIntents + st.ToolOutcomes + st.Attempts + st.Pins
}

// TestImportBatchedIdempotent imports a file into a BatchDestination
// (a Store, through two handles, and a MonthlyRollover) and again: the
// second import writes nothing and says so in Stats.Skipped, and the
// export is still the file. A record that appears twice in the input is
// imported twice, and skipped twice on the second import.
func TestImportBatchedIdempotent(t *testing.T) {
	ctx := context.Background()
	a, _ := newStore(t)
	record(t, a, "r")
	file := export(t, a, "r")
	n := records(file)
	// The file again with its first event repeated: a second event.
	lines := strings.SplitAfter(string(file), "\n")
	twice := []byte(strings.Join(append(lines[:2:2], lines[1:]...), ""))

	s, path := newStore(t)
	m, err := host.NewMonthlyRolloverWithConfig(t.TempDir(), host.NewConfig().WithKey(testKey))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for name, dsts := range map[string][2]jsonl.Destination{
		"store":    {s, openStore(t, path)},
		"rollover": {m, m},
	} {
		t.Run(name, func(t *testing.T) {
			st, err := jsonl.Import(ctx, dsts[0], bytes.NewReader(file))
			if err != nil || statTotal(st) != n || st.Skipped != 0 {
				t.Fatalf("first import: %+v, %v; want %d records, none skipped", st, err, n)
			}
			for i, dst := range dsts {
				again, err := jsonl.Import(ctx, dst, bytes.NewReader(file))
				want := st
				want.Skipped = n
				if err != nil || again != want {
					t.Fatalf("import %d again: %+v, %v; want %+v", i+1, again, err, want)
				}
			}
			if got := export(t, dsts[1].(jsonl.Source), "r"); !bytes.Equal(got, file) {
				t.Fatalf("export after the second import differs:\n%s\nwant:\n%s", got, file)
			}
			// The repeated event: one more event, the rest skipped.
			st, err = jsonl.Import(ctx, dsts[0], bytes.NewReader(twice))
			if err != nil || st.Skipped != n || statTotal(st) != n+1 {
				t.Fatalf("import with a repeated record: %+v, %v; want %d records, %d skipped", st, err, n+1, n)
			}
			st, err = jsonl.Import(ctx, dsts[1], bytes.NewReader(twice))
			if err != nil || st.Skipped != n+1 {
				t.Fatalf("again with a repeated record: %+v, %v; want all %d skipped", st, err, n+1)
			}
		})
	}
}

// callLog is a BatchDestination that records the size of each call and
// fails the call numbered failAt (from 1; 0: none).
type callLog struct {
	*host.Store
	calls  [][2]int // records, bytes of payloads
	failAt int
}

var errInjected = errors.New("injected failure")

func (c *callLog) WriteBatches(ctx context.Context, batches ...abi.Batch) (int, error) {
	size := 0
	for _, b := range batches {
		if len(b.Key) == 0 || len(b.Key) > abi.MaxBatchKey {
			return 0, fmt.Errorf("batch key %q", b.Key)
		}
		for _, e := range b.Events {
			size += len(e.Payload)
		}
	}
	c.calls = append(c.calls, [2]int{len(batches), size})
	if len(c.calls) == c.failAt {
		return 0, errInjected
	}
	return c.Store.WriteBatches(ctx, batches...)
}

// TestImportBatchedResumes: an import that fails part way (after the
// first transaction) leaves whole transactions; run again, it completes,
// skipping what was written, and the store exports the file.
func TestImportBatchedResumes(t *testing.T) {
	ctx := context.Background()
	file := bigSession(t, "resume", 1500)
	n := records(file)
	s, _ := newStore(t)
	dst := &callLog{Store: s, failAt: 2}
	st, err := jsonl.Import(ctx, dst, bytes.NewReader(file))
	var le *jsonl.LineError
	if !errors.Is(err, errInjected) || !errors.As(err, &le) || le.Line != jsonl.MaxImportRecords+2 {
		t.Fatalf("import = %v, want the injected failure at line %d (the second transaction's first)", err, jsonl.MaxImportRecords+2)
	}
	if statTotal(st) != jsonl.MaxImportRecords || st.Skipped != 0 {
		t.Fatalf("failed import: %+v, want the first transaction's %d records", st, jsonl.MaxImportRecords)
	}
	dst.failAt = 0
	st, err = jsonl.Import(ctx, dst, bytes.NewReader(file))
	if err != nil || statTotal(st) != n || st.Skipped != jsonl.MaxImportRecords || st.Events != 1500 {
		t.Fatalf("re-run: %+v, %v; want %d records, %d skipped", st, err, n, jsonl.MaxImportRecords)
	}
	if got := export(t, s, "resume"); !bytes.Equal(got, file) {
		t.Fatal("the store's export after the re-run differs from the file")
	}
}

// TestImportBatchedBounds: transactions hold at most MaxImportRecords
// records and MaxImportBytes bytes, unless one record is larger; a bad
// line anywhere stops the import before anything is written.
func TestImportBatchedBounds(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	w := jsonl.NewWriter(&buf)
	big := strings.Repeat("x", 1<<20)
	const n = 30
	for i := range n {
		payload := fmt.Sprintf(`{"i":%d,"text":"%s"}`, i, big)
		if i == 7 {
			payload = fmt.Sprintf(`{"text":"%s"}`, strings.Repeat("y", 9<<20)) // alone above the bound
		}
		if err := w.Write(jsonl.Record{Type: jsonl.TypeEvent, Event: &abi.EventEnvelope{Session: "big", Turn: i,
			Kind: abi.KindAssistantMessage, TS: at(time.Duration(i) * time.Second), Payload: []byte(payload)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t)
	dst := &callLog{Store: s}
	st, err := jsonl.Import(ctx, dst, bytes.NewReader(buf.Bytes()))
	if err != nil || st.Events != n {
		t.Fatalf("import: %+v, %v", st, err)
	}
	total := 0
	for i, c := range dst.calls {
		total += c[0]
		if c[0] > 1 && c[1] > jsonl.MaxImportBytes {
			t.Errorf("call %d: %d records of %d bytes, above %d", i, c[0], c[1], jsonl.MaxImportBytes)
		}
	}
	if total != n || len(dst.calls) < 4 {
		t.Fatalf("calls %v: want %d records in 4 or more calls", dst.calls, n)
	}

	// Small records: MaxImportRecords per call.
	file := bigSession(t, "many", 2100)
	s2, _ := newStore(t)
	dst = &callLog{Store: s2}
	if _, err := jsonl.Import(ctx, dst, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	for i, c := range dst.calls {
		if want := min(jsonl.MaxImportRecords, records(file)-i*jsonl.MaxImportRecords); c[0] != want {
			t.Fatalf("call %d of %v: %d records, want %d", i, dst.calls, c[0], want)
		}
	}

	// A bad last line: nothing is written.
	s3, _ := newStore(t)
	bad := string(file) + `{"type":"event","event":{}}` + "\n"
	st, err = jsonl.Import(ctx, s3, strings.NewReader(bad))
	var le *jsonl.LineError
	if !errors.As(err, &le) || le.Line != records(file)+2 || st != (jsonl.Stats{}) {
		t.Fatalf("import of a file with a bad last line: %+v, %v; want a LineError on line %d", st, err, records(file)+2)
	}
	if evs, err := s3.EventsSince(ctx, "many", 0, 1); err != nil || len(evs) != 0 {
		t.Fatalf("stored %d events, %v; want none", len(evs), err)
	}
}

// TestImportBatchedTwoHandles: four imports of one file at once, through
// two handles on one store: every record is stored once, and the
// imports' written records (counted minus skipped) add up to the file.
func TestImportBatchedTwoHandles(t *testing.T) {
	ctx := context.Background()
	file := bigSession(t, "both", 1200)
	n := records(file)
	s, path := newStore(t)
	handles := []*host.Store{s, openStore(t, path)}
	var wg sync.WaitGroup
	written := make([]int, 4)
	for i := range written {
		wg.Go(func() {
			st, err := jsonl.Import(ctx, handles[i%2], bytes.NewReader(file))
			if err != nil || statTotal(st) != n {
				t.Errorf("import %d: %+v, %v", i, st, err)
			}
			written[i] = statTotal(st) - st.Skipped
		})
	}
	wg.Wait()
	sum := 0
	for _, w := range written {
		sum += w
	}
	if sum != n {
		t.Fatalf("the imports wrote %v records, %d in all; want %d", written, sum, n)
	}
	if got := export(t, handles[1], "both"); !bytes.Equal(got, file) {
		t.Fatal("the store's export differs from the file")
	}
}

type batchImportArgs struct{ Path, File string }

// printCommits is a store that prints "committed" after each
// WriteBatches call that returned nil.
type printCommits struct{ *host.Store }

func (p *printCommits) WriteBatches(ctx context.Context, batches ...abi.Batch) (int, error) {
	n, err := p.Store.WriteBatches(ctx, batches...)
	if err == nil {
		os.Stdout.WriteString("committed\n")
	}
	return n, err
}

var _ = proc.Role("jsonl-import-batched", func() int {
	proc.ExitWithParent(time.Minute)
	var a batchImportArgs
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
	fmt.Println("start")
	st, err := jsonl.Import(context.Background(), &printCommits{s}, f)
	if err != nil {
		proc.Fail("import: %v", err)
	}
	fmt.Printf("written %d\n", statTotal(st)-st.Skipped)
	s.Close()
	return 0
})

// TestImportBatchedProcesses: two OS processes and this one import the
// same file into one store at once: every record is stored once.
func TestImportBatchedProcesses(t *testing.T) {
	proc.Skip(t)
	file := bigSession(t, "procs", 1200)
	n := records(file)
	src := filepath.Join(t.TempDir(), "procs.jsonl")
	if err := os.WriteFile(src, file, 0o600); err != nil {
		t.Fatal(err)
	}
	s, path := newStore(t)
	var procs []*proc.Proc
	outs := make([]int, 2)
	var wg sync.WaitGroup
	for c := range 2 {
		p := proc.Start(t, proc.Spec{Role: "jsonl-import-batched", Args: batchImportArgs{Path: path, File: src}})
		procs = append(procs, p)
		wg.Go(func() {
			p.Lines(func(l string) {
				if v, ok := strings.CutPrefix(l, "written "); ok {
					outs[c], _ = strconv.Atoi(v)
				}
			})
		})
	}
	st, err := jsonl.Import(context.Background(), s, bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if sum := statTotal(st) - st.Skipped + outs[0] + outs[1]; sum != n {
		t.Fatalf("the processes wrote %d + %v records, want %d in all", statTotal(st)-st.Skipped, outs, n)
	}
	if got := export(t, s, "procs"); !bytes.Equal(got, file) {
		t.Fatal("the store's export differs from the file")
	}
}

// TestImportBatchedCrash kills a process importing into a store at random
// moments: the store holds whole transactions of the file (0, the first
// MaxImportRecords records, or all), and an import run again completes
// it, skipping exactly what was there.
func TestImportBatchedCrash(t *testing.T) {
	proc.Skip(t)
	file := bigSession(t, "crash", 1500)
	n := records(file)
	lines := strings.SplitAfter(string(file), "\n")
	src := filepath.Join(t.TempDir(), "crash.jsonl")
	if err := os.WriteFile(src, file, 0o600); err != nil {
		t.Fatal(err)
	}
	kills, partial := 0, 0
	proc.Loop(t, 12, 4, func(rng *rand.Rand, round int) {
		path := filepath.Join(t.TempDir(), "sessions.db")
		p := proc.Start(t, proc.Spec{Role: "jsonl-import-batched", Args: batchImportArgs{Path: path, File: src}})
		// Even rounds kill soon after the first transaction committed,
		// odd ones at a random moment after the start.
		started, killed := make(chan struct{}), make(chan struct{})
		delay := time.Duration(rng.Int64N(int64(600 * time.Millisecond)))
		trigger := "start"
		if round%2 == 0 {
			trigger, delay = "committed", time.Duration(rng.Int64N(int64(20*time.Millisecond)))
		}
		go func() {
			defer close(killed)
			<-started
			p.KillAfter(delay)
		}()
		once := false
		p.Lines(func(l string) {
			if l == trigger && !once {
				once = true
				close(started)
			}
		})
		if !once {
			close(started)
		}
		<-killed
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if !p.ExitedByItself() {
			kills++
		}
		s := openStore(t, path)
		got := export(t, s)
		had := records(got)
		if had != 0 && had != jsonl.MaxImportRecords && had != n {
			t.Fatalf("round %d: %d records stored, want 0, %d or %d (whole transactions)", round, had, jsonl.MaxImportRecords, n)
		}
		if had > 0 {
			if want := strings.Join(lines[:had+1], ""); !bytes.Equal(got, []byte(want)) {
				t.Fatalf("round %d: the store's export is not the file's first %d records", round, had)
			}
		}
		if had > 0 && had < n {
			partial++
		}
		st, err := jsonl.Import(context.Background(), s, bytes.NewReader(file))
		if err != nil || st.Skipped != had || statTotal(st) != n {
			t.Fatalf("round %d: re-run: %+v, %v; want %d records, %d skipped", round, st, err, n, had)
		}
		if got := export(t, s, "crash"); !bytes.Equal(got, file) {
			t.Fatalf("round %d: the export after the re-run differs from the file", round)
		}
		s.Close()
	})
	t.Logf("%d rounds killed the import before it ended, %d of them after its first transaction", kills, partial)
	if kills == 0 {
		t.Fatal("no round killed the import before it ended: the test proved nothing")
	}
}
