package scale_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/host"
	"github.com/gofastr/store/keyring"
)

// genVersion names the layout of generated stores; change it when the
// generator changes so that cached stores are rebuilt.
const genVersion = "v1"

// The generated store: months monthly files starting at firstMonth, each
// holding an equal share of the events, their timestamps spread evenly
// over the month.
const (
	months      = 12
	perSession  = 100 // events of an ordinary session
	active      = 50  // ordinary sessions interleaved at the same time
	hot         = 5   // long-running sessions with events in every month
	hotEvery    = 20  // one hot event after every hotEvery-1 ordinary ones
	callEvents  = 4000
	batchEvents = 1000
)

var (
	firstMonth = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	scaleKEK   = []byte("scale-run-kek-32-bytes-of-secret")
)

// monthStart returns the start of month mo (0 is firstMonth).
func monthStart(mo int) time.Time { return firstMonth.AddDate(0, mo, 0) }

// endOfData is the clock of a rollover reading a generated store: the
// last minute of its last month, so that no newer month file is created.
func endOfData() time.Time { return monthStart(months).Add(-time.Minute) }

// scaleConfig returns the Config of a generated store with a fixed clock.
func scaleConfig(now time.Time) host.Config {
	return host.NewConfig().WithKEKSource(keyring.RawKEK(scaleKEK)).WithClock(func() time.Time { return now })
}

// hotSession and ordinarySession name the sessions of a generated store.
func hotSession(h int) abi.SessionID      { return abi.SessionID(fmt.Sprintf("hot-%d", h)) }
func ordinarySession(s int) abi.SessionID { return abi.SessionID(fmt.Sprintf("s-%07d", s)) }

// ordinarySessions returns the number of ordinary sessions of a store of
// n events (the last one may be short).
func ordinarySessions(n int) int {
	normal := n - n/hotEvery
	return (normal + perSession - 1) / perSession
}

var words = strings.Fields(`the a parser test file function error return value build run go module
	package import fix update change add remove check handle case trailing comma regression pass fail
	output input line column token string number object array config option flag path directory`)

// payload returns a message of lo to hi words: about 6 bytes a word.
func payload(r *rand.Rand, lo, hi int) json.RawMessage {
	n := lo + r.IntN(hi-lo+1)
	var b strings.Builder
	b.Grow(n*7 + 12)
	b.WriteString(`{"text":"`)
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	b.WriteString(`"}`)
	return json.RawMessage(b.String())
}

// kindOf returns the kind of turn t of a session: a user message, then
// tool calls, tool results and assistant messages in turn.
func kindOf(t int) string {
	switch {
	case t == 0:
		return abi.KindUserMessage
	case t%3 == 1:
		return abi.KindToolCall
	case t%3 == 2:
		return abi.KindToolResult
	}
	return abi.KindAssistantMessage
}

// event returns event i of a store of n events: its session, turn, kind,
// time and payload. Ordinary sessions come in blocks of active sessions
// interleaved, perSession events each, so that a block straddles a month
// boundary now and then; every hotEvery-th event belongs to one of the
// hot sessions, which run through every month. Tool results are 300 to
// 2000 bytes, other payloads 40 to 300 (the sizes of the recorded
// transcripts' messages, most of them small).
type generator struct {
	n       int
	r       *rand.Rand
	ord     int // ordinary events emitted
	hotTurn [hot]int
}

func newGenerator(n int) *generator { return &generator{n: n, r: rand.New(rand.NewPCG(1, 2))} }

// monthOf returns the month of event i.
func (g *generator) monthOf(i int) int { return i * months / g.n }

// next returns event i (called for i = 0, 1, … in order).
func (g *generator) next(i int) abi.EventEnvelope {
	var sess abi.SessionID
	var turn int
	if i%hotEvery == hotEvery-1 {
		h := (i / hotEvery) % hot
		sess, turn = hotSession(h), g.hotTurn[h]
		g.hotTurn[h]++
	} else {
		k := g.ord
		g.ord++
		block, within := k/(active*perSession), k%(active*perSession)
		sess, turn = ordinarySession(block*active+within%active), within/active
	}
	mo := g.monthOf(i)
	first := (mo*g.n + months - 1) / months // the first event of month mo
	last := ((mo+1)*g.n + months - 1) / months
	span := monthStart(mo+1).Sub(monthStart(mo)) - time.Hour
	ts := monthStart(mo).Add(time.Duration(int64(span) / int64(last-first+1) * int64(i-first+1))).Truncate(time.Millisecond)
	kind := kindOf(turn)
	var p json.RawMessage
	if kind == abi.KindToolResult {
		p = payload(g.r, 45, 300)
	} else {
		p = payload(g.r, 5, 44)
	}
	return abi.EventEnvelope{Session: sess, Turn: turn, Kind: kind, TS: ts, Payload: p}
}

// generate writes a store of n events into dir (created), month by month
// through a MonthlyRollover whose clock is the last minute of the month
// being written, with WriteBatches calls of callEvents events from two
// goroutines (one prepares while the other commits). hot-0 is pinned in
// the first month. progress, if not nil, is called after each month.
func generate(ctx context.Context, dir string, n int, progress func(mo, written int)) error {
	var clock atomic.Pointer[time.Time]
	t0 := monthStart(1).Add(-time.Minute)
	clock.Store(&t0)
	cfg := host.NewConfig().WithKEKSource(keyring.RawKEK(scaleKEK)).WithClock(func() time.Time { return *clock.Load() })
	m, err := host.NewMonthlyRolloverWithConfig(dir, cfg)
	if err != nil {
		return err
	}
	defer m.Close()

	calls := make(chan []abi.Batch, 4)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	var monthWG sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for c := range calls {
				if failed.Load() == nil {
					if _, err := m.WriteBatches(ctx, c...); err != nil {
						failed.CompareAndSwap(nil, &err)
					}
				}
				monthWG.Done()
			}
		})
	}
	g := newGenerator(n)
	i := 0
	for mo := range months {
		end := ((mo+1)*n + months - 1) / months
		t := monthStart(mo + 1).Add(-time.Minute)
		clock.Store(&t)
		first := true
		for i < end && failed.Load() == nil {
			var call []abi.Batch
			for len(call)*batchEvents < callEvents && i < end {
				b := abi.Batch{Events: make([]abi.EventEnvelope, 0, batchEvents)}
				for len(b.Events) < batchEvents && i < end {
					b.Events = append(b.Events, g.next(i))
					i++
				}
				if mo == 0 && first {
					b.Pins = []abi.SessionID{hotSession(0)}
					first = false
				}
				call = append(call, b)
			}
			monthWG.Add(1)
			calls <- call
		}
		// Every call of this month commits before the clock moves on.
		monthWG.Wait()
		if p := failed.Load(); p != nil {
			break
		}
		if progress != nil {
			progress(mo, i)
		}
	}
	close(calls)
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	return m.Close()
}

// cachedStore returns the directory of the cached generated store of n
// events under the temporary directory, generating it first (into a
// temporary name, renamed when complete) if it is missing.
func cachedStore(ctx context.Context, n int, logf func(format string, args ...any)) (string, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("gofastr-scale-%s-%d", genVersion, n))
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return dir, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	start := time.Now()
	logf("generating %d events into %s", n, dir)
	err := generate(ctx, tmp, n, func(mo, written int) {
		logf("  month %2d done: %d events, %v", mo+1, written, time.Since(start).Round(time.Second))
	})
	if err != nil {
		return "", fmt.Errorf("generate %d events: %w", n, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), []byte(time.Since(start).String()+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	logf("generated %d events in %v", n, time.Since(start).Round(time.Second))
	return dir, nil
}
