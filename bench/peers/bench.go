package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The workloads, in the order of the tables.
const (
	Append1  = "append1"  // one caller, one commit per event
	AppendN  = "appendN"  // Config.Callers callers at once, each its own session
	Session  = "session"  // a whole session (Config.PerSession events) in ID order
	Point    = "point"    // one event by session and ID
	unitEv   = "events/s" // Append1, AppendN, Session
	unitRead = "reads/s"  // Point
)

// Workloads lists the workloads in the order Run runs them in each round.
var Workloads = []string{Append1, AppendN, Session, Point}

// Config sizes the workloads. Full is the benchmark's, Tiny the smoke
// test's.
type Config struct {
	Rounds       int    // rounds; each runs every workload on every peer
	Append1      int    // events appended by the single caller, per round
	AppendN      int    // events appended by the concurrent callers together, per round
	Callers      int    // concurrent callers of AppendN
	Sessions     int    // sessions of the read database
	PerSession   int    // events per session of the read database
	SessionReads int    // whole-session reads per round
	PointReads   int    // point reads per round
	Seed         uint64 // payloads and the choice of what is read
	Dir          string // where the databases go ("": os.TempDir())
}

// Full is the configuration of make bench-peers.
var Full = Config{Rounds: 5, Append1: 1000, AppendN: 4000, Callers: 16, Sessions: 20, PerSession: 1000,
	SessionReads: 100, PointReads: 5000, Seed: 1}

// Tiny is the smoke test's: every code path, in seconds.
var Tiny = Config{Rounds: 1, Append1: 10, AppendN: 64, Callers: 16, Sessions: 2, PerSession: 1000,
	SessionReads: 2, PointReads: 50, Seed: 1}

// Result is one workload on one peer in one round.
type Result struct {
	Round    int     `json:"round"`
	Peer     string  `json:"peer"`
	Workload string  `json:"workload"`
	Ops      int     `json:"ops"`     // events appended or read, or point reads
	Seconds  float64 `json:"seconds"` // wall clock
	CPU      float64 `json:"cpu"`     // user+system CPU seconds of the process
	Err      string  `json:"err,omitempty"`
}

// Rate returns the operations per second.
func (r Result) Rate() float64 { return float64(r.Ops) / r.Seconds }

// Bench runs the workloads of one peer.
type Bench interface {
	Name() string
	Run(ctx context.Context, workload string, round int) (Result, error)
	Close() error
}

// Local runs a peer in this process. The read database is built when the
// Local is made and kept open; each append workload starts from an empty
// database in a fresh directory.
type Local struct {
	o    Opener
	cfg  Config
	dir  string
	read Peer
	ids  map[string][]uint64 // the read database's IDs, per session
	rng  *rand.Rand
}

// ErrCheck is returned when a peer returns other events than it stored.
var ErrCheck = errors.New("peers: wrong result")

// NewLocal opens o's read database under cfg.Dir and fills it.
func NewLocal(ctx context.Context, o Opener, cfg Config) (*Local, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "peers-"+o.Name+"-")
	if err != nil {
		return nil, err
	}
	l := &Local{o: o, cfg: cfg, dir: dir, ids: map[string][]uint64{}, rng: rand.New(rand.NewPCG(cfg.Seed, 7))}
	if err := l.fill(ctx); err != nil {
		l.Close()
		return nil, fmt.Errorf("%s: read database: %w", o.Name, err)
	}
	return l, nil
}

func readSession(i int) string { return fmt.Sprintf("read-%03d", i) }

func (l *Local) fill(ctx context.Context) error {
	d, err := os.MkdirTemp(l.dir, "read-")
	if err != nil {
		return err
	}
	if l.read, err = l.o.Open(d); err != nil {
		return err
	}
	// Sessions interleave in runs of 10 events, as concurrent sessions do.
	per := make([][]Event, l.cfg.Sessions)
	for i := range per {
		per[i] = Events(l.cfg.Seed+uint64(i), readSession(i), l.cfg.PerSession)
	}
	var all []Event
	for j := 0; j < l.cfg.PerSession; j += 10 {
		for i := range per {
			all = append(all, per[i][j:min(j+10, len(per[i]))]...)
		}
	}
	if err := l.read.Load(ctx, all); err != nil {
		return err
	}
	for i := range per {
		evs, err := l.read.ReadSession(ctx, readSession(i), 0, l.cfg.PerSession, nil)
		if err != nil {
			return err
		}
		if len(evs) != l.cfg.PerSession {
			return fmt.Errorf("%w: session %d has %d events, want %d", ErrCheck, i, len(evs), l.cfg.PerSession)
		}
		ids := make([]uint64, len(evs))
		for j, e := range evs {
			if string(e.Payload) != string(per[i][j].Payload) || e.Kind != per[i][j].Kind || e.Turn != per[i][j].Turn || e.TS != per[i][j].TS {
				return fmt.Errorf("%w: session %d event %d differs from the one stored", ErrCheck, i, j)
			}
			ids[j] = e.ID
		}
		l.ids[readSession(i)] = ids
	}
	return nil
}

// Name returns the peer's name.
func (l *Local) Name() string { return l.o.Name }

// Close closes the read database and removes every file of the peer.
func (l *Local) Close() error {
	var err error
	if l.read != nil {
		err = l.read.Close()
	}
	return errors.Join(err, os.RemoveAll(l.dir))
}

// Run runs one workload once.
func (l *Local) Run(ctx context.Context, w string, round int) (Result, error) {
	r := Result{Round: round, Peer: l.o.Name, Workload: w}
	var run func() (int, error)
	switch w {
	case Append1, AppendN:
		d, err := os.MkdirTemp(l.dir, w+"-")
		if err != nil {
			return r, err
		}
		defer os.RemoveAll(d)
		p, err := l.o.Open(d)
		if err != nil {
			return r, err
		}
		defer p.Close()
		if w == Append1 {
			evs := Events(l.cfg.Seed+uint64(round)<<20, "append1", l.cfg.Append1)
			run = func() (int, error) { return appendSerial(ctx, p, evs) }
		} else {
			evs := make([][]Event, l.cfg.Callers)
			for i := range evs {
				evs[i] = Events(l.cfg.Seed+uint64(round)<<20+uint64(i+1)<<10, fmt.Sprint("appendN-", i), (l.cfg.AppendN+l.cfg.Callers-1)/l.cfg.Callers)
			}
			run = func() (int, error) { return appendConcurrent(ctx, p, evs, l.cfg.AppendN) }
		}
	case Session:
		run = func() (int, error) { return l.readSessions(ctx) }
	case Point:
		run = func() (int, error) { return l.readPoints(ctx) }
	default:
		return r, fmt.Errorf("peers: unknown workload %q", w)
	}
	c0, t0 := cpuTime(), time.Now()
	n, err := run()
	r.Seconds = time.Since(t0).Seconds()
	r.CPU = (cpuTime() - c0).Seconds()
	r.Ops = n
	return r, err
}

func appendSerial(ctx context.Context, p Peer, evs []Event) (int, error) {
	for i, e := range evs {
		if err := p.Append(ctx, e); err != nil {
			return i, err
		}
	}
	return len(evs), nil
}

func appendConcurrent(ctx context.Context, p Peer, evs [][]Event, total int) (int, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, mine := range evs {
		wg.Go(func() {
			for _, e := range mine {
				if next.Add(1) > int64(total) {
					return
				}
				if err := p.Append(ctx, e); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return int(min(next.Load(), int64(total))), first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (l *Local) readSessions(ctx context.Context) (int, error) {
	n := 0
	var buf []Event
	for range l.cfg.SessionReads {
		sess := readSession(l.rng.IntN(l.cfg.Sessions))
		var err error
		buf, err = l.read.ReadSession(ctx, sess, 0, l.cfg.PerSession, buf[:0])
		if err != nil {
			return n, err
		}
		if len(buf) != l.cfg.PerSession || buf[len(buf)-1].ID != l.ids[sess][len(buf)-1] {
			return n, fmt.Errorf("%w: session %s read %d events", ErrCheck, sess, len(buf))
		}
		n += len(buf)
	}
	return n, nil
}

func (l *Local) readPoints(ctx context.Context) (int, error) {
	for i := range l.cfg.PointReads {
		sess := readSession(l.rng.IntN(l.cfg.Sessions))
		ids := l.ids[sess]
		id := ids[l.rng.IntN(len(ids))]
		e, err := l.read.ReadPoint(ctx, sess, id)
		if err != nil {
			return i, err
		}
		if e.ID != id || len(e.Payload) == 0 {
			return i, fmt.Errorf("%w: point read of %s/%d returned event %d", ErrCheck, sess, id, e.ID)
		}
	}
	return l.cfg.PointReads, nil
}

// Run runs cfg.Rounds rounds: in each, every workload on every bench, the
// benches in an order rotated by one each round. Progress goes to log.
func Run(ctx context.Context, benches []Bench, cfg Config, log io.Writer) ([]Result, error) {
	var out []Result
	for round := 1; round <= cfg.Rounds; round++ {
		for _, w := range Workloads {
			for k := range benches {
				b := benches[(k+round-1)%len(benches)]
				r, err := b.Run(ctx, w, round)
				if err != nil {
					return out, fmt.Errorf("round %d, %s on %s: %w", round, w, b.Name(), err)
				}
				fmt.Fprintf(log, "round %d %-8s %-12s %10.0f/s  %.3gs  cpu %.3gs\n", round, w, b.Name(), r.Rate(), r.Seconds, r.CPU)
				out = append(out, r)
			}
		}
	}
	return out, nil
}
