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

	"github.com/klauspost/compress/zstd"

	"github.com/gofastr/store/abi"
	"github.com/gofastr/store/internal/engine"
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
	s.codec.trainBytes, s.codec.trainSamples = testTrainBytes, testTrainSamples
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
	var h zstd.Header
	if err := h.Decode(data); err != nil {
		tb.Fatalf("frame header: %v", err)
	}
	return h.DictionaryID
}

// trainedCodec returns an in-memory codec trained on synthetic lines.
func trainedCodec(tb testing.TB, seed uint64) *codec {
	tb.Helper()
	c := newMemCodec()
	c.trainBytes = testTrainBytes
	for _, l := range synthLines(seed, 1000) {
		c.compress(l, 0)
		if !c.collecting.Load() {
			break
		}
	}
	if err := c.wait(); err != nil {
		tb.Fatalf("training: %v", err)
	}
	if c.cur.Load() == nil {
		tb.Fatal("no dictionary after training")
	}
	return c
}

// TestDictTrainedPersistedReopened is the life of a store's dictionary:
// payloads before it are stored in formats 0 and 1, training starts once
// enough is sampled, the dictionary is persisted, later payloads use it,
// and after a reopen every row still reads and new payloads keep using
// the same dictionary.
func TestDictTrainedPersistedReopened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	if s.codec.cur.Load() != nil || !s.codec.collecting.Load() {
		t.Fatal("a new store has a dictionary or is not sampling")
	}
	lines := synthLines(1, 900)
	small := []byte(`{"text":"short"}`)
	before := append([][]byte{small}, lines[:300]...)
	appendLines(t, s, "a", before)
	if err := s.codec.wait(); err != nil {
		t.Fatalf("training: %v", err)
	}
	cur := s.codec.cur.Load()
	if cur == nil {
		t.Fatalf("no dictionary after %d sampled bytes", testTrainBytes)
	}
	if cur.id < dictMinID || cur.id > dictMaxID {
		t.Errorf("dictionary ID %d outside [%d, %d]", cur.id, dictMinID, dictMaxID)
	}
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts WHERE id = ? AND created > 0 AND length(dict) > 0`, int64(cur.id)); n != 1 {
		t.Fatalf("dicts table has %d rows for dictionary %d, want 1", n, cur.id)
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
	cur2 := s2.codec.cur.Load()
	if cur2 == nil || cur2.id != cur.id {
		t.Fatalf("reopened store does not use dictionary %d: %+v", cur.id, cur2)
	}
	if s2.codec.collecting.Load() {
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
			if id := frameDictID(t, st.ColumnRawBlob(1)); id != cur.id {
				return fmt.Errorf("frame names dictionary %d, want %d", id, cur.id)
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
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
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
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
		t.Fatalf("no dictionary on the migrated store: %v", err)
	}
	appendLines(t, s, "new2", lines[:50])
	if n := formatCounts(t, s)[formatZstdDict]; n < 50 {
		t.Errorf("%d dictionary rows, want >= 50", n)
	}
	checkEvents(t, s, "v1", old)
	checkEvents(t, s, "new", lines)
}

// TestDictCorruptPayload feeds damaged dictionary frames to the decoder:
// each is an error, never a panic or a wrong payload.
func TestDictCorruptPayload(t *testing.T) {
	c := trainedCodec(t, 6)
	in := synthLines(7, 1)[0]
	data, format := c.compress(in, 0)
	if format != formatZstdDict {
		t.Fatalf("format = %d, want formatZstdDict", format)
	}
	if got, err := c.decompress(data, format); err != nil || !bytes.Equal(got, in) {
		t.Fatalf("round trip: %v", err)
	}
	plainFrame, plainFormat := compressPayload(in)
	if plainFormat != formatZstd {
		t.Fatalf("plain format = %d", plainFormat)
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x40
	badCRC := bytes.Clone(data)
	badCRC[len(badCRC)-1] ^= 0x01
	for name, bad := range map[string][]byte{
		"empty":                 nil,
		"one byte":              {0x28},
		"magic only":            data[:4],
		"header only":           data[:8],
		"garbage":               randomBytes(8, 300),
		"truncated":             data[:len(data)/2],
		"flipped bit":           flipped,
		"bad checksum":          badCRC,
		"raw bytes tagged dict": in,
		"frame without dict":    plainFrame,
	} {
		got, err := c.decompress(bad, formatZstdDict)
		if err == nil {
			t.Errorf("%s: decompress = %d bytes, nil error; want an error", name, len(got))
		} else if got != nil {
			t.Errorf("%s: returned %d bytes with the error", name, len(got))
		}
	}
	// Every single-byte change: an error or the original payload, no
	// panic.
	for i := range data {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[i] ^= mask
			if got, err := c.decompress(bad, formatZstdDict); err == nil && !bytes.Equal(got, in) {
				t.Fatalf("byte %d ^ %#x: decoded to a different payload without an error", i, mask)
			}
		}
	}
}

// TestDictMissing reads payloads whose dictionary the store does not have:
// a clear error naming the ID.
func TestDictMissing(t *testing.T) {
	a := trainedCodec(t, 9)
	in := synthLines(10, 1)[0]
	data, _ := a.compress(in, 0)
	id := a.cur.Load().id

	other := newMemCodec()
	other.collecting.Store(false)
	if err := other.trainNow(id^1, synthLines(11, 300), 0, 0); err != nil || other.cur.Load() == nil {
		t.Fatalf("second dictionary: %v", err)
	}
	for name, c := range map[string]*codec{"no dictionary": newMemCodec(), "another dictionary": other, "nil codec": nil} {
		_, err := c.decompress(data, formatZstdDict)
		if !errors.Is(err, errUnknownDict) || !strings.Contains(err.Error(), fmt.Sprint(id)) {
			t.Errorf("%s: err = %v, want errUnknownDict naming ID %d", name, err, id)
		}
	}

	// In a store: the dictionary row is deleted behind its back.
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	lines := synthLines(12, 400)
	appendLines(t, s, "a", lines)
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
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
	if s2.codec.cur.Load() != nil || !s2.codec.collecting.Load() {
		t.Error("store without dictionaries did not go back to sampling")
	}
	if _, err := s2.EventsSince(context.Background(), "b", 0, 0); !errors.Is(err, errUnknownDict) {
		t.Errorf("EventsSince: err = %v, want errUnknownDict", err)
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
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
		t.Fatalf("no dictionary: %v", err)
	}
	id := s.codec.cur.Load().id
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
		if s.codec.cur.Load() != nil {
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
		s.codec.mu.Lock()
		if s.codec.newID() == id {
			t.Errorf("%s: newID returned the corrupt dictionary's ID", tc.name)
		}
		s.codec.mu.Unlock()
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
	if err == nil || s.codec.cur.Load() != nil {
		t.Fatalf("trained a dictionary on random data (err %v)", err)
	}
	t.Logf("training refused: %v", err)
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 0 {
		t.Errorf("%d dictionaries stored", n)
	}
	checkEvents(t, s, "r", payloads)
}

// TestDictIDs checks the IDs a codec picks: in the two-byte user range and
// distinct from the ones it has.
func TestDictIDs(t *testing.T) {
	c := newMemCodec()
	m := map[uint32]*dictCoder{}
	c.dicts.Store(&m)
	for range 2000 {
		c.mu.Lock()
		id := c.newID()
		c.mu.Unlock()
		if id < dictMinID || id > dictMaxID {
			t.Fatalf("ID %d outside [%d, %d]", id, dictMinID, dictMaxID)
		}
		if _, dup := m[id]; dup {
			t.Fatalf("ID %d picked twice", id)
		}
		m[id] = &dictCoder{id: id}
	}
}

// TestDictFrameNamesDict checks the frame header: it names the
// dictionary, in two bytes.
func TestDictFrameNamesDict(t *testing.T) {
	c := trainedCodec(t, 16)
	in := synthLines(17, 1)[0]
	data, format := c.compress(in, 0)
	if format != formatZstdDict {
		t.Fatalf("format = %d", format)
	}
	var h zstd.Header
	if err := h.Decode(data); err != nil {
		t.Fatal(err)
	}
	if h.DictionaryID != c.cur.Load().id || !h.HasCheckSum {
		t.Errorf("header: dictionary %d (want %d), checksum %v", h.DictionaryID, c.cur.Load().id, h.HasCheckSum)
	}
	if fhd := data[4]; fhd&3 != 2 {
		t.Errorf("dictionary ID field flag %d, want 2 (two bytes)", fhd&3)
	}
	// Small, too large and incompressible payloads stay raw, as without a
	// dictionary.
	for name, p := range map[string][]byte{
		"small":          []byte(`{"a":1}`),
		"incompressible": randomBytes(18, 4096),
		"too large":      make([]byte, maxPayloadSize+1),
	} {
		if _, f := c.compress(p, 0); f != formatRaw {
			t.Errorf("%s: format %d, want raw", name, f)
		}
	}
}

// TestDictConcurrent appends from many goroutines to many sessions while
// the dictionary trains, reads while appending, and checks every payload
// (run it with -race).
func TestDictConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := openDictStore(t, path)
	const goroutines, perG = 16, 40
	if testing.Short() {
		s.codec.trainBytes = 32 << 10
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
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
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
		if !s.codec.collecting.Load() {
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
	if err == nil && s2.codec.cur.Load() == nil {
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
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
		t.Fatalf("no dictionary: %v", err)
	}
	first := s.codec.cur.Load().id
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
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 1 || s.codec.cur.Load() == nil {
		t.Fatalf("a young dictionary was retired (%d left)", n)
	}

	retire(t, s, old.Add(24*time.Hour))
	if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 0 {
		t.Fatalf("%d dictionaries after retirement, want 0", n)
	}
	if n := formatCounts(t, s)[formatZstdDict]; n != 0 {
		t.Fatalf("%d rows still use a retired dictionary", n)
	}
	if s.codec.cur.Load() != nil || !s.codec.collecting.Load() {
		t.Fatal("the codec still uses the retired dictionary or does not sample again")
	}
	checkEvents(t, s, "old", lines[:400])
	checkEvents(t, s, "recent", lines[400:500])

	// New payloads train a new dictionary, with a new ID.
	appendLines(t, s, "new", lines[500:800])
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
		t.Fatalf("no new dictionary: %v", err)
	}
	if second := s.codec.cur.Load().id; second == first {
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
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
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
		s := openDictStore(t, filepath.Join(t.TempDir(), "sessions.db"))
		s.codec.collecting.Store(false) // as when training starts
		before := s.codec.epoch
		retire(t, s, time.Unix(0, 1000))
		err := s.codec.trainNow(40000, samples, 999, before)
		if !errors.Is(err, errDictExpired) {
			t.Fatalf("trainNow: %v, want errDictExpired", err)
		}
		if n := queryStoreInt(t, s, `SELECT count(*) FROM dicts`); n != 0 {
			t.Errorf("%d dictionaries stored", n)
		}
		if err := s.codec.trainNow(40001, samples, 1000, before); err != nil {
			t.Fatalf("trainNow with samples younger than the cutoff: %v", err)
		}
		if cur := s.codec.cur.Load(); cur == nil || cur.id != 40001 {
			t.Errorf("dictionary 40001 not in use: %+v", cur)
		}
	})
	t.Run("sampled after the retirement", func(t *testing.T) {
		// Events appended with old timestamps after a retirement were not
		// dropped by it: their dictionary is fine (the next retirement
		// takes it).
		s := openDictStore(t, filepath.Join(t.TempDir(), "sessions.db"))
		retire(t, s, time.Unix(0, 1000))
		s.codec.collecting.Store(false)
		if err := s.codec.trainNow(40003, samples, 999, s.codec.epoch); err != nil {
			t.Fatal(err)
		}
		if cur := s.codec.cur.Load(); cur == nil || cur.id != 40003 {
			t.Errorf("dictionary 40003 not in use: %+v", cur)
		}
		retire(t, s, time.Unix(0, 1000))
		if s.codec.cur.Load() != nil || queryStoreInt(t, s, `SELECT count(*) FROM dicts`) != 0 {
			t.Error("the next retirement kept it")
		}
	})
	t.Run("retired between commit and use", func(t *testing.T) {
		c := newMemCodec()
		c.cutoff, c.epoch = 1000, 1
		c.collecting.Store(false)
		if err := c.trainNow(40002, samples, 999, 0); err != nil {
			t.Fatal(err)
		}
		if c.cur.Load() != nil || !c.collecting.Load() {
			t.Error("an expired dictionary is in use, or sampling did not restart")
		}
		if dc := (*c.dicts.Load())[40002]; dc == nil || !dc.retired.Load() || dc.enc != nil {
			t.Error("the expired dictionary is not kept for decoding only")
		}
	})
	t.Run("samples dropped", func(t *testing.T) {
		s := openDictStore(t, filepath.Join(t.TempDir(), "sessions.db"))
		appendLinesAt(t, s, "old", time.Unix(0, 5000), samples[:10])
		retire(t, s, time.Unix(0, 6000))
		s.codec.mu.Lock()
		n := len(s.codec.samples)
		s.codec.mu.Unlock()
		if n != 0 {
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
	if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
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
	for n < len(lines) && probe.collecting.Load() {
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
					s.codec.collecting.Store(false)
				} else {
					now := time.Now().UnixNano()
					for _, l := range head {
						s.codec.compress(l, now)
					}
					if err := s.codec.wait(); err != nil || s.codec.cur.Load() == nil {
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
