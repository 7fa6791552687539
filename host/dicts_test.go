package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/engine"
	"github.com/gofastr/store/internal/zdict"
)

// Small training thresholds, so that tests train a dictionary after a few
// hundred appends.
const (
	testTrainBytes   = 96 << 10
	testTrainSamples = 2000
)

// codecWords is the vocabulary of the synthetic transcript lines.
var codecWords = strings.Fields(`the store appends events and compresses payloads with zstd
	a dictionary trained from its own data makes small JSON documents much smaller because
	keys and common phrases repeat across lines tool call result assistant user message file
	path function test error returns value context session turn kind timestamp writer reader
	commit transaction page cache index query schema migration version retention pin marker`)

// synthLine returns a synthetic transcript line of a few hundred bytes:
// the shape (keys, constant fields) repeats, the text and IDs vary.
func synthLine(r *rand.Rand, i int) []byte {
	var text strings.Builder
	for range 20 + r.IntN(120) {
		text.WriteString(codecWords[r.IntN(len(codecWords))])
		text.WriteByte(' ')
	}
	kinds := []string{"user", "assistant", "tool_use", "tool_result"}
	line := map[string]any{
		"parentUuid":  fmt.Sprintf("%016x-%08x", r.Uint64(), r.Uint32()),
		"isSidechain": false,
		"userType":    "external",
		"cwd":         "/home/dev/projects/gofastr/store",
		"sessionId":   "8d0c6f2e-1b7a-4c11-9a55-2f7e0e3c9b41",
		"version":     "2.1.3",
		"gitBranch":   "main",
		"type":        kinds[i%len(kinds)],
		"message": map[string]any{
			"role":    kinds[i%2],
			"model":   "claude-opus-4-1-20250805",
			"content": []any{map[string]any{"type": "text", "text": text.String()}},
			"usage":   map[string]any{"input_tokens": r.IntN(5000), "output_tokens": r.IntN(2000), "service_tier": "standard"},
		},
		"uuid":      fmt.Sprintf("%016x-%08x", r.Uint64(), r.Uint32()),
		"timestamp": time.Date(2026, 5, 11, 10, 0, i, 0, time.UTC).Format(time.RFC3339Nano),
	}
	b, err := json.Marshal(line)
	if err != nil {
		panic(err)
	}
	return b
}

func synthLines(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0xd1c7))
	out := make([][]byte, n)
	for i := range out {
		out[i] = synthLine(r, i)
	}
	return out
}

// openDictStore opens the plaintext store at path with small training
// thresholds.
func openDictStore(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	s.codec.z.SetTraining(testTrainBytes, testTrainSamples)
	tb.Cleanup(func() { s.Close() })
	return s
}

func appendLines(tb testing.TB, s *Store, sess abi.SessionID, lines [][]byte) []uint64 {
	tb.Helper()
	return appendLinesAt(tb, s, sess, time.Time{}, lines)
}

// appendLinesAt appends lines with timestamps ts, ts+1ms, ... (now if ts
// is zero).
func appendLinesAt(tb testing.TB, s *Store, sess abi.SessionID, ts time.Time, lines [][]byte) []uint64 {
	tb.Helper()
	ids := make([]uint64, len(lines))
	for i, l := range lines {
		var at time.Time
		if !ts.IsZero() {
			at = ts.Add(time.Duration(i) * time.Millisecond)
		}
		id, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: i, Kind: abi.KindAssistantMessage, TS: at, Payload: l})
		if err != nil {
			tb.Fatalf("Append line %d: %v", i, err)
		}
		ids[i] = id
	}
	return ids
}

// checkEvents reads every event of sess and compares the payloads with
// want, in order.
func checkEvents(tb testing.TB, s *Store, sess abi.SessionID, want [][]byte) {
	tb.Helper()
	evs, err := s.EventsSince(context.Background(), sess, 0, 0)
	if err != nil {
		tb.Fatalf("EventsSince(%s): %v", sess, err)
	}
	if len(evs) != len(want) {
		tb.Fatalf("EventsSince(%s): %d events, want %d", sess, len(evs), len(want))
	}
	for i, ev := range evs {
		if !bytes.Equal(ev.Payload, want[i]) {
			tb.Fatalf("%s event %d (id %d): payload changed:\n got %.80s\nwant %.80s", sess, i, ev.ID, ev.Payload, want[i])
		}
	}
}

// queryStoreInt runs a one-integer query on a read connection.
func queryStoreInt(tb testing.TB, s *Store, query string, args ...any) int64 {
	tb.Helper()
	var n int64
	err := s.read(context.Background(), func(q *rtx) error {
		st, err := q.stmt(query)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, args...); err != nil {
			return err
		}
		if !st.Step() {
			return fmt.Errorf("no row: %v", st.Err())
		}
		n = st.ColumnInt64(0)
		return st.Err()
	})
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// formatCounts returns the number of stored events per payload format.
func formatCounts(tb testing.TB, s *Store) map[byte]int64 {
	tb.Helper()
	counts := map[byte]int64{}
	for _, f := range []byte{formatRaw, formatZstd, formatZstdDict} {
		counts[f] = queryStoreInt(tb, s, `SELECT count(*) FROM events WHERE format = ? AND payload IS NOT NULL`, int(f))
	}
	return counts
}

func frameDictID(tb testing.TB, data []byte) uint32 {
	tb.Helper()
	id, ok := zdict.FrameDict(data)
	if !ok {
		tb.Fatalf("frame header names no dictionary: % x", data[:min(len(data), 16)])
	}
	return id
}

// TestDictTrainedPersistedReopened is the life of a store's dictionary:
// payloads before it are stored in formats 0 and 1, training starts once
// enough is sampled, the dictionary is persisted, later payloads use it,
// and after a reopen every row still reads and new payloads keep using
// the same dictionary.
func TestDictTrainedPersistedReopened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	if s.codec.z.Current() != 0 || !s.codec.z.Sampling() {
		t.Fatal("a new store has a dictionary or is not sampling")
	}
	lines := synthLines(1, 900)
	small := []byte(`{"text":"short"}`)
	before := append([][]byte{small}, lines[:300]...)
	appendLines(t, s, "a", before)
	if err := s.codec.wait(); err != nil {
		t.Fatalf("training: %v", err)
	}
	cur := s.codec.z.Current()
	if cur == 0 {
		t.Fatalf("no dictionary after %d sampled bytes", testTrainBytes)
	}
	if cur < zdict.MinID || cur > zdict.MaxID {
		t.Errorf("dictionary ID %d outside [%d, %d]", cur, zdict.MinID, zdict.MaxID)
	}
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts WHERE id = ? AND created > 0 AND length(dict) > 0`, int64(cur)); n != 1 {
		t.Fatalf("dicts table has %d rows for dictionary %d, want 1", n, cur)
	}
	after := lines[300:600]
	appendLines(t, s, "a", after)
	counts := formatCounts(t, s)
	if counts[formatRaw] < 1 || counts[formatZstd] < 1 || counts[formatZstdDict] < int64(len(after)) {
		t.Errorf("formats stored: %v; want raw and zstd rows from before the dictionary and %d dictionary rows after", counts, len(after))
	}
	var rows [][]byte
	rows = append(rows, before...)
	rows = append(rows, after...)
	checkEvents(t, s, "a", rows)

	// Dictionary rows are smaller than the plain ones.
	plain := queryStoreInt(t, s, `SELECT sum(size) * 1000 / sum(length(payload)) FROM events WHERE format = 1`)
	dict := queryStoreInt(t, s, `SELECT sum(size) * 1000 / sum(length(payload)) FROM events WHERE format = 2`)
	t.Logf("ratio: zstd %.2fx, zstd with dictionary %.2fx", float64(plain)/1000, float64(dict)/1000)
	if dict <= plain {
		t.Errorf("dictionary ratio %.2fx is not better than plain %.2fx", float64(dict)/1000, float64(plain)/1000)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openDictStore(t, path)
	if cur2 := s2.codec.z.Current(); cur2 != cur {
		t.Fatalf("reopened store does not use dictionary %d: it uses %d", cur, cur2)
	}
	if s2.codec.z.Sampling() {
		t.Error("reopened store with a dictionary is sampling again")
	}
	checkEvents(t, s2, "a", rows)
	more := lines[600:]
	ids := appendLines(t, s2, "a", more)
	checkEvents(t, s2, "a", append(rows, more...))
	err := s2.read(context.Background(), func(q *rtx) error {
		st, err := q.stmt(`SELECT format, payload FROM events WHERE id >= ?`)
		if err != nil {
			return err
		}
		defer st.Reset()
		if err := bindAll(st, ids[0]); err != nil {
			return err
		}
		for st.Step() {
			if f := st.ColumnInt(0); f != int(formatZstdDict) {
				return fmt.Errorf("format %d after reopen, want %d", f, formatZstdDict)
			}
			if id := frameDictID(t, st.ColumnRawBlob(1)); id != cur {
				return fmt.Errorf("frame names dictionary %d, want %d", id, cur)
			}
		}
		return st.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := queryStoreInt(t, s2, `SELECT count(*) FROM dicts`); n != 1 {
		t.Errorf("%d dictionaries after reopen, want 1", n)
	}
}

// TestDictOldRowsRead writes rows in formats 0 and 1 after a dictionary
// exists (as an older version of the store did) and reads them back, on
// the open store and after a reopen.
func TestDictOldRowsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	appendLines(t, s, "train", synthLines(2, 300))
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	old := synthLines(3, 20)
	old = append(old, []byte(`{"tiny":true}`))
	insertFormatted(t, s, "old", old, compressPayload)
	counts := formatCounts(t, s)
	if counts[formatZstd] < 20 {
		t.Fatalf("formats %v: the old-format rows were not written", counts)
	}
	checkEvents(t, s, "old", old)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkEvents(t, openDictStore(t, path), "old", old)
}

// insertFormatted stores payloads in session sess as compress encodes
// them, bypassing the store's codec.
func insertFormatted(tb testing.TB, s *Store, sess string, payloads [][]byte, compress func([]byte) ([]byte, byte)) {
	tb.Helper()
	err := s.write(context.Background(), func(tx *wtx) error {
		for i, p := range payloads {
			data, format := compress(p)
			id, err := tx.nextEventID()
			if err != nil {
				return err
			}
			if _, err := tx.exec(`INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				sess, id, i, abi.KindAssistantMessage, time.Now().UnixNano(), int(format), len(p), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestDictVersion1StoreMigrates opens a store written before dictionaries
// (schema version 1, rows in formats 0 and 1): it migrates, the old rows
// read, and new payloads train and use a dictionary.
func TestDictVersion1StoreMigrates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	c, err := engine.Open(path, engine.Options{JournalMode: "wal", Synchronous: "full", Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(migrations[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(fmt.Sprintf("PRAGMA application_id=%d; PRAGMA user_version=1", applicationID)); err != nil {
		t.Fatal(err)
	}
	old := append(synthLines(4, 10), []byte(`{"tiny":true}`))
	for i, p := range old {
		data, format := compressPayload(p)
		st, _, err := c.Prepare(`INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			t.Fatal(err)
		}
		if err := bindAll(st, "v1", i+1, i, abi.KindAssistantMessage, time.Now().UnixNano(), int(format), len(p), data); err != nil {
			t.Fatal(err)
		}
		if err := st.Exec(); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	s := openDictStore(t, path)
	if v := queryStoreInt(t, s, `PRAGMA user_version`); v != int64(SchemaVersion) || SchemaVersion < 2 {
		t.Fatalf("user_version = %d after open, want %d (>= 2)", v, SchemaVersion)
	}
	checkEvents(t, s, "v1", old)
	lines := synthLines(5, 500)
	appendLines(t, s, "new", lines)
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary on the migrated store: %v", err)
	}
	appendLines(t, s, "new2", lines[:50])
	if n := formatCounts(t, s)[formatZstdDict]; n < 50 {
		t.Errorf("%d dictionary rows, want >= 50", n)
	}
	checkEvents(t, s, "v1", old)
	checkEvents(t, s, "new", lines)
}

// TestDictMissing reads payloads whose dictionary the store does not have:
// a clear error naming the ID.
func TestDictMissing(t *testing.T) {
	// Without a store: internal/zdict's TestDecodeUnknownDict.
	// In a store: the dictionary row is deleted behind its back.
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	lines := synthLines(12, 400)
	appendLines(t, s, "a", lines)
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	appendLines(t, s, "b", lines[:20])
	if err := s.write(context.Background(), func(tx *wtx) error {
		_, err := tx.exec(`DELETE FROM dicts`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openDictStore(t, path)
	if s2.codec.z.Current() != 0 || !s2.codec.z.Sampling() {
		t.Error("store without dictionaries did not go back to sampling")
	}
	if _, err := s2.EventsSince(context.Background(), "b", 0, 0); !errors.Is(err, zdict.ErrUnknownDict) {
		t.Errorf("EventsSince: err = %v, want zdict.ErrUnknownDict", err)
	}
}

// TestDictCorruptRow damages the stored dictionary: the store still opens,
// rows that need the dictionary fail to read with an error, other rows
// read, and appends go on (without that dictionary).
func TestDictCorruptRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	lines := synthLines(13, 400)
	small := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}
	appendLines(t, s, "small", small)
	appendLines(t, s, "a", lines)
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	id := s.codec.z.Current()
	appendLines(t, s, "b", lines[:20])
	for _, tc := range []struct {
		name string
		blob []byte // nil: truncate the stored dictionary
	}{{"garbage", randomBytes(14, 1000)}, {"truncated", nil}} {
		err := s.write(context.Background(), func(tx *wtx) error {
			var err error
			if tc.blob == nil {
				_, err = tx.exec(`UPDATE dicts SET dict = substr(dict, 1, 100)`)
			} else {
				_, err = tx.exec(`UPDATE dicts SET dict = ?`, tc.blob)
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openDictStore(t, path)
		if s.codec.z.Current() != 0 {
			t.Fatalf("%s: a corrupt dictionary is in use", tc.name)
		}
		_, err = s.EventsSince(context.Background(), "b", 0, 0)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("dictionary %d is unusable", id)) {
			t.Errorf("%s: EventsSince: err = %v, want dictionary %d unusable", tc.name, err, id)
		}
		checkEvents(t, s, "small", small)
		sess := abi.SessionID("c-" + tc.name)
		appendLines(t, s, sess, lines[:5])
		checkEvents(t, s, sess, lines[:5])
		// A new dictionary never takes the ID of one the codec knows
		// (internal/zdict's TestNewID).
		if !s.codec.z.Known(id) {
			t.Errorf("%s: the corrupt dictionary %d is not known: a new one could take its ID", tc.name, id)
		}
	}
}

// TestDictNoGain trains on incompressible payloads: no dictionary is
// persisted or used, and payloads keep round-tripping.
func TestDictNoGain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	r := rand.New(rand.NewPCG(15, 0))
	var payloads [][]byte
	for i := range 300 {
		payloads = append(payloads, fmt.Appendf(nil, `{"n":%d,"blob":"%x"}`, i, randomBytes(r.Uint64(), 200+r.IntN(600))))
	}
	appendLines(t, s, "r", payloads)
	err := s.codec.wait()
	if err == nil || s.codec.z.Current() != 0 {
		t.Fatalf("trained a dictionary on random data (err %v)", err)
	}
	t.Logf("training refused: %v", err)
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 0 {
		t.Errorf("%d dictionaries stored", n)
	}
	checkEvents(t, s, "r", payloads)
}

// TestDictConcurrent appends from many goroutines to many sessions while
// the dictionary trains, reads while appending, and checks every payload
// (run it with -race).
func TestDictConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	const goroutines, perG = 16, 40
	if testing.Short() {
		s.codec.z.SetTraining(32<<10, 0)
	}
	all := synthLines(19, goroutines*perG)
	var wg sync.WaitGroup
	var stop atomic.Bool
	for g := range goroutines {
		wg.Go(func() {
			sess := abi.SessionID(fmt.Sprint("s", g%5, "-", g))
			for i := range perG {
				p := all[g*perG+i]
				if _, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: i, Kind: abi.KindToolResult, Payload: p}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for g := range 4 {
		readers.Go(func() {
			for !stop.Load() {
				sess := abi.SessionID(fmt.Sprint("s", g%5, "-", g))
				if _, err := s.EventsSince(context.Background(), sess, 0, 0); err != nil {
					t.Errorf("EventsSince while appending: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	readers.Wait()
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	// A second wave, all with the dictionary, compressed concurrently.
	for g := range goroutines {
		wg.Go(func() {
			sess := abi.SessionID(fmt.Sprint("t-", g))
			for i := range perG / 4 {
				if _, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: i, Kind: abi.KindToolResult, Payload: all[g*perG+i]}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for g := range goroutines {
		checkEvents(t, s, abi.SessionID(fmt.Sprint("s", g%5, "-", g)), all[g*perG:(g+1)*perG])
		checkEvents(t, s, abi.SessionID(fmt.Sprint("t-", g)), all[g*perG:g*perG+perG/4])
	}
	if n := formatCounts(t, s)[formatZstdDict]; n < goroutines*perG/4 {
		t.Errorf("%d dictionary rows, want >= %d", n, goroutines*perG/4)
	}
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 1 {
		t.Errorf("%d dictionaries, want 1", n)
	}
}

// TestDictTrainingAfterClose closes the store while the dictionary trains:
// nothing is written, nothing panics.
func TestDictTrainingAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	lines := synthLines(20, 400)
	for _, l := range lines {
		if _, err := s.Append(context.Background(), abi.EventEnvelope{Session: "a", Kind: abi.KindUserMessage, Payload: l}); err != nil {
			t.Fatal(err)
		}
		if !s.codec.z.Sampling() {
			break // training has started
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err := s.codec.wait()
	if err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("training after Close: %v", err)
	}
	s2 := openDictStore(t, path)
	if n := queryStoreInt(t, s2, `SELECT count(*) FROM dicts`); n > 1 {
		t.Errorf("%d dictionaries", n)
	}
	if err == nil && s2.codec.z.Current() == 0 {
		t.Error("a dictionary was reported stored but is not in use after reopen")
	}
}

// retire runs s.retireDicts(cutoff) in a write transaction, as retention
// does.
func retire(tb testing.TB, s *Store, cutoff time.Time) {
	tb.Helper()
	if err := s.write(context.Background(), func(tx *wtx) error { return s.retireDicts(tx, cutoff.UnixNano()) }); err != nil {
		tb.Fatalf("retireDicts: %v", err)
	}
}

// TestDictRetire retires a dictionary whose samples are older than the
// retention cutoff: the dictionary leaves the table, every row that used
// it reads (re-encoded without it), new payloads are stored without it,
// and the store trains a new one from new payloads.
func TestDictRetire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	old := time.Now().Add(-10 * 24 * time.Hour)
	lines := synthLines(21, 900)
	appendLinesAt(t, s, "old", old, lines[:300])
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	first := s.codec.z.Current()
	if got := queryStoreInt(t, s, `SELECT oldest FROM dicts WHERE id = ?`, int64(first)); got != old.UnixNano() {
		t.Errorf("dicts.oldest = %d, want the first sample's timestamp %d", got, old.UnixNano())
	}
	appendLinesAt(t, s, "old", old.Add(time.Hour), lines[300:400])
	appendLines(t, s, "recent", lines[400:500])
	if n := formatCounts(t, s)[formatZstdDict]; n < 200 {
		t.Fatalf("%d dictionary rows before retirement, want >= 200", n)
	}

	// A cutoff before the oldest sample keeps the dictionary.
	retire(t, s, old.Add(-time.Second))
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 1 || s.codec.z.Current() == 0 {
		t.Fatalf("a young dictionary was retired (%d left)", n)
	}

	retire(t, s, old.Add(24*time.Hour))
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 0 {
		t.Fatalf("%d dictionaries after retirement, want 0", n)
	}
	if n := formatCounts(t, s)[formatZstdDict]; n != 0 {
		t.Fatalf("%d rows still use a retired dictionary", n)
	}
	if s.codec.z.Current() != 0 || !s.codec.z.Sampling() {
		t.Fatal("the codec still uses the retired dictionary or does not sample again")
	}
	checkEvents(t, s, "old", lines[:400])
	checkEvents(t, s, "recent", lines[400:500])

	// New payloads train a new dictionary, with a new ID.
	appendLines(t, s, "new", lines[500:800])
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no new dictionary: %v", err)
	}
	if second := s.codec.z.Current(); second == first {
		t.Errorf("new dictionary reuses ID %d in the same process", first)
	}
	appendLines(t, s, "new", lines[800:])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDictStore(t, path)
	checkEvents(t, s, "old", lines[:400])
	checkEvents(t, s, "recent", lines[400:500])
	checkEvents(t, s, "new", lines[500:])
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 1 {
		t.Errorf("%d dictionaries after reopen, want 1", n)
	}
}

// TestDictRecheck covers a payload compressed with a dictionary that is
// retired before the payload's row is written: the write stores it
// without the dictionary.
func TestDictRecheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	old := time.Now().Add(-48 * time.Hour)
	lines := synthLines(22, 400)
	appendLinesAt(t, s, "old", old, lines[:300])
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	p := lines[300]
	data, format := s.codec.compress(p, time.Now().UnixNano())
	if format != formatZstdDict {
		t.Fatalf("format %d", format)
	}
	if d, f := s.codec.recheck(nil, p, data, format); f != format || !bytes.Equal(d, data) {
		t.Fatal("recheck changed a frame whose dictionary is live")
	}
	retire(t, s, old.Add(time.Hour))
	err := s.write(context.Background(), func(tx *wtx) error {
		data, format := s.codec.recheck(tx, p, data, format) // as Append does
		if format == formatZstdDict {
			return errors.New("recheck kept the retired dictionary")
		}
		id, err := tx.nextEventID()
		if err != nil {
			return err
		}
		_, err = tx.exec(`INSERT INTO events (session, id, turn, kind, ts, format, size, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			"late", id, 0, abi.KindAssistantMessage, time.Now().UnixNano(), int(format), len(p), data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDictStore(t, path)
	checkEvents(t, s, "late", [][]byte{p})
	checkEvents(t, s, "old", lines[:300])
}

// TestDictTrainingExpires covers retention running while a dictionary
// trains on samples older than its cutoff: the dictionary is not stored,
// or not used, and sampling starts again.
func TestDictTrainingExpires(t *testing.T) {
	samples := synthLines(23, 200)
	t.Run("store", func(t *testing.T) {
		// Retention commits between the end of sampling and the insert
		// of the dictionary, before every insert.
		s := openDictStore(t, filepath.Join(t.TempDir(), "sessions.db"))
		cd := &codec{write: s.write}
		cd.z = zdict.NewCodec(zdict.Config{Persist: func(ctx context.Context, d *zdict.Trained) error {
			retire(t, s, time.Unix(0, 1000))
			return cd.persist(ctx, d)
		}})
		s.codec = cd
		err := cd.z.Train(context.Background(), samples, 999)
		if !errors.Is(err, zdict.ErrExpired) {
			t.Fatalf("Train: %v, want zdict.ErrExpired", err)
		}
		if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 0 {
			t.Errorf("%d dictionaries stored", n)
		}
		if cd.z.Current() != 0 {
			t.Error("the expired dictionary is in use")
		}
		if err := cd.z.Train(context.Background(), samples, 1000); err != nil {
			t.Fatalf("Train with samples younger than the cutoff: %v", err)
		}
		cur := cd.z.Current()
		if cur == 0 || queryStoreInt(t, s, `SELECT count(*) FROM dicts WHERE id = ?`, int64(cur)) != 1 {
			t.Errorf("dictionary %d not in use or not stored", cur)
		}
	})
	t.Run("sampled after the retirement", func(t *testing.T) {
		// Events appended with old timestamps after a retirement were not
		// dropped by it, but they are older than the recorded cutoff: a
		// dictionary trained on them is refused (the store cannot tell
		// them from content another Store sampled before the retention),
		// and the store does not sample them. A dictionary of younger
		// samples is stored, and the next retirement takes it.
		s := openDictStore(t, filepath.Join(t.TempDir(), "sessions.db"))
		retire(t, s, time.Unix(0, 1000))
		s.codec.z.StopSampling()
		if err := s.codec.z.Train(context.Background(), samples, 999); !errors.Is(err, zdict.ErrExpired) {
			t.Fatalf("Train with samples older than the recorded cutoff: %v, want zdict.ErrExpired", err)
		}
		if s.codec.z.Current() != 0 || queryStoreInt(t, s, `SELECT count(*) FROM dicts`) != 0 {
			t.Fatal("the refused dictionary is in use or stored")
		}
		if err := s.codec.z.Train(context.Background(), samples, 1000); err != nil {
			t.Fatal(err)
		}
		if s.codec.z.Current() == 0 {
			t.Error("the dictionary is not in use")
		}
		retire(t, s, time.Unix(0, 1001))
		if s.codec.z.Current() != 0 || queryStoreInt(t, s, `SELECT count(*) FROM dicts`) != 0 {
			t.Error("the next retirement kept it")
		}
	})
	// "retired between commit and use": internal/zdict's
	// TestExpireBetweenPersistAndUse.
	t.Run("samples dropped", func(t *testing.T) {
		s := openDictStore(t, filepath.Join(t.TempDir(), "sessions.db"))
		appendLinesAt(t, s, "old", time.Unix(0, 5000), samples[:10])
		retire(t, s, time.Unix(0, 6000))
		if n := s.codec.z.Sampled(); n != 0 {
			t.Errorf("%d expired samples kept", n)
		}
	})
}

// TestDictRetireCorruptRow checks that a damaged row using a retired
// dictionary does not block retention.
func TestDictRetireCorruptRow(t *testing.T) {
	s := openDictStore(t, filepath.Join(t.TempDir(), "sessions.db"))
	old := time.Now().Add(-48 * time.Hour)
	lines := synthLines(24, 400)
	appendLinesAt(t, s, "old", old, lines[:300])
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	ids := appendLines(t, s, "b", lines[300:310])
	if err := s.write(context.Background(), func(tx *wtx) error {
		_, err := tx.exec(`UPDATE events SET payload = substr(payload, 1, length(payload) - 8) WHERE id = ?`, ids[0])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	retire(t, s, old.Add(time.Hour))
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 0 {
		t.Errorf("%d dictionaries left", n)
	}
	evs, err := s.EventsSince(context.Background(), "b", ids[0], 0)
	if err != nil || len(evs) != 9 {
		t.Fatalf("intact rows after retirement: %d, %v", len(evs), err)
	}
	if _, err := s.EventsSince(context.Background(), "b", 0, 1); err == nil {
		t.Error("the damaged row reads without an error")
	}
}

// BenchmarkAppendDict measures what the dictionary costs appends: durable
// appends (encrypted store, WAL, synchronous=full) of real transcript
// lines, from 1 and 16 callers, on a store that has trained its
// dictionary and on one that never trains (formats 0 and 1 only). Both
// append the same lines: those after the ones the dictionary was trained
// on. "x" is sum(size) / sum(length(payload)) of the stored events.
func BenchmarkAppendDict(b *testing.B) {
	lines := transcriptLines(b)
	key := bytes.Repeat([]byte{0x5a}, 32) // a test constant, not a secret
	// Where training stops on these lines.
	probe := newMemCodec()
	n := 0
	for n < len(lines) && probe.z.Sampling() {
		probe.compress(lines[n], 0)
		n++
	}
	probe.wait()
	head, rest := lines[:n], lines[n:]
	for _, callers := range []int{1, 16} {
		for _, mode := range []string{"plain", "dict"} {
			b.Run(fmt.Sprintf("%s/callers=%d", mode, callers), func(b *testing.B) {
				s, err := OpenEncrypted(filepath.Join(b.TempDir(), "sessions.db"), EncryptionAtRest, key)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if mode == "plain" {
					s.codec.z.StopSampling()
				} else {
					now := time.Now().UnixNano()
					for _, l := range head {
						s.codec.compress(l, now)
					}
					if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
						b.Fatalf("no dictionary: %v", err)
					}
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				var raw atomic.Int64
				b.ResetTimer()
				for g := range callers {
					wg.Go(func() {
						sess := abi.SessionID(fmt.Sprint("bench-", g))
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							p := rest[int(i)%len(rest)]
							raw.Add(int64(len(p)))
							if _, err := s.Append(context.Background(), abi.EventEnvelope{Session: sess, Turn: int(i), Kind: abi.KindToolResult, Payload: p}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(float64(raw.Load())/b.Elapsed().Seconds()/1e6, "MB/s")
				size := queryStoreInt(b, s, `SELECT sum(size) FROM events`)
				stored := queryStoreInt(b, s, `SELECT sum(length(payload)) FROM events`)
				b.ReportMetric(float64(size)/float64(stored), "x")
			})
		}
	}
}

// TestDictIDCollision forces two Stores on one file to train under the
// same dictionary ID (the second opened before the first trained, so it
// does not know the ID is used): each dictionary's ID is allocated inside
// the transaction that inserts it, so the second insert neither fails nor
// overwrites the first row, and every row of both reads.
func TestDictIDCollision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	a, b := openDictStore(t, path), openDictStore(t, path)
	for _, s := range []*Store{a, b} {
		s.codec = newDBCodec(s.write, zdict.Config{TrainBytes: testTrainBytes, TrainSamples: testTrainSamples,
			RandID: func() uint32 { return 40000 }}) // the colliding draw
	}
	lines := synthLines(33, 900)
	appendLines(t, a, "a", lines[:300])
	if err := a.codec.wait(); err != nil || a.codec.z.Current() != zdict.MinID {
		t.Fatalf("first Store: dictionary %d, %v; want %d", a.codec.z.Current(), err, zdict.MinID)
	}
	stored := queryStoreInt(t, a, `SELECT created FROM dicts WHERE id = ?`, zdict.MinID)
	// Exactly one training: a failed insert would leave b without a
	// dictionary, sampling again.
	nb := 300
	for b.codec.z.Sampling() && nb < 600 {
		appendLines(t, b, "b", lines[nb:nb+1])
		nb++
	}
	if err := b.codec.wait(); err != nil {
		t.Fatalf("second Store: training: %v", err)
	}
	appendLines(t, b, "b", lines[nb:600])
	if got := b.codec.z.Current(); got != zdict.MinID+1 {
		t.Fatalf("second Store uses dictionary %d, want %d", got, zdict.MinID+1)
	}
	if n := queryStoreInt(t, a, `SELECT count(*) FROM dicts`); n != 2 {
		t.Fatalf("%d dictionaries stored, want 2", n)
	}
	if got := queryStoreInt(t, a, `SELECT created FROM dicts WHERE id = ?`, zdict.MinID); got != stored {
		t.Fatal("the first dictionary's row was replaced")
	}
	appendLines(t, a, "a", lines[600:750])
	appendLines(t, b, "b", lines[750:])
	counts := formatCounts(t, a)
	if counts[formatZstdDict] < 300 {
		t.Errorf("formats %v: want >= 300 dictionary rows", counts)
	}
	// Each Store reads the other's rows; so does a fresh one.
	for _, s := range []*Store{a, b, openDictStore(t, path)} {
		checkEvents(t, s, "a", append(append([][]byte{}, lines[:300]...), lines[600:750]...))
		checkEvents(t, s, "b", append(append([][]byte{}, lines[300:600]...), lines[750:]...))
	}
}

// TestDictIDNeverReused retires a store's dictionary, so that its row is
// gone, and trains again from a Store that never knew it, made to draw
// the retired ID: the new dictionary gets another one. A Store that still
// held the retired dictionary (as one that has not noticed the
// retirement does) could otherwise take the new dictionary's row for its
// own in recheck, and store rows that no one else can read.
func TestDictIDNeverReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	old := time.Now().Add(-48 * time.Hour)
	lines := synthLines(34, 700)
	appendLinesAt(t, s, "old", old, lines[:300])
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no dictionary: %v", err)
	}
	first := s.codec.z.Current()
	retire(t, s, old.Add(time.Hour))
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 0 {
		t.Fatalf("%d dictionaries after retirement", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDictStore(t, path)
	s.codec = newDBCodec(s.write, zdict.Config{TrainBytes: testTrainBytes, TrainSamples: testTrainSamples,
		RandID: func() uint32 { return first }})
	appendLines(t, s, "new", lines[300:600])
	if err := s.codec.wait(); err != nil || s.codec.z.Current() == 0 {
		t.Fatalf("no new dictionary: %v", err)
	}
	if second := s.codec.z.Current(); second == first {
		t.Fatalf("the retired ID %d was allocated again", first)
	}
	appendLines(t, s, "new", lines[600:])
	checkEvents(t, s, "old", lines[:300])
	checkEvents(t, s, "new", lines[300:])
}
