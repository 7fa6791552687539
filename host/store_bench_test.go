package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
)

// benchPayload is a typical small assistant event (about 200 bytes).
var benchPayload = json.RawMessage(`{"role":"assistant","content":[{"type":"text","text":"I updated the parser to handle the trailing comma case and added a regression test in parser_test.go; all tests pass."}]}`)

// appendParallel appends b.N events from callers goroutines, each to its
// own session, and reports events/s.
func appendParallel(b *testing.B, s *host.Store, callers int, payload func(i int64) json.RawMessage) {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess := abi.SessionID(fmt.Sprint("bench-", g))
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := s.Append(ctx, abi.EventEnvelope{Session: sess, Turn: int(i), Kind: abi.KindAssistantMessage, Payload: payload(i)}); err != nil {
					failed.Store(&err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// BenchmarkAppendEvent measures durable appends (encrypted store, WAL,
// synchronous=full) from one caller and from concurrent callers, whose
// appends the store group-commits.
func BenchmarkAppendEvent(b *testing.B) {
	for _, callers := range []int{1, 16, 64} {
		name := fmt.Sprint("parallel", callers)
		if callers == 1 {
			name = "serial"
		}
		b.Run(name, func(b *testing.B) {
			s, _ := openEncStore(b)
			c0, w0 := host.BatchStats(s)
			appendParallel(b, s, callers, func(int64) json.RawMessage { return benchPayload })
			c1, w1 := host.BatchStats(s)
			b.ReportMetric(float64(w1-w0)/float64(max(c1-c0, 1)), "writes/commit")
		})
	}
}

// Read benchmarks run on a large store built once through the Store API and
// cached under os.TempDir(). GOFASTR_BENCH_BIG=1 selects the scale
// (1M events, 100k sessions); the default is a tenth of it.
const (
	benchStoreVersion = "v4"
	envBenchBig       = "GOFASTR_BENCH_BIG"
)

type benchScale struct {
	name       string
	sessions   int // ordinary sessions
	perSession int // events per ordinary session
}

// Besides the ordinary sessions every bench store has benchHot sessions of
// benchHotEvents events spread evenly over the whole log (long-running
// sessions that interleave with everything else) and benchClustered
// sessions of benchClusterEvents events appended back to back at the end.
const (
	benchHot           = 5
	benchHotEvents     = 2000
	benchClustered     = 2
	benchClusterEvents = 1500
	benchActive        = 50 // ordinary sessions active at the same time
)

func currentBenchScale() benchScale {
	if os.Getenv(envBenchBig) == "1" {
		return benchScale{"1M", 100_000, 10}
	}
	return benchScale{"100k", 10_000, 10}
}

var benchStores struct {
	sync.Mutex
	m map[string]*host.Store
}

// bigBenchStore returns the cached read-benchmark store, building it on
// first use.
func bigBenchStore(b *testing.B) (*host.Store, benchScale) {
	b.Helper()
	sc := currentBenchScale()
	benchStores.Lock()
	defer benchStores.Unlock()
	if s := benchStores.m[sc.name]; s != nil {
		return s, sc
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("gofastr-bench-store-%s-%s.db", benchStoreVersion, sc.name))
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		if err := buildBenchStore(path, sc); err != nil {
			b.Fatalf("build bench store: %v", err)
		}
		fi, _ := os.Stat(path)
		b.Logf("built %s (%d MB) in %v", path, fi.Size()>>20, time.Since(start).Round(time.Second))
	}
	s, err := host.OpenEncrypted(path, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		b.Fatalf("open bench store %s: %v (delete it to rebuild)", path, err)
	}
	if benchStores.m == nil {
		benchStores.m = make(map[string]*host.Store)
	}
	benchStores.m[sc.name] = s
	return s, sc
}

var benchWords = strings.Fields(`the a parser test file function error return value build run go module
	package import fix update change add remove check handle case trailing comma regression pass fail
	output input line column token string number object array config option flag path directory`)

// benchEventPayload returns a message of 5 to 44 words: 40 to 300 bytes,
// so some payloads are stored compressed and most raw.
func benchEventPayload(r *rand.Rand) json.RawMessage {
	n := 5 + r.IntN(40)
	w := make([]string, n)
	for i := range w {
		w[i] = benchWords[r.IntN(len(benchWords))]
	}
	return json.RawMessage(`{"text":"` + strings.Join(w, " ") + `"}`)
}

// buildBenchStore writes the bench store to path+".tmp" through the Store
// API, with many concurrent appenders so that batches are large, then
// renames it into place.
func buildBenchStore(path string, sc benchScale) error {
	tmp := path + ".tmp"
	for _, suf := range storeFileSuffixes {
		os.Remove(tmp + suf)
	}
	s, err := host.OpenEncrypted(tmp, host.EncryptionAtRest, storeTestKey)
	if err != nil {
		return err
	}
	jobs := make(chan abi.EventEnvelope, 4096)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range 512 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range jobs {
				if failed.Load() != nil {
					continue
				}
				if _, err := s.Append(context.Background(), e); err != nil {
					failed.Store(&err)
				}
			}
		}()
	}

	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := 0
	emit := func(sess string, turn int, kind string) {
		tick++
		jobs <- abi.EventEnvelope{Session: abi.SessionID(sess), Turn: turn, Kind: kind,
			TS: base.Add(time.Duration(tick) * time.Second), Payload: benchEventPayload(r)}
	}
	kindOf := func(turn int) string {
		switch {
		case turn == 0:
			return abi.KindUserMessage
		case turn%3 == 1:
			return abi.KindToolCall
		case turn%3 == 2:
			return abi.KindToolResult
		}
		return abi.KindAssistantMessage
	}
	normal := sc.sessions * sc.perSession
	hotEvery := normal / (benchHot * benchHotEvents)
	hotTurn := make([]int, benchHot)
	for k := range normal {
		block := k / (benchActive * sc.perSession)
		within := k % (benchActive * sc.perSession)
		sess := block*benchActive + within%benchActive
		emit(fmt.Sprintf("s-%07d", sess), within/benchActive, kindOf(within/benchActive))
		if hotEvery > 0 && k%hotEvery == 0 {
			h := (k / hotEvery) % benchHot
			if hotTurn[h] < benchHotEvents {
				emit(fmt.Sprintf("hot-%d", h), hotTurn[h], kindOf(hotTurn[h]))
				hotTurn[h]++
			}
		}
	}
	for c := range benchClustered {
		for i := range benchClusterEvents {
			emit(fmt.Sprintf("cluster-%d", c), i, kindOf(i))
		}
	}
	close(jobs)
	wg.Wait()
	if err := s.Close(); err != nil {
		return err
	}
	if p := failed.Load(); p != nil {
		return *p
	}
	os.Remove(tmp + "-shm")
	return os.Rename(tmp, path)
}

// reportLatency reports the median and 99th percentile of durs.
func reportLatency(b *testing.B, durs []time.Duration) {
	b.Helper()
	if len(durs) == 0 {
		return
	}
	slices.Sort(durs)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(durs[len(durs)/2]), "p50-ms")
	b.ReportMetric(ms(durs[len(durs)*99/100]), "p99-ms")
}

// BenchmarkEventsSince reads the first 1000 events of sessions with at
// least 1000 events: "interleaved" sessions whose events are spread over
// the whole file, and "clustered" ones written back to back.
func BenchmarkEventsSince(b *testing.B) {
	s, sc := bigBenchStore(b)
	ctx := context.Background()
	for _, v := range []struct {
		name     string
		sessions []abi.SessionID
	}{
		{"interleaved", []abi.SessionID{"hot-0", "hot-1", "hot-2", "hot-3", "hot-4"}},
		{"clustered", []abi.SessionID{"cluster-0", "cluster-1"}},
	} {
		b.Run(sc.name+"/"+v.name, func(b *testing.B) {
			if sc.sessions*sc.perSession/(benchHot*benchHotEvents) == 0 && v.name == "interleaved" {
				b.Skip("store too small for interleaved sessions")
			}
			durs := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				evs, err := s.EventsSince(ctx, v.sessions[i%len(v.sessions)], 0, 1000)
				durs = append(durs, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if len(evs) != 1000 {
					b.Fatalf("%d events, want 1000", len(evs))
				}
			}
			b.StopTimer()
			reportLatency(b, durs)
		})
	}
}

// BenchmarkListPastSessions lists the 50 most recent sessions.
func BenchmarkListPastSessions(b *testing.B) {
	s, sc := bigBenchStore(b)
	ctx := context.Background()
	b.Run(sc.name, func(b *testing.B) {
		durs := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			list, err := s.ListPastSessions(ctx, 50)
			durs = append(durs, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if len(list) != 50 {
				b.Fatalf("%d sessions, want 50", len(list))
			}
		}
		b.StopTimer()
		reportLatency(b, durs)
	})
}

// benchTranscriptLines returns every non-empty JSON line of the Claude
// Code transcripts under TranscriptsDir/claude, skipping b if they are
// absent.
func benchTranscriptLines(b *testing.B) []json.RawMessage {
	b.Helper()
	var lines []json.RawMessage
	for _, f := range host.ReadJSONL(b, filepath.Join(host.TranscriptsDir, "claude")) {
		for _, l := range f.Lines {
			if l := bytes.TrimSpace([]byte(l)); len(l) > 0 && json.Valid(l) {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) == 0 {
		b.Skip("no JSON lines in the Claude Code transcripts")
	}
	return lines
}

// BenchmarkAppendCompression appends real transcript lines (one JSONL line
// per event) from 16 callers. Compression cannot be switched off, so it is
// compared with the same number of payloads of the same sizes that do not
// compress (the store tries zstd, rejects it and stores them raw), and with
// the cost of zstd alone on the same lines.
func BenchmarkAppendCompression(b *testing.B) {
	lines := benchTranscriptLines(b)
	var raw int64
	random := make([]json.RawMessage, len(lines))
	for i, l := range lines {
		raw += int64(len(l))
		pad := max(len(l)-len(`{"r":""}`), 0)
		random[i] = json.RawMessage(`{"r":"` + incompressible(uint64(i), pad) + `"}`)
	}
	avg := float64(raw) / float64(len(lines))

	for _, v := range []struct {
		name string
		data []json.RawMessage
	}{{"transcripts", lines}, {"incompressible", random}} {
		b.Run(v.name, func(b *testing.B) {
			s, path := openEncStore(b)
			var bytesIn atomic.Int64
			appendParallel(b, s, 16, func(i int64) json.RawMessage {
				p := v.data[int(i)%len(v.data)]
				bytesIn.Add(int64(len(p)))
				return p
			})
			b.ReportMetric(float64(bytesIn.Load())/float64(b.N), "B/event")
			b.ReportMetric(float64(b.N)*avg/b.Elapsed().Seconds()/1e6, "MB/s")
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
				b.ReportMetric(float64(bytesIn.Load())/float64(fi.Size()), "raw/file")
			}
		})
	}
	b.Run("zstd-only", func(b *testing.B) {
		// The encoder settings of internal/zdict.
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(true))
		if err != nil {
			b.Fatal(err)
		}
		var in, out int64
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			l := lines[i%len(lines)]
			c := enc.EncodeAll(l, make([]byte, 0, len(l)/2))
			in += int64(len(l))
			out += int64(len(c))
		}
		b.StopTimer()
		b.ReportMetric(float64(in)/float64(out), "ratio")
	})
}
